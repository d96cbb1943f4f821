"""Figures shared by the notebooks and the CLI.

Each function draws on matplotlib axes (created when not given) and returns the
figure, so notebooks end their cells with ``plt.show()`` and the CLI saves it.
Sections follow the notebook sequence.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

# --- 01: OT and barycenters with POT -------------------------------------------

# --- 02: neural barycenter solver ----------------------------------------------

# --- 03: MLOT costs ------------------------------------------------------------

# --- 04: model and degradations ------------------------------------------------

# --- 05: training --------------------------------------------------------------

# --- 06/07: evaluation ---------------------------------------------------------
