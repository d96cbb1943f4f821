"""Fixtures shared by the package tests (the notebooks' configuration is in ../conftest.py)."""

import pytest

from baryir.data import build_demo_benchmark


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """A 48 px demo benchmark, built once per test module (modules may define their own)."""
    return build_demo_benchmark(tmp_path_factory.mktemp("demo") / "bench", seed=0, size=48)
