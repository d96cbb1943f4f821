"""Figures shared by the notebooks and the CLI.

Each function draws on matplotlib axes (created when not given) and returns the
figure, so notebooks end their cells with ``plt.show()`` and the CLI saves it.
Sections follow the notebook sequence.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

# --- 01: OT and barycenters with POT -------------------------------------------


def _axes(ax, figsize=(4, 4)):
    """Return (figure, axes), creating them when ``ax`` is None."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def plot_clouds(clouds, labels=None, ax=None, title=None, size=4, alpha=0.5):
    """Scatter 2-D point clouds, one colour each.

    The legend sits outside the axes, on the right, so it never covers a cloud.

    Parameters
    ----------
    clouds : list of arrays, shapes (n_k, 2)
    labels : list of str, optional
        Legend entries.
    """
    fig, ax = _axes(ax)
    labels = labels if labels is not None else [None] * len(clouds)
    for cloud, label in zip(clouds, labels):
        cloud = np.asarray(cloud)
        ax.scatter(cloud[:, 0], cloud[:, 1], s=size, alpha=alpha, label=label)
    if any(label is not None for label in labels):
        ax.legend(markerscale=3, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.set_aspect("equal")
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    if title:
        ax.set_title(title)
    return fig


def plot_transport_plan(x, y, plan, ax=None, title=None, max_lines=500, legend=True):
    """Draw a discrete transport plan between 2-D clouds x (n, 2) and y (m, 2).

    Each of the ``max_lines`` heaviest entries of ``plan`` (n, m) is a segment x_i -> y_j
    whose opacity is its mass relative to the largest mass a point can send or receive
    (so a deterministic plan is opaque and a diffuse one faint); entries below 1 % of
    that are not drawn. ``legend=False`` omits the legend (for small multiples).
    """
    from matplotlib.collections import LineCollection

    fig, ax = _axes(ax)
    x, y, plan = np.asarray(x), np.asarray(y), np.asarray(plan)
    full_mass = min(plan.sum(axis=1).max(), plan.sum(axis=0).max())
    flat = np.argsort(plan, axis=None)[::-1][:max_lines]
    rows, cols = np.unravel_index(flat, plan.shape)
    keep = plan[rows, cols] > 0.01 * full_mass
    rows, cols = rows[keep], cols[keep]
    mass = np.clip(plan[rows, cols] / full_mass, 0.0, 1.0)
    segments = np.stack([x[rows], y[cols]], axis=1)
    colors = np.zeros((len(mass), 4))
    colors[:, 3] = 0.9 * mass
    ax.add_collection(LineCollection(segments, colors=colors, linewidths=0.8))
    ax.scatter(x[:, 0], x[:, 1], s=12, label="source x")
    ax.scatter(y[:, 0], y[:, 1], s=12, marker="s", label="target y")
    if legend:
        ax.legend(loc="best")
    ax.set_aspect("equal")
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    if title:
        ax.set_title(title)
    return fig


def plot_gaussian_ellipse(mean, cov, ax=None, n_std=2.0, **line_kwargs):
    """Draw the ``n_std``-standard-deviation ellipse of N(mean (2,), cov (2, 2))."""
    fig, ax = _axes(ax)
    eigval, eigvec = np.linalg.eigh(np.asarray(cov))
    angle = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    ellipse = n_std * (circle * np.sqrt(eigval)) @ eigvec.T + np.asarray(mean)
    ax.plot(ellipse[:, 0], ellipse[:, 1], **line_kwargs)
    ax.set_aspect("equal")
    return fig


# --- 02: neural barycenter solver ----------------------------------------------


def plot_map_arrows(x, y, ax=None, title=None, max_arrows=150, color="C0", label=None):
    """Draw a map as arrows from points x (n, 2) to their images y (n, 2).

    Only the first ``max_arrows`` pairs are drawn (pass shuffled samples).
    """
    fig, ax = _axes(ax)
    x, y = np.asarray(x)[:max_arrows], np.asarray(y)[:max_arrows]
    ax.quiver(x[:, 0], x[:, 1], y[:, 0] - x[:, 0], y[:, 1] - x[:, 1], angles="xy", scale_units="xy",
              scale=1, width=0.004, color=color, alpha=0.7, label=label)
    ax.scatter(x[:, 0], x[:, 1], s=3, color=color)
    ax.set_aspect("equal")
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    if title:
        ax.set_title(title)
    return fig


def plot_solver_history(history, optimal_value=None, axes=None, size=3.2, penalty_weight=None):
    """Training curves of :meth:`baryir.barycenter.BarycenterSolver.fit`.

    Three panels: the objective F (with ``L*`` when given), the RMS congruence residual
    (log scale), and the duality-gap estimates when the history has them.

    Parameters
    ----------
    history : dict of lists
    optimal_value : float, optional
        The exact ``L*``, drawn as a dashed line.
    axes : sequence of 3 matplotlib Axes, optional
    size : float
        Panel side in inches (when axes are created).
    penalty_weight : float, optional
        The congruence penalty's weight w: draws ``L* + 1/(2w)`` on the objective panel
        and ``1/(2w)`` on the residual panel, where the penalty makes them settle
        (the offset of :class:`baryir.barycenter.BarycenterSolver`).
    """
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(3 * size, size))
    fig = axes[0].figure
    axes[0].plot(history["step"], history["F"], lw=1, label="F (eq. 9)")
    if optimal_value is not None:
        axes[0].axhline(optimal_value, color="k", ls="--", lw=1, label="exact L*")
        if penalty_weight:
            axes[0].axhline(optimal_value + 1 / (2 * penalty_weight), color="C3", ls=":", lw=1.5,
                            label="L* + 1/(2w)")
    axes[0].set(title="objective", ylabel="F")
    axes[0].legend(loc="lower right")
    axes[1].semilogy(history["step"], np.maximum(history["residual"], 1e-12), lw=1, label="RMS residual")
    if penalty_weight:
        axes[1].axhline(1 / (2 * penalty_weight), color="C3", ls=":", lw=1.5, label="1/(2w)")
        axes[1].legend(loc="lower right")
    axes[1].set_title(r"residual $\sum_k \lambda_k f_k(T(z))$")
    if "gap_step" in history:
        gaps = {"inner E1": history["gap_inner"], "outer E2": np.abs(history["gap_outer"])}
        for name, values in gaps.items():
            axes[2].semilogy(history["gap_step"], np.maximum(values, 1e-8), "o-", ms=3, label=name)
        axes[2].legend()
    axes[2].set_title("duality-gap estimates (eq. 10-11)")
    for ax in axes:
        ax.set_xlabel("outer step")
    fig.tight_layout()
    return fig


# --- 03: MLOT costs ------------------------------------------------------------


def pca_2d(points):
    """Project points (n, ...) onto their first two principal axes; returns (n, 2).

    Samples are flattened and centred; the signs of the axes follow the SVD.
    """
    x = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    x = x - x.mean(axis=0)
    _, _, axes = np.linalg.svd(x, full_matrices=False)
    return x @ axes[:2].T


def plot_cost_landscape(grid_x, grid_y, values, z, source, index, ax=None, title=None, legend=True):
    """Contour map of one sample's transport cost over candidate barycenter points y (2-D).

    Parameters
    ----------
    grid_x, grid_y : arrays, shapes (nx,), (ny,)
        Grid coordinates.
    values : array, shape (ny, nx)
        Cost of sample ``index`` with its barycenter point at each grid node
        (:func:`baryir.costs.cost_landscape`).
    z : array, shape (N, 2)
        The batch's latents; sample ``index`` is starred, the others coloured by source.
    source : array of int, shape (N,)
    index : int
    legend : bool
        Draw the legend.
    """
    fig, ax = _axes(ax)
    z, source = np.asarray(z), np.asarray(source)
    filled = ax.contourf(grid_x, grid_y, values, levels=20, cmap="viridis")
    fig.colorbar(filled, ax=ax, shrink=0.8, label="cost")
    best = np.unravel_index(np.argmin(values), np.shape(values))
    for k in np.unique(source):
        rows = (source == k) & (np.arange(len(z)) != index)
        ax.scatter(z[rows, 0], z[rows, 1], s=14, edgecolors="white", linewidths=0.5, label=f"source {k}")
    ax.scatter(*z[index], marker="*", s=160, c="red", edgecolors="white", label=f"z (sample {index})")
    ax.scatter(grid_x[best[1]], grid_y[best[0]], marker="X", s=90, c="white", edgecolors="black", linewidths=0.8,
               label="argmin over $y$")
    if legend:  # below the axes, so that it covers no point
        ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax.set_xlabel("$y_1$")
    ax.set_ylabel("$y_2$")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    return fig

# --- 04: model and degradations ------------------------------------------------


def plot_image_grid(grid, row_labels=None, col_labels=None, size=1.8, max_width=10.0, titles=None):
    """A grid of RGB images (e.g. clean images against their degradations).

    Parameters
    ----------
    grid : list of lists of uint8 arrays (H, W, 3)
        ``grid[r][c]`` is drawn in row ``r``, column ``c``.
    row_labels, col_labels : list of str, optional
        Row labels on the left, column titles on top.
    titles : list of lists of str, optional
        A title for every panel (e.g. the parameter value of a sweep); wins over
        ``col_labels``.
    size : float
        Side of one panel in inches; at ``figure.dpi`` d a panel is ``size * d`` pixels,
        so pick it to show the images near their own size.
    max_width : float
        Width cap of the figure in inches (panels shrink to fit).
    """
    n_rows, n_cols = len(grid), max(len(row) for row in grid)
    scale = min(1.0, max_width / (n_cols * size))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * size * scale, n_rows * size * scale), squeeze=False)
    for r, ax_row in enumerate(axes):
        for c, ax in enumerate(ax_row):
            if c < len(grid[r]):
                ax.imshow(grid[r][c])
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if titles is not None and c < len(titles[r]):
                ax.set_title(titles[r][c], fontsize=8)
            elif col_labels is not None and r == 0:
                ax.set_title(col_labels[c], fontsize=8)
            if row_labels is not None and c == 0:
                ax.set_ylabel(row_labels[r], fontsize=8)
    fig.tight_layout()
    return fig


def plot_latent_maps(latents, channels=(0, 1, 2), size=1.8):
    """Feature maps of latent tensors, one row per tensor and one column per channel.

    Parameters
    ----------
    latents : dict of str -> array-like (C, h, w)
        E.g. ``{"z": z[0], "z_B": z_b[0], "s": s[0]}`` for one image.
    channels : sequence of int
        Channels to draw; each row shares one symmetric colour scale, shown by the
        row's colorbar (so rows of very different magnitude stay comparable).
    size : float
        Side of one panel in inches (the figure is capped at 11 inches wide).
    """
    n_cols = len(channels) + 1
    scale = min(1.0, 11 / (n_cols * size + 0.6))
    fig, axes = plt.subplots(
        len(latents), n_cols, figsize=((n_cols * size + 0.6) * scale, len(latents) * size * scale), squeeze=False,
        layout="constrained",
    )
    for ax_row, (name, tensor) in zip(axes, latents.items()):
        values = np.asarray(tensor, dtype=float)
        limit = float(np.abs(values[list(channels)]).max()) or 1.0
        for ax, channel in zip(ax_row, channels):
            image = ax.imshow(values[channel], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"{name}[{channel}]", fontsize=8)
            ax.axis("off")
        fig.colorbar(image, ax=list(ax_row[:-1]), shrink=0.85, pad=0.02).ax.tick_params(labelsize=7)
        ax_row[-1].hist(values.ravel(), bins=40, color="0.4")
        ax_row[-1].set_title(f"{name}: all values", fontsize=8)
        ax_row[-1].set_xlabel("value", fontsize=7)
        ax_row[-1].set_ylabel("count", fontsize=7)
        ax_row[-1].tick_params(labelsize=6)
    return fig


# --- 05: training --------------------------------------------------------------

TRAINING_CURVES = (
    ("l1", "L1 (restored vs clean)"),
    ("cost", "MLOT cost  sum_k lambda_k E[C_k]"),
    ("potential", "potentials  sum_k lambda_k E[f_k(z_B)]"),
    ("congruence", "congruence  mean (sum_k lambda_k f_k)^2"),
)


def plot_training_history(history, curves=TRAINING_CURVES, axes=None, size=3.0, smooth=1):
    """One panel per logged quantity of a training history, against the step.

    Parameters
    ----------
    history : list of dict
        Records from :func:`baryir.train.train` (keys ``step`` and the curve keys);
        a record whose value is None is skipped.
    curves : sequence of (key, title)
    axes : sequence of matplotlib Axes, optional
    size : float
        Panel width in inches (when axes are created).
    smooth : int
        Also draw a trailing moving average over this many records (1: raw only).
    """
    if axes is None:
        fig, axes = plt.subplots(1, len(curves), figsize=(min(10, size * len(curves)), 2.6))
    axes = np.atleast_1d(axes)
    for ax, (key, title) in zip(axes, curves):
        points = [(r["step"], r[key]) for r in history if r.get(key) is not None]
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, lw=0.8, alpha=0.4 if smooth > 1 else 1.0)
            if smooth > 1:
                window = np.ones(min(smooth, len(values))) / min(smooth, len(values))
                ax.plot(steps[len(window) - 1:], np.convolve(values, window, mode="valid"), lw=1.5)
            if min(values) > 0:
                ax.set_yscale("log")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def plot_restoration_rows(rows, size=2.2):
    """Rows of degraded / restored / clean images with PSNR in the titles.

    Parameters
    ----------
    rows : list of dict
        Each with ``"task"``, ``"degraded"``, ``"restored"``, ``"clean"`` (uint8
        (H, W, 3) arrays) and ``"psnr_in"``, ``"psnr_out"`` (dB).
    size : float
        Side of one panel in inches (the figure is capped at 10 inches wide).
    """
    scale = min(1.0, 10 / (3 * size))
    fig, axes = plt.subplots(len(rows), 3, figsize=(3 * size * scale, len(rows) * size * scale), squeeze=False)
    for ax_row, row in zip(axes, rows):
        titles = (
            f"{row['task']}: degraded {row['psnr_in']:.1f} dB",
            f"restored {row['psnr_out']:.1f} dB",
            "clean",
        )
        for ax, key, title in zip(ax_row, ("degraded", "restored", "clean"), titles):
            ax.imshow(row[key])
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    return fig


# --- 06/07: evaluation ---------------------------------------------------------


def plot_psnr_bars(results, sets, ax=None, title=None, reference=None):
    """Grouped bars: PSNR of several methods on several test sets.

    Parameters
    ----------
    results : dict
        Method name -> {test set -> PSNR (dB)}; missing sets are left empty.
    sets : sequence of str
        Test sets, in the order of the groups.
    ax : matplotlib Axes, optional
    title : str, optional
    reference : dict, optional
        Test set -> PSNR of a reference row (e.g. the degraded input), drawn as a
        short black line over each group.
    """
    fig, ax = _axes(ax, figsize=(min(10, 1.2 * len(sets) + 2), 3))
    width = 0.8 / max(len(results), 1)
    x = np.arange(len(sets))
    for i, (method, values) in enumerate(results.items()):
        heights = [values.get(s, np.nan) for s in sets]
        ax.bar(x + (i - (len(results) - 1) / 2) * width, heights, width, label=method)
    if reference is not None:
        for j, s in enumerate(sets):
            if s in reference:
                ax.hlines(reference[s], j - 0.45, j + 0.45, colors="k", lw=1.5)
    ax.set_xticks(x)
    ax.set_xticklabels(sets, fontsize=8)
    ax.set_ylabel("PSNR (dB)", fontsize=8)
    finite = [v for values in results.values() for v in values.values() if np.isfinite(v)]
    if finite:
        ax.set_ylim(min(finite) - 2, max(finite) + 1)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_embeddings(panels, label_names, size=3.2, axis_names=("PC 1", "PC 2")):
    """Side-by-side 2-D embeddings (PCA / t-SNE) coloured by degradation (paper Fig. 5).

    Parameters
    ----------
    panels : dict
        Panel title -> points (n, 2).
    label_names : sequence of str
        Legend entry of every point (length n), e.g. the degradation of each patch.
    size : float
        Panel side in inches (the figure is capped at 10 inches wide).
    axis_names : tuple of str
        Labels of the two embedding axes (the principal components by default).
    """
    label_names = np.asarray(label_names)
    kinds = list(dict.fromkeys(label_names))
    scale = min(1.0, 10 / (len(panels) * size))
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * size * scale, size * scale), squeeze=False)
    for ax, (title, points) in zip(axes[0], panels.items()):
        for kind in kinds:
            mask = label_names == kind
            ax.scatter(points[mask, 0], points[mask, 1], s=8, alpha=0.7, label=kind)
        ax.set(xticks=[], yticks=[], xlabel=axis_names[0], ylabel=axis_names[1])
        ax.set_title(title, fontsize=9)
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


# --- style ---------------------------------------------------------------------


def show_jpeg(fig, quality: int = 85):
    """Display ``fig`` in a notebook as a JPEG and close it (for photographs).

    A grid of photographs stored as PNG takes about 2 bytes per pixel in a committed
    notebook; as a JPEG of this quality it takes a fraction of that and looks the same.
    Line art (plots, diagrams) stays PNG, with ``plt.show()``.
    """
    import io

    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg", bbox_inches="tight", pil_kwargs={"quality": quality})
    plt.close(fig)
    display(Image(data=buffer.getvalue(), format="jpeg"))


# --- 04: the network diagram ------------------------------------------------------

#: Stages of :func:`plot_network_diagram`: key -> (x, y, label, colour) on its canvas.
DIAGRAM_LAYOUT = {
    "input": (0.0, 5.0, "degraded x", "0.85"),
    "encoder 1": (0.0, 4.0, "encoder level 1", "#9ecae1"),
    "encoder 2": (0.0, 3.0, "encoder level 2", "#9ecae1"),
    "encoder 3": (0.0, 2.0, "encoder level 3", "#9ecae1"),
    "z": (0.0, 0.8, "latent $z$ = LN(level 4)", "#6baed6"),
    "z_B": (3.2, 0.8, "$z^B$ = LN($T(z)$)", "#fd8d3c"),
    "s": (3.2, -0.5, "$s = z - z^B$", "#74c476"),
    "aggregation": (6.4, 0.8, "aggregation: concat($z^B$, $s$)\n-> block -> 1x1 conv", "#fdd0a2"),
    "s-branch 3": (4.6, 2.0, "s-branch", "#c7e9c0"),
    "s-branch 2": (4.6, 3.0, "s-branch", "#c7e9c0"),
    "s-branch 1": (4.6, 4.0, "s-branch", "#c7e9c0"),
    "decoder 3": (8.2, 2.0, "decoder level 3", "#fdae6b"),
    "decoder 2": (8.2, 3.0, "decoder level 2", "#fdae6b"),
    "decoder 1": (8.2, 4.0, "decoder level 1", "#fdae6b"),
    "output": (8.2, 5.0, "refinement, conv\n+ x = restored", "0.85"),
}


def plot_network_diagram(shapes, title=None, width=11.0):
    """Block diagram of BaryIR (paper Fig. 2) annotated with tensor shapes.

    Parameters
    ----------
    shapes : dict of str -> tuple
        Shape ``(C, H, W)`` of the output of every stage named in
        :data:`DIAGRAM_LAYOUT` (read them from a forward pass, e.g. with hooks).
    title : str, optional
    width : float
        Figure width in inches.
    """
    from matplotlib.patches import FancyBboxPatch

    missing = sorted(set(DIAGRAM_LAYOUT) - set(shapes))
    if missing:
        raise ValueError(f"shapes lacks the stage(s) {missing}")
    fig, ax = plt.subplots(figsize=(width, width * 0.56))
    box_w, box_h = 2.1, 0.62
    for key, (x, y, label, colour) in DIAGRAM_LAYOUT.items():
        shape = " x ".join(str(v) for v in shapes[key])
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle="round,pad=0.03",
                                    facecolor=colour, edgecolor="0.3", linewidth=0.8))
        ax.text(x, y + 0.09, label, ha="center", va="center", fontsize=7.5)
        ax.text(x, y - 0.2, shape, ha="center", va="center", fontsize=7.5, family="monospace")

    def arrow(a, b, style="-|>", colour="0.2", dashed=False, text=None, bend=0.0):
        (xa, ya), (xb, yb) = a, b
        ax.annotate("", xy=(xb, yb), xytext=(xa, ya),
                    arrowprops=dict(arrowstyle=style, color=colour, lw=1.0, linestyle="--" if dashed else "-",
                                    shrinkA=0, shrinkB=0, connectionstyle=f"arc3,rad={bend}"))
        if text:
            ax.text((xa + xb) / 2, (ya + yb) / 2 + 0.1, text, ha="center", va="bottom", fontsize=7, color=colour)

    def edge(key, side):
        x, y = DIAGRAM_LAYOUT[key][:2]
        return {"top": (x, y + box_h / 2), "bottom": (x, y - box_h / 2),
                "left": (x - box_w / 2, y), "right": (x + box_w / 2, y)}[side]

    chain = ["input", "encoder 1", "encoder 2", "encoder 3", "z"]
    for a, b in zip(chain, chain[1:]):
        arrow(edge(a, "bottom"), edge(b, "top"))
    arrow(edge("z", "right"), edge("z_B", "left"), text="$T$")
    arrow(edge("z", "bottom"), edge("s", "left"), bend=0.25)
    arrow(edge("z_B", "bottom"), edge("s", "top"))
    ax.text(3.35, 0.16, "$-$", fontsize=9, color="0.2")
    arrow(edge("z_B", "right"), edge("aggregation", "left"))
    arrow(edge("s", "right"), (DIAGRAM_LAYOUT["aggregation"][0] - 0.4, DIAGRAM_LAYOUT["aggregation"][1] - box_h / 2),
          bend=0.2)
    xs = DIAGRAM_LAYOUT["s"][0] + box_w / 2
    arrow((xs, -0.5), edge("s-branch 3", "bottom"), colour="#31a354", bend=0.3)
    for low, high in (("s-branch 3", "s-branch 2"), ("s-branch 2", "s-branch 1")):
        arrow(edge(low, "top"), edge(high, "bottom"), colour="#31a354")
    arrow(edge("aggregation", "top"), edge("decoder 3", "bottom"), bend=-0.15)
    for low, high in (("decoder 3", "decoder 2"), ("decoder 2", "decoder 1"), ("decoder 1", "output")):
        arrow(edge(low, "top"), edge(high, "bottom"))
    for level in (1, 2, 3):
        encoder, branch, decoder = f"encoder {level}", f"s-branch {level}", f"decoder {level}"
        arrow(edge(encoder, "right"), edge(branch, "left"), colour="0.45", dashed=True, text="skip")
        arrow(edge(branch, "right"), edge(decoder, "left"), colour="#31a354", text="+ 0.8 x")
    arrow(edge("input", "right"), edge("output", "left"), colour="0.45", dashed=True, text="global residual")
    ax.set_xlim(-1.9, 9.6)
    ax.set_ylim(-1.1, 5.6)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)


# --- 05/06: trained models -----------------------------------------------------

GRADIENT_GROUPS = (("encoder", "encoder"), ("map", "barycenter map T"), ("decoder", "decoder"))


def plot_gradient_norms(history, groups=GRADIENT_GROUPS, axes=None, size=3.2, smooth=1):
    """Gradient norms of the L1 term and of the barycenter terms on each parameter group.

    Parameters
    ----------
    history : list of dict
        Records of :func:`baryir.train.train` with ``grad_l1_<group>`` and
        ``grad_bary_<group>`` (:data:`baryir.train.GRADIENT_FIELDS`); records without
        them are skipped.
    groups : sequence of (key, title)
        Parameter groups, one panel each.
    axes : sequence of matplotlib Axes, optional
    size : float
        Panel width in inches (when axes are created; the figure is capped at 10 inches).
    smooth : int
        Trailing moving average over this many records (1: raw values).

    Notes
    -----
    The y axis is logarithmic. A term whose norm is zero in every record (no path from
    that term to the group, e.g. the barycenter terms and the decoder) is not drawn;
    the panel says so instead.
    """
    if axes is None:
        fig, axes = plt.subplots(1, len(groups), figsize=(min(10, size * len(groups)), 2.6), sharey=True)
    axes = np.atleast_1d(axes)
    terms = (("l1", "L1 term"), ("bary", "barycenter terms"))
    for ax, (group, title) in zip(axes, groups):
        for color, (term, label) in enumerate(terms):
            key = f"grad_{term}_{group}"
            points = [(r["step"], r[key]) for r in history if r.get(key) is not None]
            if not points:
                continue
            steps, values = (np.asarray(v, dtype=float) for v in zip(*points))
            if not np.any(values > 0):
                ax.text(0.5, 0.08 + 0.1 * color, f"{label}: 0 (no path)", transform=ax.transAxes,
                        ha="center", fontsize=7, color=f"C{color}")
                continue
            window = max(1, min(smooth, len(values)))
            averaged = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(steps[window - 1:], np.maximum(averaged, np.finfo(float).tiny), lw=1.2,
                    color=f"C{color}", label=label)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("gradient L2 norm", fontsize=8)
    axes[0].legend(fontsize=7)
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def plot_restoration_errors(rows, size=1.6, cmap="magma"):
    """Per row: degraded / restored / clean images and the absolute-error maps of both inputs.

    Parameters
    ----------
    rows : list of dict
        Each with ``"task"``, ``"degraded"``, ``"restored"``, ``"clean"`` (uint8
        (H, W, 3) arrays of one shape) and ``"psnr_in"``, ``"psnr_out"`` (dB).
    size : float
        Side of one panel in inches (the figure is capped at 10 inches wide).
    cmap : str
        Colour map of the error maps.

    Notes
    -----
    The error maps are the mean over channels of ``|image - clean|`` in 8-bit units,
    drawn on one colour scale per row (0 to the 99th percentile of the degraded
    input's error), so the two maps of a row compare directly.
    """
    n_cols = 5
    scale = min(1.0, 10 / (n_cols * size))
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(n_cols * size * scale, len(rows) * size * scale),
                             squeeze=False)
    for ax_row, row in zip(axes, rows):
        clean = np.asarray(row["clean"], dtype=np.float64)
        errors = [np.abs(np.asarray(row[key], dtype=np.float64) - clean).mean(axis=-1) for key in ("degraded", "restored")]
        vmax = max(float(np.percentile(errors[0], 99)), 1.0)
        panels = (
            (row["degraded"], f"{row['task']}: input {row['psnr_in']:.1f} dB"),
            (row["restored"], f"restored {row['psnr_out']:.1f} dB"),
            (row["clean"], "clean"),
            (errors[0], "|input - clean|"),
            (errors[1], "|restored - clean|"),
        )
        for ax, (image, title) in zip(ax_row, panels):
            if image.ndim == 2:
                ax.imshow(image, cmap=cmap, vmin=0.0, vmax=vmax)
            else:
                ax.imshow(image)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig


# --- style shared by all notebooks ----------------------------------------------

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "figure.titlesize": 11,
    "legend.framealpha": 0.9,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Set the figure style of every notebook: >= 100 dpi on screen and readable fonts.

    Call it once, right after the imports (after ``%matplotlib inline``): it updates
    ``matplotlib.rcParams`` with :data:`STYLE`.
    """
    plt.rcParams.update(STYLE)


# --- 01: entropic plans ------------------------------------------------------------


def plot_plan_matrix(plan, ax=None, title=None, floor=1e-5, vmax=None, colorbar=True):
    """Show a transport plan (n, m) as an image on a logarithmic colour scale.

    A log scale keeps both a sparse exact plan and a diffuse entropic one visible;
    entries below ``floor`` (including exact zeros) are drawn white.

    Parameters
    ----------
    plan : array, shape (n, m)
    floor : float
        Smallest mass shown.
    vmax : float, optional
        Mass at the top of the colour scale (default: the plan's largest entry); give
        several panels the same value to compare them on one scale.
    colorbar : bool
        Add a colorbar labelled with the mass ``pi_ij``.
    """
    from matplotlib.colors import LogNorm

    fig, ax = _axes(ax)
    plan = np.asarray(plan, dtype=float)
    cmap = plt.get_cmap("magma_r").with_extremes(under="white")
    image = ax.imshow(np.where(plan >= floor, plan, floor / 2), cmap=cmap,
                      norm=LogNorm(vmin=floor, vmax=max(plan.max() if vmax is None else vmax, 2 * floor)))
    ax.set(xlabel="target j", ylabel="source i")
    if colorbar:
        fig.colorbar(image, ax=ax, shrink=0.8, label=r"mass $\pi_{ij}$")
    if title:
        ax.set_title(title)
    return fig


# --- 02: weights and potentials ------------------------------------------------------


def plot_weighted_barycenter(means, covs, weights, bary_mean, bary_cov, ax=None, samples=None, title=None,
                             legend=True):
    """Gaussian sources and their barycenter as 2-std ellipses, with the weights.

    Each source ellipse is drawn with a line width that grows with its weight
    ``lambda_k`` and a dot at its mean; the barycenter is the thick black ellipse, its
    mean a black cross (it lies at ``sum_k lambda_k m_k``).

    Parameters
    ----------
    means : array, shape (K, 2)
    covs : array, shape (K, 2, 2)
    weights : array, shape (K,)
    bary_mean : array, shape (2,)
    bary_cov : array, shape (2, 2)
    samples : array, shape (n, 2), optional
        Points to scatter under the ellipses (e.g. a solver's pushforward samples).
    legend : bool
        Draw the legend (outside the axes, on the right).
    """
    fig, ax = _axes(ax)
    if samples is not None:
        samples = np.asarray(samples)
        ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.3, color="0.45", label="samples")
    for k, (mean, cov, weight) in enumerate(zip(means, covs, weights)):
        plot_gaussian_ellipse(mean, cov, ax=ax, color=f"C{k}", lw=0.8 + 4 * weight, label=f"$P_{k + 1}$")
        ax.plot(*mean, "o", color=f"C{k}", ms=4)
    plot_gaussian_ellipse(bary_mean, bary_cov, ax=ax, color="k", lw=2.2, label="exact barycenter")
    ax.plot(*bary_mean, "kx", ms=8, mew=2)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    if title:
        ax.set_title(title)
    return fig


def plot_potential_contours(grid_x, grid_y, values, ax=None, true_values=None, points=None, title=None):
    """Filled contours of a potential f(y) on a 2-D grid, with a colorbar.

    Parameters
    ----------
    grid_x, grid_y : arrays, shapes (nx,), (ny,)
    values : array, shape (ny, nx)
        The potential at the grid nodes.
    true_values : array, shape (ny, nx), optional
        A reference potential, drawn as dashed black contour lines at the same levels.
    points : array, shape (n, 2), optional
        Points to overlay (e.g. where the source's samples land, T(z, k)).
    """
    fig, ax = _axes(ax)
    levels = np.linspace(np.min(values), np.max(values), 13)
    filled = ax.contourf(grid_x, grid_y, values, levels=levels, cmap="viridis")
    fig.colorbar(filled, ax=ax, shrink=0.8, label="potential value")
    if true_values is not None:
        ax.contour(grid_x, grid_y, true_values, levels=levels, colors="k", linestyles="--", linewidths=0.8)
    if points is not None:
        points = np.asarray(points)
        ax.scatter(points[:, 0], points[:, 1], s=2, color="white", alpha=0.5)
    ax.set_aspect("equal")
    ax.set(xlabel="$y_1$", ylabel="$y_2$")
    if title:
        ax.set_title(title)
    return fig


# --- 06: the ablation ----------------------------------------------------------------


def plot_gradient_sweep(sweep, ax=None):
    """Gradient-norm ratio (barycenter terms / L1 term) against the barycenter weight.

    Parameters
    ----------
    sweep : dict
        The ``sweep`` part of an ablation report (:func:`baryir.ablation.run_ablation`):
        ``weights``, ``ratio`` {group: [median ratio per weight]}, ``target_ratio``,
        ``chosen_weight``.
    """
    fig, ax = _axes(ax, figsize=(4.5, 3.2))
    for group, values in sweep["ratio"].items():
        values = np.asarray(values, dtype=float)
        if np.any(values > 0):
            ax.loglog(sweep["weights"], np.where(values > 0, values, np.nan), "o-", label=f"on {group}")
        else:
            ax.plot([], [], " ", label=f"on {group}: 0 (no gradient)")
    low, high = sweep["target_ratio"]
    ax.axhspan(low, high, color="0.85", zorder=0, label="target band on T")
    ax.axvline(sweep["chosen_weight"], color="k", ls="--", lw=1, label=f"chosen weight {sweep['chosen_weight']:g}")
    ax.set(xlabel="barycenter_weight", ylabel="||grad barycenter|| / ||grad L1||")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_paired_differences(differences, ax=None, title=None):
    """Horizontal bars: each variant's seed-paired difference to the full model.

    Parameters
    ----------
    differences : dict
        Variant -> (mean, std) over seeds of (variant - full model), in dB
        (:func:`baryir.ablation.paired_differences`).
    """
    names = list(differences)
    fig, ax = _axes(ax, figsize=(5.5, 0.35 * len(names) + 1.2))
    means = [differences[n][0] for n in names]
    spreads = [differences[n][1] for n in names]
    y = np.arange(len(names))
    ax.barh(y, means, xerr=spreads, color=["C3" if m < 0 else "C2" for m in means], capsize=3)
    ax.axvline(0, color="k", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    if not ax.yaxis_inverted():  # first variant on top (axes sharing y are inverted once)
        ax.invert_yaxis()
    ax.set_xlabel("difference to the full model (dB), mean ± std over seeds")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_probe_accuracies(probes, chance, ax=None, codes=("z", "z_b", "s")):
    """Grouped bars: linear-probe accuracy of the degradation type per code and model.

    Parameters
    ----------
    probes : dict
        Model (e.g. ``"untrained"``, ``"trained"``) -> list over seeds of {code: accuracy}
        (an ablation report's ``probes["per_seed"]``). Bars show the mean over seeds,
        error bars the range (min to max).
    chance : float
        Accuracy of always guessing the most frequent type (dashed line).
    codes : sequence of str
        Which codes, in the order of the groups.
    """
    fig, ax = _axes(ax, figsize=(5.5, 3.2))
    width = 0.8 / len(probes)
    x = np.arange(len(codes))
    for i, (model, runs) in enumerate(probes.items()):
        values = np.array([[run[code] for code in codes] for run in runs])
        mean = values.mean(axis=0)
        ax.bar(x + (i - (len(probes) - 1) / 2) * width, mean, width, color=f"C{i}", label=model,
               yerr=[mean - values.min(axis=0), values.max(axis=0) - mean], capsize=3)
    ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance ({chance:.2f})")
    ax.set_xticks(x)
    ax.set_xticklabels({"z": "$z$", "z_b": "$z^B$", "s": "$s$"}.get(code, code) for code in codes)
    ax.set(ylim=(0, 1), ylabel="probe accuracy (held-out photographs)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


def plot_latent_ratio(curves, ax=None):
    """``||s|| / ||z||`` over training, one line per run.

    Parameters
    ----------
    curves : dict
        Label -> list of ``[step, ratio]`` pairs (an ablation report's ``s_over_z``).
    """
    fig, ax = _axes(ax, figsize=(4.5, 3.2))
    for i, (label, points) in enumerate(curves.items()):
        points = np.asarray(points, dtype=float)
        ax.plot(points[:, 0], points[:, 1], color=f"C{i % 10}", label=label)
    ax.set(xlabel="training step", ylabel="||s|| / ||z||", yscale="log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
