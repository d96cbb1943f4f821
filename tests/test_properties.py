"""Property-based tests (hypothesis) of the MLOT cost terms and of tiled inference.

Shapes, batch compositions, scales and tile grids are drawn at random; each test
states a property that holds for every draw (finiteness, ranges, invariances,
equivariance, agreement with whole-image inference).
"""

from __future__ import annotations

import math

import torch
from _nets import equivariant_conv_net
from hypothesis import given, settings
from hypothesis import strategies as st

from baryir.costs import MLOTCost, contrastive_loss, orthogonality_loss, transport_distance
from baryir.tiling import restore_tiled
from benchmarks.released_loop import GAMMA, TAU, sample_costs

FEW = settings(max_examples=60, deadline=None)


@st.composite
def latent_batches(draw, min_n: int = 1):
    """(z, z_b, source, labels) with random N, feature shape and source/label layout."""
    n = draw(st.integers(min_n, 6))
    shape = draw(st.sampled_from([(5,), (4, 3, 3), (8, 2, 5), (2, 1, 1)]))
    seed = draw(st.integers(0, 2**16))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    n_sources = draw(st.integers(1, 4))
    gen = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(n, *shape, generator=gen, dtype=torch.float64)
    z_b = scale * torch.randn(n, *shape, generator=gen, dtype=torch.float64)
    source = torch.randint(0, n_sources, (n,), generator=gen)
    labels = torch.randint(0, n_sources + 1, (n,), generator=gen)
    return z, z_b, source, labels


@FEW
@given(latent_batches(), st.sampled_from(["paper", "reference"]))
def test_mlot_cost_and_gradients_are_finite_with_one_value_per_sample(batch, preset):
    z, z_b, source, labels = batch
    z_b = z_b.clone().requires_grad_(True)
    cost = MLOTCost(preset)
    values = cost(z, z_b, source, labels)
    assert values.shape == (z.shape[0],) and torch.isfinite(values).all()
    terms = cost.terms(z, z_b, source, labels)
    assert torch.allclose(terms["total"], values)
    assert all((terms[k] >= -1e-12).all() for k in ("distance", "contrastive", "orthogonality"))
    (grad,) = torch.autograd.grad(values.sum(), z_b)
    assert torch.isfinite(grad).all()


@FEW
@given(latent_batches(min_n=2), st.sampled_from(["paper", "reference"]), st.randoms(use_true_random=False))
def test_mlot_cost_is_permutation_equivariant(batch, preset, rnd):
    z, z_b, source, labels = batch
    order = list(range(z.shape[0]))
    rnd.shuffle(order)
    perm = torch.tensor(order)
    cost = MLOTCost(preset)
    assert torch.allclose(cost(z[perm], z_b[perm], source[perm], labels[perm]),
                          cost(z, z_b, source, labels)[perm], rtol=1e-10, atol=1e-12)


@FEW
@given(latent_batches())
def test_released_style_loops_equal_the_vectorised_reference_cost(batch):
    """The released trainer's per-sample loops (benchmark baseline) compute our ``reference`` cost."""
    z, z_b, source, labels = batch
    cost = MLOTCost("reference")
    assert (cost.settings.gamma, cost.settings.tau) == (GAMMA, TAU)
    assert torch.allclose(torch.stack(sample_costs(z, z_b, labels.tolist())), cost(z, z_b, source, labels),
                          rtol=1e-9, atol=1e-12)


@FEW
@given(latent_batches(), st.floats(-50, 50), st.floats(0.01, 100))
def test_transport_distances_relations_and_invariances(batch, shift, factor):
    z, z_b, _, _ = batch
    norm = transport_distance(z, z_b, "norm")
    d = z[0].numel()
    assert torch.allclose(transport_distance(z, z_b, "rmse"), norm / math.sqrt(d))
    assert torch.allclose(transport_distance(z, z_b, "squared"), norm.square() / 2)
    assert torch.allclose(transport_distance(z_b, z, "norm"), norm)  # symmetric
    scale = z.abs().max() + z_b.abs().max()
    shifted = transport_distance(z + shift * scale, z_b + shift * scale, "norm")
    assert torch.allclose(shifted, norm, rtol=1e-6, atol=1e-9 * float(abs(shift) * scale + 1))
    sphere = transport_distance(z, z_b, "sphere")
    assert ((sphere >= 0) & (sphere <= 2 + 1e-12)).all()
    assert torch.allclose(transport_distance(factor * z, z_b / factor, "sphere"), sphere, atol=1e-10)
    assert torch.allclose(transport_distance(factor * z, factor * z_b, "norm"), factor * norm)


@FEW
@given(latent_batches(), st.floats(0.01, 100), st.booleans(), st.booleans())
def test_regularisers_ranges_and_scale_invariance(batch, factor, squared, self_positive):
    z, z_b, source, labels = batch
    n = z.shape[0]
    s = z - z_b
    ort = orthogonality_loss(z_b, s, squared=squared)
    assert ((ort >= 0) & (ort <= n + 1e-9)).all()
    assert torch.allclose(orthogonality_loss(factor * z_b, s / factor, squared=squared), ort, atol=1e-10)
    no_self = orthogonality_loss(z_b, s, squared=squared, include_self=False)
    assert (no_self <= ort + 1e-12).all()
    ctr = contrastive_loss(s, labels, tau=0.07, self_positive=self_positive)
    assert torch.isfinite(ctr).all() and (ctr >= -1e-9).all()
    assert torch.allclose(contrastive_loss(factor * s, labels, 0.07, self_positive), ctr, atol=1e-8)
    relabelled = contrastive_loss(s, 7 - 3 * labels, 0.07, self_positive)  # only equality of labels matters
    assert torch.allclose(relabelled, ctr)


@FEW
@given(
    height=st.integers(9, 120), width=st.integers(9, 120), overlap=st.sampled_from([24, 32]),
    extra=st.integers(1, 8), batch_size=st.integers(1, 4), seed=st.integers(0, 1000),
)
def test_tiled_equals_whole_image_for_translation_equivariant_nets(height, width, overlap, extra, batch_size,
                                                                    seed):
    net = equivariant_conv_net(seed)
    tile = overlap + 8 * extra  # discarded margin overlap // 4 >= 6 >= receptive-field radius
    image = torch.rand(1, 3, height, width, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        whole = restore_tiled(net, image, tile=None)
        tiled = restore_tiled(net, image, tile=tile, overlap=overlap, batch_size=batch_size)
    assert tiled.shape == image.shape
    assert torch.allclose(tiled, whole, atol=1e-9)


@FEW
@given(height=st.integers(1, 100), width=st.integers(1, 100), tile=st.integers(8, 64), overlap=st.integers(1, 56))
def test_tiling_the_identity_returns_the_image(height, width, tile, overlap):
    """The blending weights are a partition of unity for every grid the tiler accepts."""
    image = torch.rand(1, 3, height, width, dtype=torch.float64, generator=torch.Generator().manual_seed(tile))
    try:
        out = restore_tiled(lambda x: x, image, tile=tile, overlap=overlap)
    except ValueError as err:  # overlap >= tile after rounding to multiples of 8
        assert -(-overlap // 8) * 8 >= tile // 8 * 8, err
        return
    assert torch.allclose(out, image, atol=1e-12)
