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
    """Contour map of one sample's transport cost over candidate barycenter points (2-D).

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
    fig.colorbar(filled, ax=ax, shrink=0.8)
    best = np.unravel_index(np.argmin(values), np.shape(values))
    for k in np.unique(source):
        rows = (source == k) & (np.arange(len(z)) != index)
        ax.scatter(z[rows, 0], z[rows, 1], s=14, edgecolors="white", linewidths=0.5, label=f"source {k}")
    ax.scatter(*z[index], marker="*", s=160, c="red", edgecolors="white", label=f"z (sample {index})")
    ax.scatter(grid_x[best[1]], grid_y[best[0]], marker="x", s=80, c="white", label="argmin over $z_B$")
    if legend:
        ax.legend(fontsize=6, loc="lower left", framealpha=0.6)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    return fig

# --- 04: model and degradations ------------------------------------------------


def plot_image_grid(grid, row_labels=None, col_labels=None, size=1.8):
    """A grid of RGB images (e.g. clean images against their degradations).

    Parameters
    ----------
    grid : list of lists of uint8 arrays (H, W, 3)
        ``grid[r][c]`` is drawn in row ``r``, column ``c``.
    row_labels, col_labels : list of str, optional
        Row labels on the left, column titles on top.
    size : float
        Side of one panel in inches (the figure is capped at 10 inches wide).
    """
    n_rows, n_cols = len(grid), max(len(row) for row in grid)
    scale = min(1.0, 10 / (n_cols * size))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * size * scale, n_rows * size * scale), squeeze=False)
    for r, ax_row in enumerate(axes):
        for c, ax in enumerate(ax_row):
            if c < len(grid[r]):
                ax.imshow(grid[r][c])
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col_labels is not None and r == 0:
                ax.set_title(col_labels[c], fontsize=8)
            if row_labels is not None and c == 0:
                ax.set_ylabel(row_labels[r], fontsize=8)
    fig.tight_layout()
    return fig


def plot_latent_maps(latents, channels=(0, 1, 2), size=1.6):
    """Feature maps of latent tensors, one row per tensor and one column per channel.

    Parameters
    ----------
    latents : dict of str -> array-like (C, h, w)
        E.g. ``{"z": z[0], "z_B": z_b[0], "s": s[0]}`` for one image.
    channels : sequence of int
        Channels to draw; each row shares one symmetric colour scale.
    size : float
        Side of one panel in inches (the figure is capped at 10 inches wide).
    """
    n_cols = len(channels) + 1
    scale = min(1.0, 10 / (n_cols * size))
    fig, axes = plt.subplots(
        len(latents), n_cols, figsize=(n_cols * size * scale, len(latents) * size * scale), squeeze=False
    )
    for ax_row, (name, tensor) in zip(axes, latents.items()):
        values = np.asarray(tensor, dtype=float)
        limit = float(np.abs(values[list(channels)]).max()) or 1.0
        for ax, channel in zip(ax_row, channels):
            ax.imshow(values[channel], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"{name}[{channel}]", fontsize=8)
            ax.axis("off")
        ax_row[-1].hist(values.ravel(), bins=40, color="0.4")
        ax_row[-1].set_title(f"{name}: all values", fontsize=8)
        ax_row[-1].tick_params(labelsize=6)
    fig.tight_layout()
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


def plot_embeddings(panels, label_names, size=3.2):
    """Side-by-side 2-D embeddings (PCA / t-SNE) coloured by degradation (paper Fig. 5).

    Parameters
    ----------
    panels : dict
        Panel title -> points (n, 2).
    label_names : sequence of str
        Legend entry of every point (length n), e.g. the degradation of each patch.
    size : float
        Panel side in inches (the figure is capped at 10 inches wide).
    """
    label_names = np.asarray(label_names)
    kinds = list(dict.fromkeys(label_names))
    scale = min(1.0, 10 / (len(panels) * size))
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * size * scale, size * scale), squeeze=False)
    for ax, (title, points) in zip(axes[0], panels.items()):
        for kind in kinds:
            mask = label_names == kind
            ax.scatter(points[mask, 0], points[mask, 1], s=8, alpha=0.7, label=kind)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(fontsize=7, loc="best")
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
