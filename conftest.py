"""Test configuration shared by the package tests and the notebooks.

Every notebook reads the quick-mode switch ``BARYIR_QUICK`` in its parameters
cell. Setting it here, before any kernel starts, makes ``pytest`` execute the
notebooks in quick mode without the user setting anything. Kernels inherit the
environment of the pytest process (and of each pytest-xdist worker).

The notebooks' cells are marked ``slow`` here (nbval collects them); so are the
long package tests, in their files. ``pytest -m "not slow"`` is the fast inner loop.
"""

import os

import pytest

os.environ.setdefault("BARYIR_QUICK", "1")
os.environ.setdefault("BARYIR_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    """Mark every notebook cell ``slow``: ``pytest -m "not slow"`` skips the notebooks."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
