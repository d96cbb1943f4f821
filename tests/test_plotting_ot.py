"""The figure style and the plotting helpers of notebooks 01 and 02 (Agg backend, no display)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from baryir import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_use_style_sets_a_readable_resolution():
    with matplotlib.rc_context():
        plotting.use_style()
        assert plt.rcParams["figure.dpi"] >= 100 and plt.rcParams["savefig.dpi"] >= 100
        assert plt.rcParams["font.size"] >= 9 and plt.rcParams["legend.fontsize"] >= 8


def test_plan_matrix_shows_zeros_white_on_a_shared_log_scale():
    plan = np.array([[0.5, 0.0], [1e-3, 0.25]])
    fig = plotting.plot_plan_matrix(plan, vmax=1.0)
    image = fig.axes[0].images[0]
    assert image.norm.vmin == pytest.approx(1e-5) and image.norm.vmax == pytest.approx(1.0)
    assert image.get_array()[0, 1] < image.norm.vmin  # an exact zero falls below the scale: drawn white
    assert len(fig.axes) == 2  # the image and its colorbar


def test_clouds_legend_sits_outside_the_axes():
    fig = plotting.plot_clouds([np.zeros((5, 2)), np.ones((5, 2))], labels=["a", "b"])
    ax = fig.axes[0]
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1  # right of the axes, so it covers no point


def test_solver_history_marks_the_penalty_offset():
    history = {"step": [0, 1, 2], "F": [0.1, 0.3, 0.41], "residual": [0.2, 0.06, 0.05]}
    fig = plotting.plot_solver_history(history, optimal_value=0.36, penalty_weight=10.0)
    objective_lines = [line.get_ydata()[0] for line in fig.axes[0].get_lines()[1:]]
    assert objective_lines == pytest.approx([0.36, 0.41])  # L* and L* + 1/(2w)
    assert fig.axes[1].get_lines()[-1].get_ydata()[0] == pytest.approx(0.05)  # 1/(2w)


def test_weighted_barycenter_and_potential_contours_draw():
    covs = np.stack([np.eye(2), 2 * np.eye(2)])
    fig = plotting.plot_weighted_barycenter(np.array([[0.0, 1.0], [0.0, -1.0]]), covs, np.array([0.7, 0.3]),
                                            np.array([0.0, 0.4]), 1.4 * np.eye(2), samples=np.zeros((4, 2)))
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert labels == ["samples", "$P_1$", "$P_2$", "exact barycenter"]
    grid = np.linspace(-1, 1, 5)
    values = np.add.outer(grid, grid)
    fig = plotting.plot_potential_contours(grid, grid, values, true_values=values, points=np.zeros((3, 2)))
    assert len(fig.axes) == 2  # contours and colorbar
