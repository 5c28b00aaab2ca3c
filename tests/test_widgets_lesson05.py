"""The shift explorer of lesson 08: builds without a display, reacts to its controls, and its
numbers are right."""
import numpy as np
import pytest

from helpers import conv
from helpers.widgets import shift_invariance as si


@pytest.fixture(scope="module")
def image():
    # a small synthetic picture with thin vertical bars: quick, and strong edges to pool
    rng = np.random.default_rng(0)
    img = np.zeros((40, 36), np.float32)
    for c in rng.choice(np.arange(4, 32), size=6, replace=False):
        img[5:35, c] = 1.0
    return img + 0.05 * rng.random((40, 36), dtype=np.float32)


@pytest.fixture(scope="module")
def explorer(image):
    return si.shift_invariance_explorer(image)


def test_builds_with_controls_state_and_picture(explorer):
    assert set(explorer.controls) == {"shift", "direction", "pooling", "window"}
    assert explorer.controls["shift"].max == 3
    assert "pixels" in explorer.controls["shift"].description
    assert "pixels" in explorer.controls["window"].description
    assert explorer.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert explorer.state["shift"] == 0 and explorer.state["conv_change"] == 0
    assert explorer.state["pool_unchanged"] == 1.0


def test_setting_the_shift_updates_state_text_and_picture(explorer):
    before_png = explorer.image.value
    explorer.controls["shift"].value = 1
    st = explorer.state
    assert st["shift"] == 1
    assert 0 < st["pool_change"] < st["conv_change"]
    assert "Shift 1 pixel right" in explorer.text.value
    assert explorer.image.value != before_png
    explorer.controls["shift"].value = 0
    assert explorer.state["conv_change"] == 0


def test_larger_window_changes_less(explorer):
    c = explorer.controls
    c["shift"].value = 1
    c["window"].value = 2
    two = explorer.state["pool_change"]
    c["window"].value = 4
    four = explorer.state["pool_change"]
    assert four < two
    assert explorer.state["pool_shape"] == tuple(s // 4 for s in explorer.state["conv_shape"])
    c["window"].value = 2
    c["shift"].value = 0


def test_direction_and_pooling_controls(explorer):
    c = explorer.controls
    c["shift"].value = 2
    c["direction"].value = "down"
    assert explorer.state["direction"] == "down"
    # vertical bars moved down: the feature map changes far less than when they move sideways
    down = explorer.state["conv_change"]
    c["direction"].value = "right"
    right = explorer.state["conv_change"]
    assert down < right
    c["pooling"].value = "average"
    assert explorer.state["pooling"] == "average"
    assert "Average-pooled" in explorer.text.value
    c["pooling"].value = "max"
    c["shift"].value = 0


def test_curves_match_the_current_state(explorer):
    explorer.controls["shift"].value = 3
    st = explorer.state
    assert st["curves"]["conv_change"][3] == st["conv_change"]
    assert st["curves"]["pool_change"][3] == st["pool_change"]
    assert len(st["curves"]["conv_change"]) == 4
    explorer.controls["shift"].value = 0


def test_shifted_pair_moves_content(image):
    base, moved = si.shifted_pair(image, 2, "right")
    assert base.shape == moved.shape == (37, 33)
    assert np.array_equal(moved[:, 2:], base[:, :-2])        # content moved 2 pixels right
    base, moved = si.shifted_pair(image, 1, "diagonal")
    assert np.array_equal(moved[1:, 1:], base[:-1, :-1])
    with pytest.raises(ValueError, match="direction"):
        si.shifted_pair(image, 1, "left")
    with pytest.raises(ValueError, match="shift"):
        si.shifted_pair(image, 4, "right")


def test_pooling_shift_by_a_whole_window_moves_the_map(image):
    # shifting by exactly the pooling window moves the pooled map by one cell (equivariance)
    base, moved = si.shifted_pair(image, 2, "right")
    p0 = si.pool(si.feature_map(base), "max", 2)
    p1 = si.pool(si.feature_map(moved), "max", 2)
    assert np.allclose(p1[..., 1:], p0[..., :-1])


def test_change_measures():
    a = np.array([0.0, 1.0, 2.0, 0.0])
    assert si.relative_change(a, a) == 0
    assert si.unchanged_fraction(a, a) == 1
    b = np.array([0.0, 1.0, 3.0, 0.0])
    assert si.unchanged_fraction(a, b) == 0.5               # of the two active positions, one changed
    assert np.isclose(si.relative_change(a, b), 1 / np.sqrt(5))
    assert si.unchanged_fraction(np.zeros(3), np.zeros(3)) == 1


def test_feature_map_is_relu_of_conv(image):
    f = si.feature_map(image)
    ref = np.maximum(conv.conv2d(image[None, None], si.SOBEL_X[None, None]), 0)
    assert np.array_equal(f, ref)
    with pytest.raises(ValueError, match="pooling"):
        si.pool(f, "median")


def test_default_image_is_the_photograph():
    ex = si.shift_invariance_explorer()
    assert ex.state["conv_shape"] == (145, 123)             # (150 - 3) - 2, (128 - 3) - 2
    ex.controls["shift"].value = 1
    assert ex.state["pool_unchanged"] > ex.state["conv_unchanged"]


def test_rejects_colour_image():
    with pytest.raises(ValueError, match="2-D"):
        si.shift_invariance_explorer(np.zeros((10, 10, 3)))


# --- the figures the lessons 05 and 09 draw with (helpers.plots) -------------------------------

def test_pooling_diagram_and_gradient_routing():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from helpers import plots

    b = np.array([[1, 2, 0, 1, 3], [0, 4, 1, 2, 1], [2, 1, 9, 0, 2], [1, 3, 2, 1, 0], [0, 2, 1, 11, 1]], float)
    fig, out = plots.pooling_diagram(b, 3, 2, title="t")
    assert np.array_equal(out, conv.max_pool2d(b[None, None], 3, stride=2)[0, 0])
    assert len(fig.axes[0].patches) == 4 + 4                  # four windows, four circled maxima
    fig2, avg = plots.pooling_diagram(b, 3, 2, mode="average")
    assert np.allclose(avg, conv.avg_pool2d(b[None, None], 3, stride=2)[0, 0])
    dout = np.array([[1.0, 2], [3, 4]])
    _, cache = conv.max_pool2d_forward(b[None, None], 3, 2)
    dx = conv.max_pool2d_backward(dout[None, None], cache)[0, 0]
    fig3 = plots.gradient_routing(b, dout, dx, 3, 2, title="t")
    assert [a.get_title() for a in fig3.axes] == ["x (forward input)", "dout (from above)", "dx = gradient for x"]
    plt.close("all")


def test_channel_sum_is_the_convolution():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from helpers import plots

    rng = np.random.default_rng(0)
    x = rng.random((3, 12, 10), dtype=np.float32)
    w = rng.standard_normal((3, 3, 3)).astype(np.float32)
    fig, out = plots.channel_sum(x, w, 0.5, names=["r", "g", "b"])
    ref = conv.conv2d(x[None], w[None], np.array([0.5], np.float32))[0, 0]
    assert np.allclose(out, ref, atol=1e-5)
    assert fig.axes[0].get_title() == "input: r"
    plt.close("all")
