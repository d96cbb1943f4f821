"""The launch templates in scripts/: valid bash, and the commands they run (with stub programs)."""

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").iterdir())

STUBS = {
    "baryir": 'echo "baryir $*" >> "$STUB_LOG"',
    "torchrun": 'echo "torchrun $*" >> "$STUB_LOG"',
    "srun": 'exec "$@"',
    "nvidia-smi": 'i=0; while [ "$i" -lt "${STUB_GPUS:-0}" ]; do echo "GPU $i: stub"; i=$((i+1)); done; '
                  '[ "${STUB_GPUS:-0}" -gt 0 ]',
}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_is_valid_bash(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def env(tmp_path):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, body in STUBS.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") and k != "GPUS"}
    return {**clean, "PATH": f"{stubs}:{os.environ['PATH']}", "STUB_LOG": str(tmp_path / "calls.log")}


def _calls(env, expected: int) -> list[str]:
    log = Path(env["STUB_LOG"])
    for _ in range(100):  # train_long.sh starts the command in the background
        if log.exists() and len(log.read_text().splitlines()) >= expected:
            break
        time.sleep(0.05)
    return log.read_text().splitlines()


def test_train_long_starts_resumes_and_uses_torchrun_for_several_gpus(env, tmp_path):
    script = str(ROOT / "scripts" / "train_long.sh")
    run_dir = tmp_path / "run"
    subprocess.run(["bash", script, "cfg.yaml", str(run_dir), "data.root=/d"], env=env, check=True, cwd=tmp_path)
    first = _calls(env, 1)[0]
    assert first == f"baryir train --config cfg.yaml --no-progress output.dir={run_dir} data.root=/d"
    assert (run_dir / "train.pid").is_file() and (run_dir / "train.log").is_file()
    (run_dir / "last.pt").write_bytes(b"")
    subprocess.run(["bash", script, "cfg.yaml", str(run_dir)], env={**env, "GPUS": "4"}, check=True, cwd=tmp_path)
    second = _calls(env, 2)[1]
    assert second == (f"torchrun --standalone --nproc_per_node=4 -m baryir train --config cfg.yaml "
                      f"--resume {run_dir}/last.pt --no-progress output.dir={run_dir} cost.gamma=0.02")
    missing = subprocess.run(["bash", script, "cfg.yaml"], env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "usage" in missing.stderr


@pytest.mark.parametrize("gpus, launcher", [({}, "baryir train"), ({"STUB_GPUS": "2"}, "torchrun --standalone"),
                                            ({"SLURM_GPUS_ON_NODE": "4"}, "torchrun --standalone")])
def test_slurm_script_picks_the_launcher_from_the_gpu_count(env, tmp_path, gpus, launcher):
    script = str(ROOT / "scripts" / "slurm_train.sbatch")
    run_env = {**env, **gpus, "CONFIG": "c.yaml", "RUN_DIR": str(tmp_path / "r")}
    result = subprocess.run(["bash", script, "data.root=/d"], env=run_env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    call = _calls(env, 1)[0]
    assert call.startswith(launcher) and call.endswith(f"--no-progress output.dir={tmp_path / 'r'}"
                                                      + (" cost.gamma=0.02" if "torchrun" in launcher else "")
                                                      + " data.root=/d")
    expected_gpus = gpus.get("STUB_GPUS", gpus.get("SLURM_GPUS_ON_NODE", "1"))
    assert f"{expected_gpus} GPU(s)" in result.stdout
