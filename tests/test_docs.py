"""The documentation site builds warning-free, with every notebook page and its figures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """``make docs``' build (warnings are errors) into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", str(out / ".doctrees"),
         str(ROOT / "docs"), str(out / "html")],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not proc.stderr.strip(), proc.stderr[-4000:]  # not even warnings that -W lets through
    return out / "html"


def _image_outputs(notebook: Path) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return sum(any(kind in output.get("data", {}) for kind in ("image/png", "image/jpeg"))
               for cell in cells for output in cell.get("outputs", []))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem[:2])
def test_every_notebook_page_has_its_figures_and_colab_button(site, notebook):
    page = site / "notebooks" / f"{notebook.stem}.html"
    assert page.is_file(), f"no page for {notebook.name}"
    html = page.read_text()
    images = re.findall(r'<img[^>]*src="(\.\./_images/[^"]+)"', html)
    assert len(images) == _image_outputs(notebook) > 0, notebook.name
    for src in images:
        assert (page.parent / src).resolve().stat().st_size > 1000, src
    assert f"colab.research.google.com/github/baryir/baryir/blob/main/notebooks/{notebook.name}" in html


def test_landing_page_is_the_readme_notebook_table(site):
    html = (site / "index.html").read_text()
    for notebook in NOTEBOOKS:
        assert f'href="notebooks/{notebook.stem}.html"' in html, notebook.name
    assert "what you learn" in html and "quick mode" in html


def test_api_reference_renders_docstrings_and_equations(site):
    html = (site / "api.html").read_text()
    for name in ("baryir.barycenter.map_objective", "baryir.config.load_config", "baryir.train.Trainer",
                 "baryir.loggers.build_logger", "baryir.models.build_model"):
        assert f'id="{name}"' in html, name
    assert 'class="math notranslate nohighlight"' in html  # the dual and the maximin (eq. 6-12)
