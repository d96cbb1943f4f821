"""Test configuration shared by the package tests and the notebooks.

Every notebook reads the quick-mode switch ``BARYIR_QUICK`` in its parameters
cell. Setting it here, before any kernel starts, makes ``pytest`` execute the
notebooks in quick mode without the user setting anything. Kernels inherit the
environment of the pytest process (and of each pytest-xdist worker).
"""

import os

os.environ.setdefault("BARYIR_QUICK", "1")
os.environ.setdefault("BARYIR_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
