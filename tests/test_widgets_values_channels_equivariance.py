"""The explorers of lessons 01-06 that show numbers: the value stepper (padding and stride), the
channel explorer (one filter on three channels) and the equivariance explorer (shift, then
convolve). Each is driven from code, as a learner's clicks would, and every number it shows is
compared with ``helpers.conv``. Speed is not tested here (timings are noisy on shared
machines): the browser test measures every explorer's update in JupyterLab."""
import ipywidgets as widgets
import numpy as np
import pytest

from helpers import conv
from helpers.widgets.channel_explorer import PRESETS, channel_explorer, channel_maps, preset
from helpers.widgets.conv_stepper import EXAMPLE_IMAGE, window_equation
from helpers.widgets.equivariance import (FILTERS, equivariance, equivariance_explorer, inside_mask,
                                          shift_image)
from helpers.widgets.filter_explorer import make_filter
from helpers.widgets.value_stepper import EXAMPLE_KERNEL, step_values, value_stepper

PNG = b"\x89PNG"


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def labelled_with_units(box, unitless=("window #", "filter", "play")):
    """Every control has a label; every slider's label names its unit (in parentheses)."""
    controls = [w for w in walk(box) if isinstance(w, (widgets.IntSlider, widgets.FloatSlider,
                                                       widgets.Dropdown, widgets.Checkbox))]
    assert controls
    for w in controls:
        assert w.description.strip(), f"a {type(w).__name__} has no label"
        if isinstance(w, (widgets.IntSlider, widgets.FloatSlider)) and w.description not in unitless:
            assert "(" in w.description, w.description
    return True


def reference(x, k, s, p):
    return conv.conv2d_naive(np.asarray(x, np.float64)[None, None], np.asarray(k, np.float64)[None, None],
                             stride=s, padding=p)[0, 0]


# --- value stepper (lesson 03) ---------------------------------------------------------------

@pytest.fixture
def vs():
    return value_stepper()


def test_value_stepper_builds_on_the_lesson_01_example(vs):
    assert set(vs.controls) == {"n", "stride", "padding", "step", "play"}
    assert "cnn-value-stepper" in vs._dom_classes
    assert labelled_with_units(vs)
    st = vs.state
    assert (st["n"], st["stride"], st["padding"], st["error"]) == (5, 1, 1, None)
    np.testing.assert_array_equal(st["image"], EXAMPLE_IMAGE)
    np.testing.assert_array_equal(st["padded"], conv.pad(EXAMPLE_IMAGE, 1))
    np.testing.assert_array_equal(st["out"], reference(EXAMPLE_IMAGE, EXAMPLE_KERNEL, 1, 1))
    assert st["out_shape"] == (5, 5) and st["n_steps"] == 25 and vs.controls["step"].max == 24
    assert st["position"] == (0, 0) and st["window_origin"] == (0, 0)
    # the first window sits on the corner: 5 of its 9 pixels are padding
    assert st["padding_terms"] == 5
    assert st["value"] == st["out"][0, 0] == float(np.sum(st["window"] * EXAMPLE_KERNEL))
    assert st["equation"] == window_equation(st["window"], EXAMPLE_KERNEL, 0, 0, st["value"])
    assert "out[0, 0] = " in vs.equation.value and "5 of the 9 products read a padding zero" in vs.equation.value
    assert "⌊(5 + 2·1 − 3) / 1⌋ + 1 = 4 + 1 = 5" in vs.equation.value
    assert bytes(vs.image.value).startswith(PNG)


def test_value_stepper_window_slider_and_play(vs):
    before = bytes(vs.image.value)
    vs.controls["step"].value = 7                           # out[1, 2]
    st = vs.state
    assert st["position"] == (1, 2) and st["window_origin"] == (1, 2)
    np.testing.assert_array_equal(st["window"], conv.pad(EXAMPLE_IMAGE, 1)[1:4, 2:5])
    np.testing.assert_array_equal(st["products"], st["window"] * EXAMPLE_KERNEL)
    assert st["value"] == reference(EXAMPLE_IMAGE, EXAMPLE_KERNEL, 1, 1)[1, 2] == st["products"].sum()
    assert st["padding_terms"] == 0
    assert f"out[1, 2] = " in vs.equation.value and "no product reads the padding" in vs.equation.value
    assert bytes(vs.image.value) != before
    vs.controls["play"].value = 24                          # play is linked to the window slider
    assert vs.controls["step"].value == 24 and vs.state["position"] == (4, 4)


@pytest.mark.parametrize("s, p", [(1, 0), (2, 0), (2, 1), (3, 2), (1, 2), (2, 2)])
def test_value_stepper_stride_and_padding_give_helpers_conv_numbers(vs, s, p):
    vs.controls["stride"].value = s
    vs.controls["padding"].value = p
    expected = reference(EXAMPLE_IMAGE, EXAMPLE_KERNEL, s, p)
    st = vs.state
    np.testing.assert_array_equal(st["out"], expected)
    assert st["out_shape"] == expected.shape == (conv.output_size(5, 3, s, p),) * 2
    assert vs.controls["step"].max == expected.size - 1
    last = expected.size - 1
    vs.controls["step"].value = last                        # the last window, bottom right
    i, j = divmod(last, expected.shape[1])
    assert vs.state["position"] == (i, j) and vs.state["window_origin"] == (i * s, j * s)
    np.testing.assert_array_equal(vs.state["window"], conv.pad(EXAMPLE_IMAGE, p)[i * s:i * s + 3, j * s:j * s + 3])
    assert vs.state["value"] == expected[i, j]
    assert f"⌊(5 + 2·{p} − 3) / {s}⌋ + 1" in vs.equation.value


def test_value_stepper_window_number_is_kept_or_reset_when_the_grid_shrinks(vs):
    vs.controls["step"].value = 3
    vs.controls["padding"].value = 2                         # 7x7 output: window 3 still exists
    assert vs.state["step"] == 3 and vs.state["position"] == (0, 3)
    vs.controls["step"].value = 40
    vs.controls["stride"].value = 3                          # 3x3 output: back to the first window
    assert vs.controls["step"].value == 0 and vs.state["position"] == (0, 0)
    assert vs.controls["step"].max == 8


def test_value_stepper_input_size_slider(vs):
    vs.controls["n"].value = 3
    np.testing.assert_array_equal(vs.state["image"], EXAMPLE_IMAGE[:3, :3])
    np.testing.assert_array_equal(vs.state["out"], reference(EXAMPLE_IMAGE[:3, :3], EXAMPLE_KERNEL, 1, 1))
    assert vs.state["padded"].shape == (5, 5)


def test_value_stepper_shows_the_value_error_when_the_kernel_does_not_fit(vs):
    vs.controls["padding"].value = 0
    vs.controls["n"].value = 2                               # 3x3 kernel, 2x2 input, no padding
    st = vs.state
    with pytest.raises(ValueError) as exc:
        conv.conv2d_naive(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)))
    assert st["error"] == str(exc.value) and "larger than the padded input" in st["error"]
    assert st["out"] is None and st["value"] is None and st["n_steps"] == 0
    assert "ValueError" in vs.equation.value and "larger than the padded input" in vs.equation.value
    assert vs.controls["step"].disabled
    assert bytes(vs.image.value).startswith(PNG)
    vs.controls["padding"].value = 1                         # padding makes it fit again
    assert vs.state["error"] is None and vs.state["out_shape"] == (2, 2)
    assert not vs.controls["step"].disabled


def test_value_stepper_custom_arguments_and_checks():
    x = np.arange(16.0).reshape(4, 4)
    k = np.array([[1.0, -1.0]])
    ex = value_stepper(x, k, n=4, stride=2, padding=0, step=3)
    np.testing.assert_array_equal(ex.state["out"], reference(x, k, 2, 0))
    assert ex.state["step"] == 3 and ex.state["position"] == (1, 1)
    assert ex.controls["n"].max == 4
    with pytest.raises(ValueError, match="2-D"):
        value_stepper(np.zeros((1, 4, 4)))
    g = step_values(np.ones((2, 2)), np.ones((3, 3)), 1, 0)
    assert g["out"] is None and "larger than the padded input" in g["error"]


def test_value_stepper_picture_from_a_kept_background_is_the_full_drawing(vs):
    # going back to a setting reuses its kept background: the picture must be exactly what a
    # fresh explorer draws, also after an error setting moved everything
    for name, value in (("padding", 2), ("stride", 2), ("padding", 0), ("n", 2), ("n", 5),
                        ("padding", 1), ("stride", 1), ("step", 3)):
        vs.controls[name].value = value
    assert bytes(vs.image.value) == bytes(value_stepper(step=3).image.value)


def test_value_stepper_keeps_timing(vs):
    for s in (2, 3, 1):
        vs.controls["stride"].value = s
    assert len(vs.timing) >= 4 and all(t > 0 for t in vs.timing)


# --- channel explorer (lesson 05) -------------------------------------------------------------

@pytest.fixture(scope="module")
def photo():
    from helpers.data import sample_image
    return sample_image(downsample=8).transpose(2, 0, 1)       # (3, 75, 64)


@pytest.fixture(scope="module")
def ce():
    return channel_explorer()


def full_conv(x, w, b):
    return conv.conv2d(x[None], w[None], np.array([b], np.float32))[0, 0]


def check_numbers(ex, x):
    """The explorer's numbers at its position against helpers.conv."""
    st = ex.state
    i, j = st["position"]
    w, b = st["weights"], st["bias"]
    out = full_conv(x, w, b)
    np.testing.assert_allclose(st["summed"], out, atol=1e-5)
    np.testing.assert_allclose(st["parts"].sum(axis=0) + b, out, atol=1e-5)
    for c in range(3):
        own = conv.conv2d(x[None, c:c + 1], w[None, c:c + 1])[0, 0]
        np.testing.assert_allclose(st["parts"][c], own, atol=1e-6)
        assert np.isclose(st["channel_sums"][c], own[i, j], atol=1e-5)
    np.testing.assert_array_equal(st["windows"], x[:, i:i + 3, j:j + 3])
    # the per-channel sums add up to helpers.conv's output at that position
    assert np.isclose(st["channel_sums"].sum() + b, out[i, j], atol=1e-5)
    assert np.isclose(st["total"] + b, st["with_bias"]) and np.isclose(st["with_bias"], out[i, j], atol=1e-5)
    assert st["relu"] == max(st["with_bias"], 0.0)
    np.testing.assert_array_equal(st["relu_map"], np.maximum(st["summed"], 0))


def test_channel_explorer_builds_on_the_photograph(ce, photo):
    assert set(ce.controls) == {"filter", "bias", "row", "column"}
    assert "cnn-channel-explorer" in ce._dom_classes
    assert labelled_with_units(ce)
    st = ce.state
    assert st["filter"] == "red − blue vertical edges" and st["bias"] == 0
    np.testing.assert_array_equal(st["weights"], preset("red − blue vertical edges"))
    assert st["parts"].shape == (3, 73, 62) and st["summed"].shape == (73, 62)
    assert (ce.controls["row"].max, ce.controls["column"].max) == (72, 61)
    # it starts where the filter responds most strongly
    i, j = st["position"]
    assert abs(st["summed"][i, j]) == np.abs(st["summed"]).max()
    check_numbers(ce, photo)
    assert bytes(ce.image.value).startswith(PNG)
    assert "red" in ce.numbers.value and "after ReLU" in ce.numbers.value


@pytest.mark.parametrize("name", list(PRESETS))
def test_channel_explorer_every_preset_filter(ce, photo, name):
    ce.controls["filter"].value = name
    assert ce.state["filter"] == name and ce.state["weights"].shape == (3, 3, 3)
    check_numbers(ce, photo)
    assert name in ce.about.value


def test_channel_explorer_bias_and_relu(ce, photo):
    ce.controls["filter"].value = "vertical edges, all channels"
    ce.controls["bias"].value = 0.0
    before = bytes(ce.image.value)
    total = ce.state["total"]
    for b in (-0.5, 0.35, -1.0):
        ce.controls["bias"].value = b
        st = ce.state
        assert np.isclose(st["bias"], b) and np.isclose(st["total"], total)   # the sum does not move
        assert np.isclose(st["with_bias"], total + b)
        check_numbers(ce, photo)
    assert ce.state["relu_map"].mean() < 0.05                 # bias -1 switches almost everything off
    assert f"{ce.state['with_bias']:+.3f}" in ce.numbers.value
    assert bytes(ce.image.value) != before
    ce.controls["bias"].value = 0.0


def test_channel_explorer_position_sliders(ce, photo):
    ce.controls["filter"].value = "blue minus red (colour)"
    for i, j in ((0, 0), (72, 61), (10, 50)):
        before = bytes(ce.image.value)
        ce.controls["row"].value, ce.controls["column"].value = i, j
        assert ce.state["position"] == (i, j)
        check_numbers(ce, photo)
        assert bytes(ce.image.value) != before
    # "blue minus red" at one pixel: just x[blue] - x[red] at the window's centre
    assert np.isclose(ce.state["with_bias"], photo[2, 11, 51] - photo[0, 11, 51], atol=1e-6)
    assert f"({10}, {50})" in ce.numbers.value


def test_channel_explorer_other_images_and_checks():
    rng = np.random.default_rng(0)
    hwc = rng.random((9, 8, 3), dtype=np.float32)
    ex = channel_explorer(hwc, name="green only (identity)", bias=0.1, row=2, column=3)
    x = hwc.transpose(2, 0, 1)
    assert ex.state["position"] == (2, 3) and np.isclose(ex.state["with_bias"], x[1, 3, 4] + 0.1)
    check_numbers(ex, x)
    with pytest.raises(ValueError, match="3-channel"):
        channel_explorer(np.zeros((5, 5)))
    with pytest.raises(ValueError, match="unknown filter"):
        preset("emboss")
    m = channel_maps(x, preset("blur: mean of 27 values"), 0.5)
    np.testing.assert_allclose(m["summed"], m["parts"].sum(0) + 0.5, atol=1e-6)


# --- equivariance explorer (lesson 02) --------------------------------------------------------

def test_shift_image_moves_content_and_fills_zeros():
    x = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(shift_image(x, 0, 1), [[0, 1, 2, 3], [0, 5, 6, 7], [0, 9, 10, 11]])
    np.testing.assert_array_equal(shift_image(x, -1, 0), [[5, 6, 7, 8], [9, 10, 11, 12], [0, 0, 0, 0]])
    np.testing.assert_array_equal(shift_image(x, 0, 0), x)
    assert not shift_image(x, 3, 0).any()


@pytest.mark.parametrize("dy, dx", [(0, 0), (0, 3), (2, -4), (-5, 1), (6, 6)])
def test_conv_of_shift_is_shift_of_conv_inside(dy, dx):
    rng = np.random.default_rng(1)
    x = rng.random((30, 26), dtype=np.float32)
    k = rng.standard_normal((3, 3)).astype(np.float32)
    r = equivariance(x, k, dy, dx)
    np.testing.assert_allclose(r["fmap"], conv.conv2d(x[None, None], k[None, None], padding=1)[0, 0], atol=1e-6)
    np.testing.assert_allclose(r["fmap_of_shift"],
                               conv.conv2d(shift_image(x, dy, dx)[None, None], k[None, None], padding=1)[0, 0],
                               atol=1e-6)
    assert r["max_diff_inside"] <= 1e-5 * r["scale"]
    # the inside: windows reading only pixels in the frame before and after the shift
    inside = inside_mask(x.shape, k.shape, dy, dx)
    assert inside.sum() == (30 - 2 - abs(dy)) * (26 - 2 - abs(dx))
    if (dy, dx) == (0, 0):
        assert not r["diff"].any()
    else:
        assert r["max_diff_border"] > 0.01                    # the band along the border differs


def test_equivariance_explorer_controls(photo):
    ex = equivariance_explorer()
    assert set(ex.controls) == {"dx", "dy", "filter"}
    assert "cnn-equivariance" in ex._dom_classes
    assert labelled_with_units(ex)
    assert (ex.state["dx"], ex.state["dy"], ex.state["filter"]) == (3, 0, "sobel x")
    gray = photo.mean(axis=0)                                  # any image: check the numbers once more
    img = ex.state["fmap"].shape
    assert img == (150, 128)
    for name, value in (("dx", -4), ("dy", 5), ("filter", "laplacian"), ("dx", 0), ("dy", 0)):
        before = bytes(ex.image.value)
        ex.controls[name].value = value
        st = ex.state
        k = make_filter(st["filter"], 3)
        np.testing.assert_array_equal(st["kernel"], k)
        np.testing.assert_allclose(st["fmap_of_shift"],
                                   conv.conv2d(st["shifted"][None, None], k[None, None], padding="same")[0, 0],
                                   atol=1e-6)
        np.testing.assert_allclose(st["shift_of_fmap"], shift_image(st["fmap"], st["dy"], st["dx"]), atol=1e-6)
        assert st["max_diff_inside"] <= 1e-5 * st["scale"]
        assert "Inside the dashed frame" in ex.text.value
        assert bytes(ex.image.value) != before
    assert ex.state["max_diff_border"] == 0.0                  # no shift: no difference anywhere
    assert len(ex.timing) >= 6
    with pytest.raises(ValueError, match="grayscale"):
        equivariance_explorer(gray[None])
    with pytest.raises(ValueError, match="name must be one of"):
        equivariance_explorer(name="emboss")
    assert set(FILTERS) <= {"sobel x", "sobel y", "laplacian", "sharpen", "gaussian", "box blur", "identity"}
