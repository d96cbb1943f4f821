"""The released BaryIR training iteration, re-stated as its trainer runs it (the speed baseline).

Written from the authors' ``trainer_bary.py`` (github.com/xl-tang3/BaryIR), not from
``baryir``'s objective functions: only ``baryir``'s network and potentials modules are
used, with the released kernels swapped in (:func:`use_released_kernels`). One
iteration on a batch of ``N`` samples (``k(i)`` the source of sample ``i``, ``l(i)``
its degradation label, ``lambda`` the barycenter weights):

1. Restoration step, the network's one optimiser step, potentials frozen::

       loss = (1/N) sum_i lambda_k(i) [rmse_i + gamma (ort_i + ctr_i) - f_k(i)(zB_i)]
              + SIGMA * mean|restored - clean|

   with, per sample and in Python loops over the batch as released,
   ``rmse_i = sqrt(mean((z_i - zB_i)^2))``,
   ``ort_i = sum_j <zB_i/|zB_i|, s_j/|s_j|>^2`` (``s = z - zB``, ``j`` over the whole
   batch, ``i`` included) and ``ctr_i = -log(pos_i / (pos_i + neg_i))``,
   ``pos_i = sum_{j: l(j) = l(i)} exp(<s_i^, s_j^>/tau)`` (``i`` included),
   ``neg_i`` the same over ``l(j) != l(i)``. ``f_k(i)`` sees one sample at a time.
2. Potentials step, network frozen: a second full forward pass gives ``zB'``; one
   potentials optimiser step on ``(1/N) sum_i lambda_k(i) f_k(i)(zB'_i)`` (N one-sample
   evaluations).
3. Congruence step: a second potentials optimiser step on
   ``CONGRUENCE * (sum_j lambda_j f_j(zB'_last))^2``, on the *last* sample of the
   batch only (K evaluations).

So ``N + N + K`` potential evaluations per iteration, each on one sample. Constants
are the released ones: ``GAMMA = 0.05``, ``TAU = 0.07``, ``SIGMA = 1e4``,
``CONGRUENCE = 10``; RMSprop with learning rate 1e-4 for both optimisers.

Released kernels: the LayerNorm spelled out (tokens, mean, biased variance, subtract,
divide, scale, shift), ``q`` and ``k`` normalised before the attention product, and
the network in the contiguous (NCHW) layout with PyTorch's 1x1 convolutions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from baryir.models import MDTA, BaryIR, ChannelLayerNorm, PointwiseConv

GAMMA = 0.05
TAU = 0.07
SIGMA = 1e4
CONGRUENCE = 10.0
LR = 1e-4


# --- the released network kernels -------------------------------------------------------


class ReleasedLayerNorm(ChannelLayerNorm):
    """The released LayerNorm: pixels to tokens ``(N, H*W, C)``, the formula spelled
    out, back to ``(N, C, H, W)``. Same parameters and values as :class:`ChannelLayerNorm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        tokens = x.permute(0, 2, 3, 1).reshape(n, h * w, c)
        var = tokens.var(-1, keepdim=True, unbiased=False)
        if self.bias is None:
            normed = tokens / torch.sqrt(var + self.eps) * self.weight
        else:
            normed = (tokens - tokens.mean(-1, keepdim=True)) / torch.sqrt(var + self.eps) * self.weight + self.bias
        return normed.reshape(n, h, w, c).permute(0, 3, 1, 2)


class ReleasedMDTA(MDTA):
    """The released attention map: ``q`` and ``k`` (each ``(C/h, H*W)`` per head)
    normalised over pixels before ``q k^T``. Same parameters and values as :class:`MDTA`."""

    def attention_map(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        return (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)


def use_released_kernels(model: torch.nn.Module, layernorm: bool = True, attention: bool = True,
                         layout: bool = True) -> int:
    """Switch parts of ``model`` to the released kernels in place (state dict unchanged).

    LayerNorms become :class:`ReleasedLayerNorm`, attentions :class:`ReleasedMDTA`,
    and with ``layout`` the 1x1 convolutions PyTorch's ``nn.Conv2d`` and every
    :class:`BaryIR` runs in the contiguous (NCHW) memory format.

    Returns
    -------
    int
        Number of modules switched.
    """
    swaps = {}
    if layernorm:
        swaps[ChannelLayerNorm] = ReleasedLayerNorm
    if attention:
        swaps[MDTA] = ReleasedMDTA
    if layout:
        swaps[PointwiseConv] = torch.nn.Conv2d
    switched = 0
    for module in model.modules():
        released = swaps.get(type(module))
        if released is not None:
            module.__class__ = released
            switched += 1
        if layout and isinstance(module, BaryIR):
            module.memory_format = torch.contiguous_format
    return switched


# --- the released objectives, per sample ------------------------------------------------


def _unit(x: torch.Tensor) -> torch.Tensor:
    """One sample flattened and L2-normalised (``F.normalize``, as released)."""
    return F.normalize(x.reshape(-1), dim=0)


def sample_costs(z: torch.Tensor, z_b: torch.Tensor, labels) -> list[torch.Tensor]:
    """``rmse_i + GAMMA (ort_i + ctr_i)`` for every sample, with the released loops.

    Parameters
    ----------
    z, z_b : Tensor (N, C, h, w)
    labels : sequence of int (N,)
        Degradation labels (contrastive positives share a label).

    Returns
    -------
    list of N scalar tensors
    """
    s = z - z_b
    n = z.shape[0]
    costs = []
    for i in range(n):
        rmse = torch.mean(torch.abs(z[i] - z_b[i]) ** 2) ** 0.5
        anchor = _unit(z_b[i])
        ort = 0
        for j in range(n):
            ort = ort + torch.sum(anchor * _unit(s[j])) ** 2
        own = _unit(s[i])
        pos = neg = 0
        for j in range(n):
            similarity = torch.exp(torch.sum(own * _unit(s[j])) / TAU)
            if int(labels[i]) == int(labels[j]):
                pos = pos + similarity
            else:
                neg = neg + similarity
        ctr = -torch.log(pos / (pos + neg))
        costs.append(rmse + GAMMA * (ort + ctr))
    return costs


def potential(potentials, k: int, z_b_one: torch.Tensor) -> torch.Tensor:
    """``f_k`` of one sample ``(C, h, w)`` (the released ``Pots(z, k)``), a scalar."""
    return potentials.nets[k](z_b_one.unsqueeze(0)).squeeze()


def restoration_loss(out, clean: torch.Tensor, source, labels, potentials, lambdas) -> torch.Tensor:
    """The restoration step's loss (module docstring, step 1) for a network output ``out``."""
    l1 = torch.mean(torch.abs(out.restored - clean))
    costs = sample_costs(out.z, out.z_b, labels)
    barycenter = 0
    for i, cost in enumerate(costs):
        k = int(source[i])
        barycenter = barycenter + lambdas[k] * (cost - potential(potentials, k, out.z_b[i]))
    return barycenter / len(costs) + SIGMA * l1


def potentials_loss(potentials, z_b: torch.Tensor, source, lambdas) -> torch.Tensor:
    """The potentials step's loss (step 2): ``(1/N) sum_i lambda_k(i) f_k(i)(zB_i)``."""
    total = 0
    for i in range(z_b.shape[0]):
        k = int(source[i])
        total = total + lambdas[k] * potential(potentials, k, z_b[i])
    return total / z_b.shape[0]


def congruence_loss(potentials, z_b_one: torch.Tensor, lambdas) -> torch.Tensor:
    """The congruence step's loss (step 3): ``CONGRUENCE * (sum_j lambda_j f_j(zB))^2`` on one sample."""
    total = 0
    for j in range(len(potentials.nets)):
        total = total + lambdas[j] * potential(potentials, j, z_b_one)
    return CONGRUENCE * total**2


# --- one iteration -----------------------------------------------------------------------


def _set_trainable(module: torch.nn.Module, trainable: bool) -> None:
    """The released ``freeze`` / ``unfreeze``: ``requires_grad`` of every parameter and train/eval."""
    for parameter in module.parameters():
        parameter.requires_grad_(trainable)
    module.train(trainable)


class ReleasedLoop:
    """The released training iteration on a ``baryir`` network and ``reference`` potentials.

    Parameters
    ----------
    model : baryir.models.BaryIR
    potentials : baryir.models.Potentials
    lambdas : sequence of float (K,)
        Barycenter weights (released: inverse frequency, normalised).
    second_forward : {"full", "encoder"}
        The potentials' second forward pass runs the whole network (released) or
        stops at ``z_B`` (:meth:`baryir.models.BaryIR.barycenter_latent`; same ``z_B``).
    """

    def __init__(self, model, potentials, lambdas, second_forward: str = "full"):
        if second_forward not in ("full", "encoder"):
            raise ValueError(f"second_forward must be 'full' or 'encoder', got {second_forward!r}")
        self.model, self.potentials = model, potentials
        self.lambdas = [float(w) for w in lambdas]
        self.second_forward = second_forward
        self.opt_model = torch.optim.RMSprop(model.parameters(), lr=LR)
        self.opt_pot = torch.optim.RMSprop(potentials.parameters(), lr=LR)

    def step(self, batch: dict) -> dict[str, float]:
        """One iteration on ``batch`` (``degraded``, ``clean``, ``source``, ``label``).

        Returns
        -------
        dict
            ``loss`` (restoration step), ``potential_loss`` and ``congruence_loss``.
        """
        model, potentials = self.model, self.potentials
        source, labels = batch["source"].tolist(), batch["label"].tolist()
        degraded = batch["degraded"]

        _set_trainable(potentials, False)
        _set_trainable(model, True)
        model.zero_grad()
        loss = restoration_loss(model(degraded), batch["clean"], source, labels, potentials, self.lambdas)
        loss.backward()
        self.opt_model.step()

        _set_trainable(potentials, True)
        _set_trainable(model, False)
        potentials.zero_grad()
        z_b = model(degraded).z_b if self.second_forward == "full" else model.barycenter_latent(degraded)
        pot_loss = potentials_loss(potentials, z_b, source, self.lambdas)
        pot_loss.backward()
        self.opt_pot.step()

        potentials.zero_grad()
        congruence = congruence_loss(potentials, z_b[-1], self.lambdas)
        congruence.backward()
        self.opt_pot.step()
        return {"loss": loss.item(), "potential_loss": pot_loss.item(), "congruence_loss": congruence.item()}
