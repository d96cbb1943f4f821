"""The figures of notebooks 05 and 06: gradient norms and restoration error maps."""

import matplotlib.pyplot as plt  # the Agg backend: MPLBACKEND in conftest.py
import numpy as np

from baryir import plotting
from baryir.plotting import plot_gradient_norms, plot_restoration_errors
from baryir.train import GRADIENT_FIELDS


def _rows(n=2, side=16):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        clean = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        degraded = np.clip(clean.astype(int) + 40, 0, 255).astype(np.uint8)
        restored = np.clip(clean.astype(int) + 5, 0, 255).astype(np.uint8)
        rows.append({"task": f"set{i}", "degraded": degraded, "restored": restored, "clean": clean,
                     "psnr_in": 16.0, "psnr_out": 30.0})
    return rows


def test_restoration_errors_draws_error_maps_on_the_input_scale():
    rows = _rows()
    fig = plot_restoration_errors(rows)
    axes = np.array(fig.axes).reshape(len(rows), 5)
    assert [ax.get_title() for ax in axes[0]] == [
        "set0: input 16.0 dB", "restored 30.0 dB", "clean", "|input - clean|", "|restored - clean|"]
    clean = rows[0]["clean"].astype(float)
    for col, key in ((3, "degraded"), (4, "restored")):
        image = axes[0, col].get_images()[0]
        expected = np.abs(rows[0][key].astype(float) - clean).mean(axis=-1)
        np.testing.assert_allclose(image.get_array(), expected)
        assert image.get_clim() == axes[0, 3].get_images()[0].get_clim()  # one scale per row
    vmax = axes[0, 3].get_images()[0].get_clim()[1]
    assert vmax == np.percentile(np.abs(rows[0]["degraded"].astype(float) - clean).mean(axis=-1), 99)
    plt.close(fig)


def test_gradient_norms_one_panel_per_group_and_zero_terms_named():
    history = [{"step": s, **{field: 0.0 if field == "grad_bary_decoder" else float(s) for field in GRADIENT_FIELDS}}
               for s in (10, 20, 30)]
    history.append({"step": 40, "loss": 1.0})  # a record without gradient norms is skipped
    fig = plot_gradient_norms(history, smooth=2)
    assert [ax.get_title() for ax in fig.axes] == ["encoder", "barycenter map T", "decoder"]
    encoder, _, decoder = fig.axes
    assert len(encoder.get_lines()) == 2
    np.testing.assert_allclose(encoder.get_lines()[0].get_xydata(), [[20, 15], [30, 25]])  # moving average
    assert len(decoder.get_lines()) == 1  # the zero barycenter norm is not drawn on a log axis ...
    assert any("no path" in text.get_text() for text in decoder.texts)  # ... but named
    plt.close(fig)


def test_ablation_plots_draw_what_they_are_given():
    sweep = {"weights": [1, 10, 100], "ratio": {"encoder": [1e-4, 1e-3, 1e-2], "map": [0.004, 0.04, 0.4],
                                                "decoder": [0.0, 0.0, 0.0]},
             "target_ratio": [0.1, 0.3], "chosen_weight": 100}
    fig = plotting.plot_gradient_sweep(sweep)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()][:2] == ["on encoder", "on map"]
    assert np.allclose(ax.get_lines()[1].get_ydata(), [0.004, 0.04, 0.4])
    assert any("no gradient" in text.get_text() for text in ax.get_legend().get_texts())
    fig = plotting.plot_paired_differences({"a": (-0.5, 0.1), "b": (0.2, 0.05)})
    bars = fig.axes[0].patches
    assert [round(b.get_width(), 3) for b in bars] == [-0.5, 0.2]
    fig = plotting.plot_latent_ratio({"run": [[10, 0.1], [20, 0.05]]})
    assert np.allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.1, 0.05])
    runs = {"untrained": [{"z": 0.5, "z_b": 0.4, "s": 0.6}, {"z": 0.7, "z_b": 0.6, "s": 0.4}],
            "trained": [{"z": 0.9, "z_b": 0.3, "s": 0.8}, {"z": 0.9, "z_b": 0.5, "s": 0.8}]}
    ax = plotting.plot_probe_accuracies(runs, chance=1 / 3).axes[0]
    assert [round(b.get_height(), 3) for b in ax.patches] == [0.6, 0.5, 0.5, 0.9, 0.4, 0.8]  # means over seeds
    assert np.allclose(ax.get_lines()[-1].get_ydata(), 1 / 3)  # the chance line
    plt.close("all")
