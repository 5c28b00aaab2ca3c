"""Drive the widgets of lessons 01 and 03 from code, as a learner's clicks would, and check what
changes: state, labels, and the picture (PNG bytes)."""
import numpy as np
import pytest

from helpers import conv
from helpers.widgets.conv_stepper import EXAMPLE_IMAGE, EXAMPLE_KERNEL, conv_stepper, window_equation
from helpers.widgets.filter_explorer import FILTERS, apply_filter, filter_explorer, make_filter
from helpers.widgets.output_size import formula_html, geometry, keras_same_padding, output_size_explorer
from helpers.widgets.receptive_field import (influence_1d, influence_map, layer, receptive_field_explorer,
                                             receptive_field_table)

PNG = b"\x89PNG"


# --- conv stepper ---------------------------------------------------------------------------

def test_stepper_starts_at_the_first_window():
    st = conv_stepper()
    assert st.state["step"] == 0 and st.state["position"] == (0, 0)
    assert st.state["n_steps"] == 16 and st.controls["step"].max == 15
    assert bytes(st.image.value).startswith(PNG)
    assert "out[0, 0] = 1·2 + 0·0 + 0·1 + 1·(-1) = 1" in st.equation.value
    assert np.isnan(st.state["out"]).sum() == 15          # only one cell filled in


def test_stepper_slider_moves_the_window_and_fills_the_output():
    st = conv_stepper()
    before = bytes(st.image.value)
    st.controls["step"].value = 6
    assert st.state["position"] == (1, 2) and st.state["window_origin"] == (1, 2)
    np.testing.assert_array_equal(st.state["window"], EXAMPLE_IMAGE[1:3, 2:4])
    np.testing.assert_array_equal(st.state["products"], EXAMPLE_IMAGE[1:3, 2:4] * EXAMPLE_KERNEL)
    assert st.state["value"] == 7
    assert "out[1, 2] = 3·2 + 2·0 + 1·1 + 0·(-1) = 7" in st.equation.value
    assert np.count_nonzero(~np.isnan(st.state["out"])) == 7
    assert bytes(st.image.value) != before


def test_stepper_play_is_linked_to_the_slider():
    st = conv_stepper()
    st.controls["play"].value = 15
    assert st.controls["step"].value == 15 and st.state["position"] == (3, 3)
    full = conv.conv2d_naive(EXAMPLE_IMAGE[None, None], EXAMPLE_KERNEL[None, None])[0, 0]
    np.testing.assert_array_equal(st.state["out"], full)   # the last step completes the map


def test_stepper_flip_gives_the_true_convolution():
    st = conv_stepper()
    st.controls["flip"].value = True
    flipped = EXAMPLE_KERNEL[::-1, ::-1]
    np.testing.assert_array_equal(st.state["kernel"], flipped)
    np.testing.assert_array_equal(
        st.state["full"], conv.conv2d_naive(EXAMPLE_IMAGE[None, None], flipped[None, None])[0, 0])
    assert "true convolution" in st.figure.texts[0].get_text()


def test_stepper_with_stride_and_padding():
    st = conv_stepper(np.arange(16.0).reshape(4, 4), np.ones((3, 3)), stride=2, padding=1)
    assert st.state["n_steps"] == 4
    st.controls["step"].value = 3
    assert st.state["position"] == (1, 1) and st.state["window_origin"] == (2, 2)


def test_stepper_rejects_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_stepper(np.zeros((2, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="2-D"):
        conv_stepper(np.zeros((1, 5, 5)))


def test_window_equation_formats_numbers_like_a_person():
    assert window_equation(np.array([[0.5, 2]]), np.array([[2, -1]]), 0, 3) == "out[0, 3] = 0.5·2 + 2·(-1) = -1"


# --- filter explorer ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_photo():
    rng = np.random.default_rng(0)
    return rng.random((40, 32)).astype(np.float32)


def test_make_filter_sums_and_shapes():
    for name in FILTERS:
        k = make_filter(name, 5)
        expected = 1.0 if name in ("identity", "box blur", "gaussian", "sharpen") else 0.0
        assert np.isclose(k.sum(), expected), name
    assert make_filter("box blur", 7).shape == (7, 7)
    assert make_filter("sobel x", 7).shape == (3, 3)          # classic 3x3 only
    np.testing.assert_array_equal(make_filter("sobel y"), make_filter("sobel x").T)
    with pytest.raises(ValueError, match="odd"):
        make_filter("gaussian", 4)
    with pytest.raises(ValueError, match="unknown filter"):
        make_filter("emboss")


def test_filter_explorer_dropdown_and_size(small_photo):
    fe = filter_explorer(small_photo)
    assert fe.state["name"] == "sobel x" and fe.controls["size"].disabled
    assert fe.state["signed"] and bytes(fe.image.value).startswith(PNG)
    fe.controls["filter"].value = "gaussian"
    assert not fe.controls["size"].disabled and not fe.state["signed"]
    before = bytes(fe.image.value)
    fe.controls["size"].value = 9
    assert fe.state["kernel"].shape == (9, 9) and fe.state["out"].shape == (32, 24)
    assert np.isclose(fe.state["weight_sum"], 1)
    assert "8 pixel(s) smaller" in fe.caption.value
    assert bytes(fe.image.value) != before
    np.testing.assert_allclose(
        fe.state["out"],
        conv.conv2d_naive(small_photo[None, None], fe.state["kernel"][None, None])[0, 0], atol=1e-5)


# --- output-size explorer -------------------------------------------------------------------

def test_geometry_matches_helpers_conv_everywhere():
    for n in range(1, 10):
        for k in range(1, 6):
            for s in range(1, 4):
                for p in range(3):
                    for d in range(1, 3):
                        g = geometry(n, k, s, p, d)
                        try:
                            expected = conv.output_size(n, k, s, p, d)
                        except ValueError:
                            assert g["out"] is None and g["error"]
                            continue
                        assert g["out"] == expected
                        last = (expected - 1) * s + d * (k - 1)
                        assert g["remainder"] == n + 2 * p - 1 - last
                        # every window reads k taps per axis: coverage adds up to out^2 * k^2
                        assert g["coverage"].sum() == expected ** 2 * k ** 2


def test_explorer_formula_label_follows_the_sliders():
    ex = output_size_explorer(n=7, kernel_size=3)
    assert ex.state["out"] == 5 and "= 5</div>" in ex.formula.value
    ex.controls["stride"].value = 2
    assert ex.state["out"] == 3
    assert "⌊(7 + 2·0 − 3) / 2⌋ + 1 = ⌊4 / 2⌋ + 1 = 2 + 1 = 3" in ex.formula.value
    ex.controls["dilation"].value = 2
    assert ex.state["k_eff"] == 5 and "2·(3 − 1) + 1 = 5" in ex.formula.value and ex.state["out"] == 2


def test_explorer_flags_rows_dropped_by_the_floor():
    ex = output_size_explorer(n=7, kernel_size=3, stride=3)
    assert ex.state["out"] == 2 and ex.state["remainder"] == 1 and ex.state["dropped_real"] == 1
    assert "does not fit" in ex.notes.value and "1 of them real" in ex.notes.value
    assert ex.state["unread"] == 13                          # last row and column: 7 + 7 - 1
    ex.controls["padding"].value = 1
    assert ex.state["remainder"] == 0 and "fits exactly" in ex.notes.value
    ex.controls["n"].value, ex.controls["kernel_size"].value, ex.controls["stride"].value = 16, 7, 2
    ex.controls["padding"].value = 3
    assert ex.state["remainder"] == 1 and ex.state["dropped_real"] == 0
    assert "all of them padding" in ex.notes.value


def test_explorer_says_when_no_padding_keeps_the_size():
    ex = output_size_explorer(n=8, kernel_size=3)
    assert ex.state["same_padding"] == 1 and "keeps the size" in ex.notes.value
    ex.controls["kernel_size"].value = 4
    assert ex.state["same_padding"] is None and "no padding keeps the size" in ex.notes.value
    ex.controls["kernel_size"].value = 3
    ex.controls["stride"].value = 2
    assert ex.state["same_padding"] is None and "Keras' padding='same' gives ceil(N/s) = 4" in ex.notes.value


def test_explorer_shows_the_value_error_instead_of_crashing():
    ex = output_size_explorer(n=5, kernel_size=3)
    ex.controls["kernel_size"].value = 9
    assert ex.state["out"] is None
    assert "larger than the padded input" in ex.state["error"]
    assert "ValueError" in ex.notes.value
    assert "use padding >= 2" in ex.notes.value
    assert "no output" in ex.formula.value
    assert bytes(ex.image.value).startswith(PNG)
    ex.controls["padding"].value = 2                          # now it fits again
    assert ex.state["out"] == 1 and ex.state["error"] is None


def test_explorer_steps_one_window_with_taps():
    ex = output_size_explorer(n=7, kernel_size=3, dilation=2)
    ex.controls["mode"].value = "one position"
    assert not ex.controls["position"].disabled and ex.controls["position"].max == 8
    ex.controls["position"].value = 5
    assert ex.state["position"] == 5 and ex.state["window_origin"] == (1, 2)
    ex.controls["play"].value = 8
    assert ex.state["position"] == 8
    ex.controls["kernel_size"].value = 1                     # more windows: the slider grows
    assert ex.controls["position"].max == 48


def test_explorer_position_resets_when_the_output_shrinks():
    ex = output_size_explorer(n=9, kernel_size=3)
    ex.controls["mode"].value = "one position"
    ex.controls["position"].value = 40
    ex.controls["stride"].value = 3                           # 3x3 = 9 windows now
    assert ex.controls["position"].max == 8 and ex.state["position"] <= 8


def test_explorer_update_is_quick_when_only_the_window_moves():
    ex = output_size_explorer(n=9)
    ex.controls["mode"].value = "one position"
    for pos in range(1, 6):
        ex.controls["position"].value = pos
    assert len(ex.timing) >= 5 and all(t > 0 for t in ex.timing)


def test_keras_same_padding():
    assert keras_same_padding(6, 3, 2) == (3, (0, 1))
    assert keras_same_padding(5, 3, 2) == (3, (1, 1))
    assert keras_same_padding(7, 4, 1) == (7, (1, 2))
    assert keras_same_padding(7, 1, 2) == (4, (0, 0))


def test_formula_html_for_a_misfit():
    g = geometry(5, 9)
    assert g["out"] is None and "no output" in formula_html(g)


# --- receptive field ------------------------------------------------------------------------

def test_receptive_field_table():
    assert [r["rf"] for r in receptive_field_table([layer()] * 3)] == [3, 5, 7]
    rows = receptive_field_table([layer("conv", 7, stride=2), layer("max pool", 3, 2, padding=1)], 224)
    assert [(r["rf"], r["jump"], r["size"]) for r in rows] == [(7, 2, 112), (11, 4, 56)]
    assert [r["rf"] for r in receptive_field_table([layer(dilation=d) for d in (1, 2, 4)])] == [3, 7, 15]
    with pytest.raises(ValueError):
        layer("max pool", 2, 2, dilation=2)


def test_influence_matches_the_formula():
    layers_ = [layer(), layer("max pool", 2, 2), layer(dilation=2)]
    g, _ = influence_1d(layers_, 40)
    nz = np.flatnonzero(g)
    assert nz[-1] - nz[0] + 1 == receptive_field_table(layers_)[-1]["rf"]
    m = influence_map([layer()] * 2, 9)
    assert m.max() == 9 and (m > 0).sum() == 25


def test_influence_shows_holes_of_a_dilated_strided_stack():
    g, _ = influence_1d([layer(dilation=2, stride=2)], 15)
    assert list(g[g > 0]) == [1, 1, 1] and (g > 0).sum() == 3   # 3 taps, 5 pixels wide: 2 holes


def test_receptive_field_explorer_buttons():
    rf = receptive_field_explorer(n=32)
    assert rf.state["rf"] == 1 and "no layers yet" in rf.table.value
    rf.controls["add"].click()
    rf.controls["add"].click()
    assert rf.state["rf"] == 5 and len(rf.state["layers"]) == 2
    rf.controls["kind"].value = "max pool"
    assert rf.controls["dilation"].disabled and rf.controls["kernel_size"].value == 2
    rf.controls["add"].click()
    assert (rf.state["rf"], rf.state["jump"]) == (6, 2)
    before = bytes(rf.image.value)
    rf.controls["remove"].click()
    assert rf.state["rf"] == 5 and bytes(rf.image.value) != before
    rf.controls["reset"].click()
    assert rf.state["rf"] == 1 and rf.state["layers"] == []


def test_receptive_field_explorer_refuses_a_layer_that_does_not_fit():
    rf = receptive_field_explorer(n=8)
    rf.controls["kind"].value = "max pool"
    for _ in range(3):
        rf.controls["add"].click()                           # 8 -> 4 -> 2 -> 1
    rf.controls["add"].click()                               # a 2x2 pool on 1 pixel: refused
    assert len(rf.state["layers"]) == 3
    assert "cannot add" in rf.message.value


def test_receptive_field_explorer_drops_layers_when_the_input_shrinks():
    rf = receptive_field_explorer(n=16, layers=[layer("max pool", 2, 2)] * 4)
    assert rf.state["rf"] == 16
    rf.controls["n"].value = 8
    assert len(rf.state["layers"]) == 3 and "removed layers" in rf.message.value


def _full_drawing(fig):
    """The figure drawn in full, every part included (the explorers animate the parts that
    change, which a plain drawing leaves out): an (H, W, 4) int array."""
    moving = fig.findobj(lambda a: a.get_animated())
    for artist in moving:
        artist.set_animated(False)
    fig.canvas.draw()
    full = np.asarray(fig.canvas.buffer_rgba()).astype(int)
    for artist in moving:
        artist.set_animated(True)
    return full


def _png_pixels(png):
    import io

    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGBA")).astype(int)


def test_filter_explorer_computes_each_setting_once_and_keeps_its_figure(small_photo, monkeypatch):
    from helpers.widgets import filter_explorer as module
    calls = []
    apply_filter = module.apply_filter
    monkeypatch.setattr(module, "apply_filter", lambda img, k: calls.append(k.shape) or apply_filter(img, k))
    fe = filter_explorer(small_photo, name="gaussian", size=5)
    fig, axes, pictures = fe.figure, list(fe.figure.axes), [ax.images[0] for ax in fe.figure.axes[:3]]
    first = (bytes(fe.image.value), fe.caption.value, fe.state["out"])
    assert calls == [(5, 5)]
    for size in (7, 9, 7, 5, 9):                         # 7 and 9 are new, then all seen before
        fe.controls["size"].value = size
    assert calls == [(5, 5), (7, 7), (9, 9)]
    assert fe.state["out"].shape == (32, 24) and fe.state["kernel"].shape == (9, 9)
    fe.controls["filter"].value = "sobel y"              # a new filter is a new setting
    fe.controls["filter"].value = "gaussian"             # back to gaussian 9: seen
    assert calls == [(5, 5), (7, 7), (9, 9), (3, 3)]
    fe.controls["size"].value = 5
    assert fe.state["out"] is first[2] and bytes(fe.image.value) == first[0] and fe.caption.value == first[1]
    assert len(calls) == 4 and len(fe.timing) == 9
    # one figure throughout, changed in place
    assert fe.figure is fig and list(fig.axes) == axes
    assert [ax.images[0] for ax in fig.axes[:3]] == pictures
    assert all(len(ax.images) == 1 for ax in fig.axes[:3])
    np.testing.assert_array_equal(pictures[2].get_array(), fe.state["out"])


def test_filter_explorer_keeps_a_bounded_number_of_settings(small_photo, monkeypatch):
    from helpers.widgets import filter_explorer as module
    monkeypatch.setattr(module, "CACHE_SIZE", 2)
    calls = []
    apply_filter = module.apply_filter
    monkeypatch.setattr(module, "apply_filter",
                        lambda img, k: calls.append(k.shape[0]) or apply_filter(img, k))
    fe = filter_explorer(small_photo, name="box blur", size=3)
    for size in (5, 7, 5):                               # 5 is still kept: 3 computed
        fe.controls["size"].value = size
    assert calls == [3, 5, 7]
    fe.controls["size"].value = 3                        # dropped: computed again
    assert calls == [3, 5, 7, 3]
    np.testing.assert_array_equal(fe.state["out"], apply_filter(small_photo, make_filter("box blur", 3)))
    assert fe.state["out"].shape == (38, 30) and bytes(fe.image.value).startswith(PNG)


def test_filter_explorer_blitted_picture_is_the_full_drawing(small_photo):
    """The explorer draws only what changes on a kept background, copies back the pixels of
    ticks, colour bars and titles it has drawn before, and shows a kept picture for a setting it
    has shown before; the picture must be what a drawing of the whole figure shows (up to a few
    pixels where tick marks meet the frames)."""
    fe = filter_explorer(small_photo)
    moves = [("filter", "gaussian"), ("size", 9), ("size", 15), ("size", 5), ("filter", "laplacian"),
             ("filter", "box blur"), ("size", 3), ("filter", "sharpen"), ("filter", "identity"),
             ("size", 9), ("filter", "gaussian"), ("filter", "sobel x"), ("filter", "box blur"),
             ("size", 5), ("filter", "gaussian")]         # the last five: revisits, or new at a seen size
    for name, value in [(None, None), *moves]:
        if name:
            fe.controls[name].value = value
        shown, full = _png_pixels(fe.image.value), _full_drawing(fe.figure)
        assert shown.shape == full.shape
        differ = np.abs(shown - full).max(axis=-1)
        assert (differ > 0).sum() < 40 and differ.max() < 40, (name, value, (differ > 0).sum(), differ.max())


def test_output_size_explorer_reuses_the_picture_of_a_revisited_setting(monkeypatch):
    """Moving a slider back to a value it had shows the kept picture and texts, drawn once."""
    import helpers.widgets.output_size as output_size

    calls = []
    real_blit = output_size.blit_png

    def counting_blit(*args, **kwargs):
        calls.append(1)
        return real_blit(*args, **kwargs)

    monkeypatch.setattr(output_size, "blit_png", counting_blit)
    ex = output_size_explorer(n=7, kernel_size=3)
    pad = ex.controls["padding"]
    seen = {}
    for v in (1, 2):                                          # first visits: drawn
        pad.value = v
        seen[v] = (bytes(ex.image.value), ex.formula.value, ex.notes.value, dict(ex.state))
    drawn = len(calls)
    for v in (1, 2, 1, 2):                                    # revisits: nothing drawn
        pad.value = v
        png, formula, notes, state = seen[v]
        assert bytes(ex.image.value) == png and ex.formula.value == formula and ex.notes.value == notes
        assert ex.state.keys() == state.keys()
        for k, val in state.items():
            assert np.array_equal(ex.state[k], val) if isinstance(val, np.ndarray) else ex.state[k] == val
    assert len(calls) == drawn and ex.state["p"] == 2 and len(ex.timing) >= 6
    # a setting never seen is drawn, and after a revisit the figure still draws the right thing
    ex.controls["mode"].value = "one position"
    ex.controls["position"].value = 3
    assert len(calls) > drawn and ex.state["window_origin"] == (0, 3)
    pad.value = 1                                             # new setting: one position, p=1
    assert ex.state["p"] == 1 and ex.state["position"] == 3
    ex.controls["mode"].value = "every position"              # revisit of (p=1, every, pos 3)? new
    ex.controls["mode"].value = "one position"
    pad.value = 2
    assert bytes(ex.image.value) != seen[2][0]                # one position shows the window


def test_output_size_explorer_draws_a_new_setting_right_after_revisits():
    """A kept picture is shown without touching the figure, so the next new setting must still
    be drawn as a fresh explorer draws it."""
    ex = output_size_explorer(n=7, kernel_size=3)
    ex.controls["mode"].value = "one position"
    for v in (1, 2, 1, 2, 1):                                 # the last three are revisits
        ex.controls["padding"].value = v
    ex.controls["position"].value = 4                         # new window on p = 1 (figure drawn for p = 2)
    fresh = output_size_explorer(n=7, kernel_size=3, padding=1)
    fresh.controls["mode"].value = "one position"
    fresh.controls["position"].value = 4
    assert bytes(ex.image.value) == bytes(fresh.image.value)
    assert ex.formula.value == fresh.formula.value and ex.notes.value == fresh.notes.value
