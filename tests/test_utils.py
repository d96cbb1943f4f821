"""Runtime helpers: quick-mode switch, threads, seeding, device resolution, CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from baryir import __version__, cli, utils
from baryir.errors import BaryIRError, DeviceError


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("true", True), ("YES", True), ("0", False), ("", False), ("no", False)]
)
def test_quick_mode_reads_environment(monkeypatch, value, expected):
    monkeypatch.setenv("BARYIR_QUICK", value)
    assert utils.quick_mode() is expected


def test_quick_mode_default_when_unset(monkeypatch):
    monkeypatch.delenv("BARYIR_QUICK", raising=False)
    assert utils.quick_mode() is False
    assert utils.quick_mode(default=True) is True


def test_configure_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("BARYIR_THREADS", "1")
        assert utils.configure_threads() == 1 and torch.get_num_threads() == 1
        with pytest.raises(ValueError, match=">= 1"):
            utils.configure_threads(0)
    finally:
        torch.set_num_threads(before)


def test_seed_everything_is_reproducible():
    utils.seed_everything(3)
    first = (np.random.rand(3), torch.rand(3))
    utils.seed_everything(3)
    second = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_get_device_auto_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert utils.get_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert utils.get_device("auto") == torch.device("cpu")
    assert utils.get_device("cpu") == torch.device("cpu")


def test_get_device_rejects_what_this_machine_lacks(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="CUDA is not available"):
        utils.get_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert utils.get_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match="only 2 GPU"):
        utils.get_device("cuda:2")
    with pytest.raises(DeviceError, match="not a device"):
        utils.get_device("gpu")
    assert issubclass(DeviceError, BaryIRError)  # the CLI reports it in one line


def test_cli_version_and_help():
    out = subprocess.run([sys.executable, "-m", "baryir", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout
    assert cli.main([]) == 2  # no command: help and a usage exit code
