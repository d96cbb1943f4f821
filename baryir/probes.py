"""Linear probes: how much of the degradation type a representation still carries.

The paper's claim about the latent space (Fig. 5) is that the barycenter codes
``z_B = T(z)`` mix the degradations (a shared, degradation-agnostic space) while the
source-specific codes ``s = z - z_B`` separate them. A linear probe puts a number on
it: train a linear classifier of the degradation type on pooled codes and measure its
accuracy on images it did not see. Near the chance level, the code has lost the type
(linearly); near 1, it carries it.

The classifier is ridge regression on one-hot targets (a least-squares linear
classifier; closed form, deterministic), on features standardised with the training
fold's statistics. Cross-validation leaves one *group* out at a time (one photograph:
crops of the same photograph share content, so a split by crop would let the probe
recognise the picture instead of the degradation).
"""

from __future__ import annotations

import numpy as np
import torch

from baryir.errors import ConfigError


def pooled_codes(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 16) -> dict[str, np.ndarray]:
    """Spatially averaged latents of a batch of images.

    Parameters
    ----------
    model : baryir.models.BaryIR
    images : Tensor (N, 3, H, W)
        Degraded images in [0, 1].
    batch_size : int

    Returns
    -------
    dict
        ``"z"``, ``"z_b"``, ``"s"`` -> float64 array (N, C): the mean over the latent's
        ``H/8 x W/8`` positions of ``z``, ``z_B = T(z)`` and ``s = z - z_B``.
    """
    device = next(model.parameters()).device
    codes = {"z": [], "z_b": [], "s": []}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            out = model(images[start:start + batch_size].to(device))
            for name in codes:
                codes[name].append(getattr(out, name).mean(dim=(2, 3)).double().cpu().numpy())
    model.train(was_training)
    return {name: np.concatenate(parts) for name, parts in codes.items()}


def ridge_classifier(features: np.ndarray, labels: np.ndarray, alpha: float = 1.0):
    """Fit a ridge (least-squares) linear classifier; return its predict function.

    Parameters
    ----------
    features : array (N, D)
    labels : array (N,)
        Class labels (any hashable values).
    alpha : float
        Ridge penalty on the standardised features.

    Returns
    -------
    callable
        ``predict(features (M, D)) -> labels (M,)``: the class with the largest score
        of ``[x_std, 1] @ W``, ``W = argmin ||X W - Y||^2 + alpha ||W_x||^2`` (Y one-hot).
    """
    classes, index = np.unique(labels, return_inverse=True)
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-12
    x = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
    targets = np.eye(len(classes))[index]
    penalty = alpha * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    weights = np.linalg.solve(x.T @ x + penalty, x.T @ targets)

    def predict(new: np.ndarray) -> np.ndarray:
        scores = np.hstack([(new - mean) / scale, np.ones((len(new), 1))]) @ weights
        return classes[scores.argmax(axis=1)]

    return predict


def probe_accuracy(features: np.ndarray, labels, groups, alpha: float = 1.0) -> float:
    """Leave-one-group-out accuracy of :func:`ridge_classifier`.

    Parameters
    ----------
    features : array (N, D)
    labels : array (N,)
        The degradation type of each sample.
    groups : array (N,)
        The photograph each sample comes from; each fold holds out one group.
    alpha : float

    Returns
    -------
    float
        Fraction of held-out samples classified correctly, over all folds.

    Raises
    ------
    ConfigError
        With fewer than two groups, or a training fold holding a single class.
    """
    features, labels, groups = np.asarray(features, dtype=np.float64), np.asarray(labels), np.asarray(groups)
    if not len(features) == len(labels) == len(groups):
        raise ConfigError(f"features, labels and groups must have the same length, got "
                          f"{len(features)}, {len(labels)}, {len(groups)}")
    unique_groups = np.unique(groups)
    if len(unique_groups) < 2:
        raise ConfigError("a leave-one-group-out probe needs samples from at least two groups (photographs)")
    correct = 0
    for group in unique_groups:
        held_out = groups == group
        if len(np.unique(labels[~held_out])) < 2:
            raise ConfigError(f"without group {group!r} the training fold holds a single class")
        predict = ridge_classifier(features[~held_out], labels[~held_out], alpha)
        correct += int((predict(features[held_out]) == labels[held_out]).sum())
    return correct / len(labels)


def chance_level(labels) -> float:
    """Accuracy of always answering the most frequent class (1/K for balanced classes)."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return float(counts.max() / counts.sum())
