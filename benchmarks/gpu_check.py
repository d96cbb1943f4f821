"""Exercise the GPU training path and measure it.

Trains the ``reference`` preset (paper-size network, released potentials) at patch
128, batch 3, once in fp32 and once with bf16 autocast, for ``--steps`` iterations
each, through the same :class:`baryir.train.Trainer` as ``baryir train``, and
reports per precision: iterations per second (after the first logging window),
peak GPU memory, the card's name and the loss trajectory. The data are the demo
benchmark (built in a temporary folder unless ``--data`` points to one), since the
check is about speed and the code path, not accuracy.

Usage::

    python benchmarks/gpu_check.py [--steps 300] [--out gpu_check.json]

Exit codes: 0 measured; 3 CUDA is not available (nothing is measured).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

NO_CUDA_EXIT = 3
CONFIG = "aio3"  # the packaged config (baryir config show aio3)


def measure(precision: str, data_root: Path, steps: int, out_dir: Path) -> dict:
    """Train ``steps`` iterations in ``precision``; return speed, memory and losses."""
    from baryir.config import load_config
    from baryir.train import Trainer

    overrides = [
        f"data.root={data_root}", "data.benchmark=demo", "data.num_workers=2", "data.validate=false", "loop.keep_best=false",
        f"loop.steps={steps}", "loop.epochs=null", "loop.log_every=10", "loop.val_every=0",
        "loop.checkpoint_every=0", "loop.keep_best=false", f"loop.precision={precision}",
        "loop.device=cuda", "optim.schedule=constant", f"output.dir={out_dir / precision}",
    ]
    trainer = Trainer(load_config(CONFIG, overrides))
    torch.cuda.reset_peak_memory_stats()
    history = trainer.fit(progress=True)
    rates = [r["images_per_s"] / trainer.config.loop.batch_size for r in history[1:]]
    return {
        "precision": precision,
        "steps": steps,
        "iterations_per_s": statistics.median(rates) if rates else None,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
        "loss": [(r["step"], r["loss"]) for r in history],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="iterations per precision")
    parser.add_argument("--data", type=Path, default=None, help="demo benchmark folder (built if absent)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="JSON report")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(
            "gpu_check: CUDA is not available on this machine, so nothing was measured. "
            "Run this script on a machine with an NVIDIA GPU and a CUDA build of PyTorch.",
            file=sys.stderr,
        )
        return NO_CUDA_EXIT
    from baryir.data import build_demo_benchmark

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data_root = args.data or build_demo_benchmark(tmp / "demo", seed=0)
        report = {
            "card": torch.cuda.get_device_name(),
            "torch": torch.__version__,
            "preset": "reference",
            "patch_size": 128,
            "batch_size": 3,
            "runs": [measure(p, Path(data_root), args.steps, tmp / "runs") for p in ("fp32", "bf16")],
        }
    args.out.write_text(json.dumps(report, indent=1))
    for run in report["runs"]:
        print(f"{report['card']} {run['precision']}: {run['iterations_per_s']:.2f} it/s, "
              f"peak {run['peak_memory_gib']:.1f} GiB, loss {run['loss'][0][1]:.4g} -> {run['loss'][-1][1]:.4g}")
    print(f"report written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
