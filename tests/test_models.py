"""Tests for baryir.models: shapes, residual path, parameter counts, determinism,
gradients, potentials."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from baryir.errors import ConfigError
from baryir.models import (
    DECODE_FROM,
    MDTA,
    PRESETS,
    BaryIRConfig,
    ChannelLayerNorm,
    Downsample,
    PointwiseConv,
    Potentials,
    TransformerBlock,
    Upsample,
    build_model,
    build_potentials,
    config_from_preset,
    count_parameters,
    pad_to_multiple,
    parameter_table,
)

# Counted from this implementation; `reference` equals the released code's count of
# the modules its forward pass uses (53,549,774; 53,765,070 with six unused convs).
PINNED_COUNTS = {"reference": 53_549_774, "paper-light": 39_474_238, "tiny": 494_582}
# Released potentials at patch 128 (counted from the released layer sizes: 30.4 M for K = 3, 50.6 M for K = 5).
PINNED_REFERENCE_POTENTIALS = {3: 30_380_931, 5: 50_634_885}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def tiny(seed=0, **overrides):
    torch.manual_seed(seed)
    return build_model("tiny", **overrides)


@pytest.mark.parametrize("name", sorted(PINNED_COUNTS))
def test_parameter_counts_are_pinned(name):
    model = build_model(name)
    table = parameter_table(model)
    assert table["total"] == PINNED_COUNTS[name] == count_parameters(model)
    assert sum(v for k, v in table.items() if k != "total") == table["total"]


def test_reference_components_match_released_layout():
    table = parameter_table(build_model("reference"))
    # T = 8 transformer blocks at 384 channels: 14.37 M ("T has 14.4 M parameters").
    assert table["barycenter_map"] == 14_370_448
    assert table["latent_norm"] == 2 * 384
    light = parameter_table(build_model("paper-light"))
    assert light["barycenter_map"] == 2 * 384 * 384
    assert light["total"] - light["barycenter_map"] == table["total"] - table["barycenter_map"]


@pytest.mark.parametrize("k", sorted(PINNED_REFERENCE_POTENTIALS))
def test_reference_potentials_count(k):
    pots = build_potentials(PRESETS["reference"], k, kind="reference", patch_size=128)
    assert count_parameters(pots) == PINNED_REFERENCE_POTENTIALS[k]


@pytest.mark.parametrize("size", [(37, 53), (8, 8), (5, 3), (64, 17)])
def test_output_shapes_and_dtypes_for_odd_sizes(size):
    model = tiny().eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        out = model(x)
    latent = (-(-size[0] // 8), -(-size[1] // 8))
    assert out.restored.shape == x.shape and out.restored.dtype == torch.float32
    for t in (out.z, out.z_b, out.s):
        assert t.shape == (2, model.config.latent_channels, *latent) and t.dtype == torch.float32
    assert torch.isfinite(out.restored).all()


def test_float64_model_keeps_dtype():
    model = tiny().double().eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 20, 12, dtype=torch.float64))
    assert all(t.dtype == torch.float64 for t in out)


@pytest.mark.parametrize("size", [(37, 53), (16, 16), (3, 5)])
def test_zero_output_conv_returns_the_input(size):
    model = tiny()
    torch.nn.init.zeros_(model.decoder.output.weight)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        out = model(x)
    assert torch.equal(out.restored, x)


def test_untouched_output_conv_changes_the_input():
    with torch.no_grad():
        x = torch.rand(1, 3, 16, 16)
        assert (tiny()(x).restored - x).abs().max() > 1e-4


def test_latent_relations():
    model = tiny().eval()
    x = torch.rand(2, 3, 24, 40)
    with torch.no_grad():
        out = model(x)
        bottleneck = model.encoder(x)[1]
        mapped = model.barycenter_map(out.z)
    assert torch.allclose(out.z_b, model.latent_norm(mapped), atol=1e-6)
    assert torch.equal(out.s, out.z - out.z_b)
    # z and z_B leave the same (freshly initialised) LayerNorm: per-pixel channel
    # mean 0 and variance v / (v + eps), v the variance before the norm.
    for t, before in ((out.z, bottleneck), (out.z_b, mapped)):
        v = before.var(1, unbiased=False)
        assert torch.allclose(t.mean(1), torch.zeros(()), atol=1e-5)
        assert torch.allclose(t.var(1, unbiased=False), v / (v + 1e-5), atol=1e-4)


def test_barycenter_latent_is_the_forward_z_b():
    """The potentials step's encoder-only pass gives exactly the full pass's z_B."""
    model = tiny()
    x = torch.rand(2, 3, 21, 30)
    with torch.no_grad():
        assert torch.equal(model.barycenter_latent(x), model(x).z_b)


def test_same_seed_same_model_and_output():
    x = torch.rand(2, 3, 21, 30)
    a, b, c = tiny(seed=3), tiny(seed=3), tiny(seed=4)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    with torch.no_grad():
        ya, yb, yc = a(x).restored, b(x).restored, c(x).restored
    assert torch.equal(ya, yb)
    assert not torch.allclose(ya, yc)


@pytest.mark.parametrize("decode_from", DECODE_FROM)
def test_gradients_reach_every_parameter(decode_from):
    model = tiny(decode_from=decode_from)
    out = model(torch.rand(2, 3, 24, 24))
    # restoration loss plus the latent terms the barycenter objective uses
    loss = out.restored.square().mean() + out.z_b.square().mean() + out.s.abs().mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_decode_from_changes_the_decoder_input():
    full, bary = tiny(decode_from="barycenter+specific"), tiny(decode_from="barycenter")
    assert bary.specific_branch is None and full.specific_branch is not None
    c = full.config.latent_channels
    assert full.config.fusion_in_channels == 2 * c and bary.config.fusion_in_channels == c


def test_decode_from_original_ignores_the_barycenter_map():
    model = tiny(decode_from="original").eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        before = model(x).restored
        for p in model.barycenter_map.parameters():
            p.add_(torch.randn_like(p))
        after = model(x)
    assert torch.equal(before, after.restored)
    # the map still moves z_B, which the MLOT cost sees
    assert after.s.abs().max() > 0


def test_pad_to_multiple_reflects():
    x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).reshape(2, 3, 5, 6)
    padded = pad_to_multiple(x, 8)
    assert padded.shape == (2, 3, 8, 8)
    assert torch.equal(padded[..., :5, :6], x)
    assert torch.equal(padded[..., 5, :6], x[..., 3, :])  # row 5 mirrors row 3
    assert torch.equal(padded[..., :5, 6], x[..., :, 4])
    small = x[..., :4, :4]
    assert pad_to_multiple(small, 4) is small and pad_to_multiple(padded, 8) is padded  # nothing to pad
    tiny = x[..., :2, :3]  # too small to reflect 6 rows: replicated edges instead
    grown = pad_to_multiple(tiny, 8)
    assert grown.shape == (2, 3, 8, 8) and torch.equal(grown[..., :2, :3], tiny)
    assert torch.equal(grown[..., 7, :3], tiny[..., 1, :]) and torch.equal(grown[..., :2, 7], tiny[..., :, 2])


@pytest.mark.parametrize("kind", ["with_bias", "bias_free"])
def test_channel_layernorm_formula(kind):
    norm = ChannelLayerNorm(6, kind)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        if norm.bias is not None:
            norm.bias.uniform_(-1, 1)
    x = torch.randn(2, 6, 3, 4) * 3 + 1
    mean, var = x.mean(1, keepdim=True), x.var(1, unbiased=False, keepdim=True)
    w = norm.weight.view(1, -1, 1, 1)
    centred = x - mean if kind == "with_bias" else x
    expected = centred / torch.sqrt(var + 1e-5) * w
    if norm.bias is not None:
        expected = expected + norm.bias.view(1, -1, 1, 1)
    assert torch.allclose(norm(x), expected, atol=1e-5)


def test_mdta_is_channel_attention():
    torch.manual_seed(0)
    attention = MDTA(12, heads=3)
    x = torch.randn(2, 12, 5, 7)
    qkv = attention.qkv_dwconv(attention.to_qkv(x)).flatten(2)  # (2, 36, 35)
    q, k, v = (t.reshape(2, 3, 4, 35) for t in qkv.split(12, dim=1))
    scores = torch.einsum("bhcp,bhdp->bhcd", F.normalize(q, dim=-1), F.normalize(k, dim=-1))
    weights = torch.softmax(scores * attention.temperature, dim=-1)  # (2, 3, 4, 4): channels x channels
    expected = attention.project_out(torch.einsum("bhcd,bhdp->bhcp", weights, v).reshape(2, 12, 5, 7))
    assert torch.allclose(attention(x), expected, atol=1e-5)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_pointwise_conv_is_a_1x1_convolution_in_either_layout(layout):
    torch.manual_seed(0)
    conv = PointwiseConv(6, 10, bias=True).double()
    assert conv.weight.shape == (10, 6, 1, 1) and set(conv.state_dict()) == {"weight", "bias"}
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_(True)
    y = conv(x)
    expected = F.conv2d(x, conv.weight, conv.bias)
    assert torch.allclose(y, expected, atol=1e-12)
    assert y.is_contiguous(memory_format=torch.channels_last)  # one GEMM writes pixels-last rows
    grads = torch.autograd.grad(y.square().sum(), [x, conv.weight, conv.bias])
    expected_grads = torch.autograd.grad(expected.square().sum(), [x, conv.weight, conv.bias])
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(grads, expected_grads))


def test_transformer_block_values_do_not_depend_on_the_layout():
    torch.manual_seed(0)
    block = TransformerBlock(12, heads=3, expansion=2.66).double()
    x = torch.randn(2, 12, 6, 5, dtype=torch.float64)
    nchw, nhwc = block(x), block(x.contiguous(memory_format=torch.channels_last))
    assert nhwc.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(nchw, nhwc, atol=1e-12)


def test_resampling_blocks_shapes():
    x = torch.randn(1, 8, 6, 10)
    assert Downsample(8)(x).shape == (1, 16, 3, 5)
    assert Upsample(8)(x).shape == (1, 4, 12, 20)


@pytest.mark.parametrize("kind,latent", [("pooled", 3), ("reference", 8)])
def test_potentials_vectorised_equal_per_sample_loop(kind, latent):
    torch.manual_seed(0)
    pots = Potentials(3, 32, kind=kind, latent_size=latent if kind == "reference" else None)
    z_b = torch.randn(7, 32, latent, latent)
    source = torch.tensor([2, 0, 0, 1, 2, 2, 0])
    looped = torch.stack([pots.nets[int(k)](z_b[i : i + 1]).squeeze() for i, k in enumerate(source)])
    assert torch.allclose(pots(z_b, source), looped, atol=1e-6)
    everything = pots.all_sources(z_b)
    assert everything.shape == (7, 3)
    for k in range(3):
        assert torch.allclose(everything[:, k], pots(z_b, torch.full((7,), k)), atol=1e-6)
    assert torch.allclose(everything.gather(1, source[:, None]).squeeze(1), looped, atol=1e-6)


def test_potentials_gradients_and_missing_sources():
    pots = Potentials(4, 16)
    z_b = torch.randn(3, 16, 2, 5, requires_grad=True)
    values = pots(z_b, torch.tensor([1, 1, 3]))
    values.sum().backward()
    assert z_b.grad.abs().sum() > 0
    assert pots.nets[0][0].weight.grad is None and pots.nets[1][0].weight.grad is not None


def test_pooled_potentials_accept_any_size_reference_do_not():
    pooled = build_potentials(PRESETS["tiny"], 2)
    for side in (1, 4, 9):
        assert pooled.all_sources(torch.randn(2, 64, side, side + 2)).shape == (2, 2)
    reference = build_potentials(PRESETS["tiny"], 2, kind="reference", patch_size=64)
    assert reference.all_sources(torch.randn(2, 64, 8, 8)).shape == (2, 2)
    with pytest.raises(ConfigError, match="pooled"):
        reference.all_sources(torch.randn(2, 64, 16, 16))


def test_potentials_reject_bad_input():
    with pytest.raises(ConfigError, match="latent_size"):
        Potentials(3, 16, kind="reference")
    with pytest.raises(ConfigError):
        Potentials(3, 16, kind="nope")
    pots = Potentials(2, 16)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        pots(torch.randn(2, 16, 2, 2), torch.tensor([0, 2]))
    with pytest.raises(ConfigError, match="multiple of 8"):
        build_potentials(PRESETS["tiny"], 2, kind="reference", patch_size=60)
    assert build_potentials(PRESETS["tiny"], 2, kind="pooled", patch_size=60).latent_size is None


def test_config_validation_and_presets():
    with pytest.raises(ConfigError, match="divisible"):
        build_model("tiny", heads=(1, 3, 2, 2))
    with pytest.raises(ConfigError, match="unknown model preset"):
        build_model("huge")
    with pytest.raises(ConfigError, match="unknown model config field"):
        config_from_preset("tiny", width=3)
    with pytest.raises(ConfigError, match="decode_from"):
        config_from_preset("tiny", decode_from="latent")
    cfg = config_from_preset("reference")
    assert cfg.latent_channels == 384 and cfg.level_channels == (48, 96, 192, 384)
    assert cfg.fused_channels == 192 and cfg.fusion_in_channels == 768
    assert BaryIRConfig(**cfg.to_dict()) == cfg
    assert config_from_preset("tiny", dim=16).latent_channels == 128
    assert PRESETS["tiny"].dim == 8  # overrides copy, never mutate presets


def test_build_model_from_config_with_overrides():
    cfg = dataclasses.replace(PRESETS["tiny"], map_kind="pointwise")
    model = build_model(cfg, decode_from="barycenter")
    assert model.config.map_kind == "pointwise" and model.config.decode_from == "barycenter"


def test_reference_forward_small_image():
    torch.manual_seed(0)
    model = build_model("reference").eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 30, 34))
    assert out.restored.shape == (1, 3, 30, 34)
    assert out.z.shape == out.z_b.shape == out.s.shape == (1, 384, 4, 5)
