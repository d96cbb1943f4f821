"""Two gloo processes on one CPU: DDP keeps the ranks' parameters identical."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from baryir.config import load_config
from baryir.data import build_demo_benchmark

pytestmark = pytest.mark.slow  # two processes and a process group


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from baryir.train import Trainer

    config = load_config(None, [
        f"data.root={root}", "data.benchmark=demo", "data.patch_size=32", "model.overrides.dim=4",
        "optim.name=adam", "optim.lr=1e-3", "loop.batch_size=2", "loop.steps=3", "loop.device=cpu",
        "loop.log_every=1", "data.validate=false", "loop.keep_best=false", f"output.dir={out}",
    ])
    trainer = Trainer(config)
    first_indices = list(trainer.sampler)[:2]
    trainer.fit(progress=False)
    torch.save({"model": trainer.model.module.state_dict(), "potentials": trainer.potentials.state_dict(),
                "indices": first_indices, "world_size": trainer.ctx.world_size},
               os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_two_gloo_processes_stay_in_sync(tmp_path):
    root = build_demo_benchmark(tmp_path / "bench", seed=0, size=48)
    # fork: the children reuse the imported modules (spawn would re-import torch twice)
    mp.start_processes(_worker, args=(2, _free_port(), str(root), str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
    assert set(ranks[0]["indices"]).isdisjoint(ranks[1]["indices"])  # each rank its own shard
    for part in ("model", "potentials"):
        a, b = ranks[0][part], ranks[1][part]
        assert all(torch.equal(a[k], b[k]) for k in a), part
    saved = torch.load(tmp_path / "last.pt", weights_only=True)  # written by rank 0 only
    assert saved["step"] == 3
    assert all(torch.equal(saved["model"][k], ranks[0]["model"][k]) for k in saved["model"])
