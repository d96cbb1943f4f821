"""Sphinx configuration of the baryir site: the notebooks as committed (never
executed here) and the API reference from the package's numpydoc docstrings.

Build with ``make docs`` (or ``python -m sphinx -W -b html docs docs/_build/html``).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def copy_notebooks(source: Path, target: Path) -> None:
    """Mirror ``source/*.ipynb`` into ``target`` (Sphinx reads sources only below docs/;
    a symbolic link would resolve outside it and break the README's links)."""
    target.mkdir(exist_ok=True)
    wanted = {path.name: path.read_bytes() for path in source.glob("*.ipynb")}
    for stale in target.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for name, content in wanted.items():
        copy = target / name
        if not copy.is_file() or copy.read_bytes() != content:
            partial = copy.with_suffix(".partial")
            partial.write_bytes(content)
            partial.replace(copy)  # atomic: a concurrent build never reads half a file


copy_notebooks(ROOT / "notebooks", Path(__file__).resolve().parent / "notebooks")

import baryir  # noqa: E402  (after the path, so a source checkout documents itself)

project = "baryir"
author = "baryir contributors"
copyright = "baryir contributors"  # noqa: A001 (Sphinx's name)
release = version = baryir.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]

exclude_patterns = ["_build", "**/.ipynb_checkpoints"]

# Notebooks: render the committed outputs, never execute (they run under nbval in the tests).
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# API reference
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections give types with shapes
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = f"baryir {release}"
html_static_path = []
