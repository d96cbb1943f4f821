"""The tiny training configuration shared by the training and objective tests."""

from baryir.config import load_config


def tiny_config(root, out_dir, *extra):
    """A 4-channel tiny model on ``root``: 6 steps of batch 3 on 32 px patches, every step logged."""
    return load_config(None, [
        f"data.root={root}", "data.benchmark=demo", "data.patch_size=32", "model.preset=tiny",
        "model.overrides.dim=4", "optim.name=adam", "optim.lr=1e-3", "loop.batch_size=3",
        "loop.steps=6", "loop.device=cpu", "loop.log_every=1", "loop.val_every=0", "loop.val_images=1",
        "loop.keep_best=false",
        f"output.dir={out_dir}", *extra,
    ])
