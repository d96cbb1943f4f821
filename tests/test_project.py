"""Project-level consistency: packaging, environment file, CI script and README agree."""

from __future__ import annotations

import os
import re
import subprocess
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
    pinned = [d for d in deps if "==" in d.split(";")[0] or "<" in d.split(";")[0]]  # markers may compare
    assert not pinned, f"pin only lower bounds (pins break notebooks on Colab): {pinned}"
    for core in ("torch", "numpy", "pot", "matplotlib", "tqdm"):
        assert any(d.lower().startswith(core) for d in deps), f"missing core dependency {core}"


def test_dev_extra_includes_notebook_extra_and_test_tools(pyproject):
    dev = pyproject["project"]["optional-dependencies"]["dev"]
    names = {re.split(r"[<>=\[ ]", d)[0] for d in dev}
    assert {"pytest", "nbval", "pytest-xdist", "ruff"} <= names
    own = [d for d in dev if d.startswith("baryir[")]
    assert len(own) == 1 and {"notebooks", "tensorboard", "docs"} <= set(own[0][7:-1].split(","))
    assert "tomli" in names  # tomllib's backport: this file's tests on Python 3.10


def _commands(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _make_recipe(target: str) -> list[str]:
    """The recipe lines of ``target`` in the Makefile."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_readme_quick_start_leads_with_make_lab_and_make_test():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    first_block = quick_start.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.split("#")[0].strip()]
    assert commands[-2:] == ["make lab", "make test"], commands
    assert "pip install" in quick_start and "environment.yml" in quick_start  # the manual routes stay


def test_make_targets_set_up_the_environment_then_run_the_job():
    makefile = (ROOT / "Makefile").read_text()
    assert _make_recipe("test") == ["$(BIN)/python -m pytest $(PYTEST_ARGS)"]
    assert _make_recipe("lab") == ["$(BIN)/jupyter lab notebooks/ $(AS_ROOT) $(LAB_ARGS)"]
    assert "lab: $(STAMP)" in makefile and "test: $(STAMP)" in makefile  # both after the same set-up
    setup = "\n".join(_make_recipe("$(STAMP)"))
    assert "https://download.pytorch.org/whl/cpu" in makefile and "nvidia-smi" in makefile  # CPU torch
    assert '-e ".[$(EXTRAS)]"' in setup and "EXTRAS ?= dev" in makefile
    assert "$(STAMP): pyproject.toml" in makefile  # set up again only when the dependencies change


def test_ci_and_the_workflow_run_the_readme_test_target():
    ci = _commands((ROOT / ".ci" / "run").read_text())
    assert ci[-1].startswith("make test "), "the last step of .ci/run must be the README's `make test`"
    assert "TORCH=\"torch==2.13.0\"" in ci[-1], ".ci/run must pin the CPU build of torch available here"
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    test_job = workflow["jobs"]["test"]
    runs = [step["run"] for step in test_job["steps"] if "run" in step]
    assert runs[0].split()[:2] == ["make", "test"]
    assert test_job["strategy"]["matrix"]["python"] == ["3.10", "3.13"]
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"].removeprefix(">=")
    assert test_job["strategy"]["matrix"]["python"][0] == floor
    setup = next(step for step in test_job["steps"] if step.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    assert any("make docs" in step.get("run", "") for step in workflow["jobs"]["docs"]["steps"])
    assert any(step.get("uses", "").startswith("actions/deploy-pages") for step in workflow["jobs"]["pages"]["steps"])


def test_citation_names_the_paper_and_this_version(pyproject):
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["version"] == pyproject["project"]["version"]
    paper = citation["preferred-citation"]
    assert paper["title"].startswith("Learning Multi-Source Unified Representation in Continuous Barycenter Space")
    assert [a["family-names"] for a in paper["authors"]] == ["Tang", "He", "Gu", "Sun"]
    assert citation["repository-code"] == pyproject["project"]["urls"]["Source"]


def test_configs_are_package_data(pyproject):
    assert not (ROOT / "configs").exists(), "configs live in baryir/configs/ (installed with the package)"
    assert pyproject["tool"]["setuptools"]["package-data"]["baryir"] == [
        "configs/*.yaml", "weights/*.pt", "weights/*.json"]
    assert sorted(p.stem for p in (ROOT / "baryir" / "configs").glob("*.yaml")) == [
        "aio3", "aio5", "demo", "pretrain-demo", "pretrain-demo-finetune", "pretrain-demo-online"]


@pytest.mark.slow
def test_non_editable_install_reads_packaged_configs_from_any_directory(tmp_path):
    """pip install (not editable) into a folder, then use the configs from elsewhere."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=600)
    assert sorted(p.name for p in (target / "baryir" / "configs").iterdir()) == [
        "aio3.yaml", "aio5.yaml", "demo.yaml", "pretrain-demo-finetune.yaml", "pretrain-demo-online.yaml",
        "pretrain-demo.yaml"]
    shipped = {p.name for p in (target / "baryir" / "weights").iterdir()}
    assert {"manifest.json", "demo-small.pt", "demo-small.history.json"} <= shipped
    env = {**os.environ, "PYTHONPATH": str(target)}
    shown = subprocess.run([sys.executable, "-m", "baryir", "config", "show", "aio3"], cwd=tmp_path, env=env,
                           check=True, capture_output=True, text=True)
    assert shown.stdout == (ROOT / "baryir" / "configs" / "aio3.yaml").read_text()
    where = subprocess.run([sys.executable, "-c", "import baryir; print(baryir.__file__)"], cwd=tmp_path, env=env,
                           check=True, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(target)  # the installed copy, not the checkout


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
                                    r"\b(the|this|that|an?) [\w-]+ " + r"issue\b", r"issues? " + r"\d+"]))


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


def test_recipe_photographs_are_credited_and_the_stage_3_config_uses_them():
    """Every photograph that scripts/debian_photos.sh fetches has a row in data/LICENSES.md
    with a licence the recipe allows, and the script's commands are the config's."""
    script = (ROOT / "scripts" / "debian_photos.sh").read_text()
    names = re.findall(r"^[0-9a-f]{64}  (\S+)$", script, flags=re.MULTILINE)
    assert len(names) == 9
    licences = (ROOT / "data" / "LICENSES.md").read_text()
    for name in names:
        row = next(line for line in licences.splitlines() if line.startswith(f"| `{name}` |"))
        assert row.rstrip(" |").endswith(("CC BY 4.0", "CC0 1.0")), row
    config = (ROOT / "baryir" / "configs" / "pretrain-demo-online.yaml").read_text()
    assert "bash scripts/debian_photos.sh data/debian_photos" in config
    assert "--extra-train data/debian_photos" in config and "root: data/pretrain_benchmark_extra" in config
