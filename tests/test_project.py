"""Project-level consistency: packaging, environment file, CI script and README agree."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pip_section(environment: dict) -> list[str]:
    for dep in environment["dependencies"]:
        if isinstance(dep, dict) and "pip" in dep:
            return dep["pip"]
    raise AssertionError("environment.yml has no pip section")


def test_environment_installs_this_package_with_dev_extras(pyproject, environment):
    requirements = _pip_section(environment)
    installs = [r for r in requirements if re.fullmatch(r'(-e\s+)?"?\.\[([\w,]+)\]"?', r)]
    assert installs, f"environment.yml's pip section does not install the project: {requirements}"
    extras = re.search(r"\[([\w,]+)\]", installs[0]).group(1).split(",")
    assert "dev" in extras
    declared = pyproject["project"]["optional-dependencies"]
    assert set(extras) <= set(declared), f"extras {extras} not all declared in pyproject {sorted(declared)}"


def test_environment_python_floor_matches_pyproject(pyproject, environment):
    floor = pyproject["project"]["requires-python"].removeprefix(">=")
    pythons = [d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert pythons == [f"python>={floor}"]


def test_dependencies_are_floors_not_pins(pyproject):
    deps = list(pyproject["project"]["dependencies"])
    for extra in pyproject["project"]["optional-dependencies"].values():
        deps += [d for d in extra if not d.startswith("baryir")]
    pinned = [d for d in deps if "==" in d or "<" in d]
    assert not pinned, f"pin only lower bounds (pins break notebooks on Colab): {pinned}"
    for core in ("torch", "numpy", "pot", "matplotlib", "tqdm"):
        assert any(d.lower().startswith(core) for d in deps), f"missing core dependency {core}"


def test_dev_extra_includes_notebook_extra_and_test_tools(pyproject):
    dev = pyproject["project"]["optional-dependencies"]["dev"]
    names = {re.split(r"[<>=\[ ]", d)[0] for d in dev}
    assert {"pytest", "nbval", "pytest-xdist"} <= names
    assert "baryir[notebooks]" in dev


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "python -m pytest"
    assert command in readme, "README must give the test command"
    ci_commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert ci_commands[-1] == command, "the last step of .ci/run must be the README's test command"
    assert "torch==2.13.0" in ci, ".ci/run must install the CPU build of torch first"
    assert '".[dev]"' in ci


def test_every_notebook_is_in_the_readme_and_uses_python3_kernel():
    import json

    readme = (ROOT / "README.md").read_text()
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    for path in notebooks:
        assert path.name in readme, f"{path.name} is not listed in the README"
        meta = json.loads(path.read_text())["metadata"]
        assert meta["kernelspec"]["name"] == "python3", f"{path.name}: kernelspec must be python3 (nbval)"


def _tracked_text_files() -> list[Path]:
    """Files under version control (all files outside .git when git is unavailable)."""
    import subprocess

    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        paths = [ROOT / name for name in listed.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for p in ROOT.rglob("*") if ".git" not in p.parts]
    return [p for p in paths if p.is_file() and p.suffix not in {".png", ".jpg", ".jpeg", ".pt", ".npz"}]


# Built from pieces so that this file does not match itself.
UNFOLLOWABLE = re.compile("|".join([r"DESIGN" + r"\.md", r"ANCHORS" + r"\.md", r"\b[Ii]ssue" + r" #?\d+",
                                    r"performance" + r" issue"]))


def test_no_file_points_to_documents_or_work_items_a_reader_cannot_follow():
    hits = []
    for path in _tracked_text_files():
        text = path.read_text(errors="ignore")
        for number, line in enumerate(text.splitlines(), 1):
            if UNFOLLOWABLE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not hits, "cite the paper, a public repository or a URL instead:\n" + "\n".join(hits)


def test_widget_cells_are_committed_without_output():
    """A code host shows a widget's output as raw `interactive(children=...` text: commit none."""
    import json

    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                text = "".join(data.get("text/plain", ""))
                assert "application/vnd.jupyter.widget-view+json" not in data and not text.startswith("interactive("), \
                    f"{path.name}, cell {index}: clear the widget's output before committing"
