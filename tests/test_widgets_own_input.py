"""The own-input explorer (lesson 15), driven without a browser: mouse and touch events are fed to
the canvas as the front end sends them, uploads are set on the FileUpload as it sets them."""
import io

import numpy as np
import pytest
from PIL import Image

from helpers import preprocess as pp
from helpers.exercises import lesson12
from helpers.widgets import own_input
from helpers.widgets.own_input import own_input_explorer, render_strokes

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot"]


@pytest.fixture(scope="module")
def model():
    return lesson12.simple_convnet(seed=3)        # untrained: the widget's wiring, not its answers


def make(model, **kw):
    means = np.random.default_rng(0).random((10, 28, 28))
    return own_input_explorer(model, NAMES, 0.286, 0.353, means, **kw)


def event(box, name, x=None, y=None, touches=None):
    content = {"event": name}
    if touches is not None:
        content["touches"] = [{"x": tx, "y": ty} for tx, ty in touches]
    else:
        content.update(x=x, y=y)
    box.canvas._handle_frontend_event(None, content, [])


def drag(box, points):
    event(box, "mouse_down", *points[0])
    for p in points[1:]:
        event(box, "mouse_move", *p)
    event(box, "mouse_up", *points[-1])


def upload(box, data, name="photo.png"):
    """As the browser sends a chosen file: the value's JSON, deserialised by the FileUpload."""
    box.controls["upload"].set_state({"value": [{"name": name, "type": "image/png", "size": len(data),
                                                 "last_modified": 1_700_000_000_000,
                                                 "content": memoryview(data)}]})


def png(img, fmt="PNG"):
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_starts_empty_and_says_what_to_do(model):
    box = make(model)
    assert "cnn-own-input" in box._dom_classes
    assert set(box.controls) == {"brush", "undo", "clear", "upload"}
    assert box.state["strokes"] == [] and box.state["probs"] is None
    assert "canvas is empty" in box.state["error"]
    assert "canvas is empty" in box.message.value and "Draw a garment" in box.message.value
    assert "upload a photo" in box.message.value
    assert box.caption.value == "" and box.image.layout.display == "none"


def test_a_stroke_drawn_with_the_mouse_is_classified_when_it_ends(model):
    box = make(model, brush=20)
    event(box, "mouse_down", 140, 40)
    event(box, "mouse_move", 140, 140)
    assert box.state["probs"] is None                  # nothing yet: the stroke goes on
    event(box, "mouse_move", 140, 240)
    event(box, "mouse_up", 140, 240)
    st = box.state
    assert st["error"] is None and box.message.value == ""
    assert st["strokes"] == [{"width": 20, "points": [(140.0, 40.0), (140.0, 140.0), (140.0, 240.0)]}]
    expected = pp.to_fashion_mnist(render_strokes(st["strokes"]))
    assert np.array_equal(st["image28"], expected)
    x = pp.standardise(expected, 0.286, 0.353)
    assert np.allclose(st["probs"], model.predict_proba(x)[0])
    assert abs(st["probs"].sum() - 1) < 1e-5 and st["predicted"] == int(np.argmax(st["probs"]))
    assert f"The network says: {NAMES[st['predicted']]}" in box.caption.value
    assert box.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert [m.shape for m in st["maps"]] == [(30, 24, 24), (30, 12, 12)]
    assert st["occlusion"].heat.shape == (28, 28) and st["saliency"].shape == (28, 28)
    assert len(box.timing) == 1


def test_brush_size_undo_and_clear(model):
    box = make(model)
    box.controls["brush"].value = 40
    drag(box, [(60, 60), (220, 60)])
    first = box.state["image28"].copy()
    box.controls["brush"].value = 8
    drag(box, [(140, 60), (140, 250)])
    assert [s["width"] for s in box.state["strokes"]] == [40, 8]
    assert not np.array_equal(box.state["image28"], first)
    box.controls["undo"].click()
    assert len(box.state["strokes"]) == 1 and np.array_equal(box.state["image28"], first)
    box.controls["clear"].click()
    assert box.state["strokes"] == [] and box.state["probs"] is None
    assert "canvas is empty" in box.message.value and box.caption.value == ""
    box.controls["undo"].click()                       # undo on an empty pad does no harm
    assert "canvas is empty" in box.message.value


def test_a_click_is_a_dot_and_leaving_the_pad_ends_a_stroke(model):
    box = make(model, brush=30)
    event(box, "mouse_down", 100, 100)
    event(box, "mouse_up", 100, 100)
    assert box.state["strokes"][0]["points"] == [(100.0, 100.0)] and box.state["error"] is None
    event(box, "mouse_down", 50, 200)
    event(box, "mouse_move", 150, 200)
    event(box, "mouse_out", 300, 200)
    event(box, "mouse_move", 200, 50)                   # the button is up again: no drawing
    assert box.state["strokes"][1]["points"] == [(50.0, 200.0), (150.0, 200.0)]


def test_touch_draws_like_the_mouse(model):
    box = make(model, brush=20)
    event(box, "touch_start", touches=[(140, 40)])
    event(box, "touch_move", touches=[(140, 240)])
    event(box, "touch_end", touches=[])
    assert box.state["strokes"][0]["points"] == [(140.0, 40.0), (140.0, 240.0)]
    assert box.state["probs"] is not None


def test_an_upload_is_decoded_and_classified(model):
    box = make(model)
    shirt = np.full((200, 160, 3), 250, np.uint8)
    shirt[40:180, 30:130] = (20, 40, 160)
    data = png(Image.fromarray(shirt))
    upload(box, data, "shirt.png")
    st = box.state
    assert st["source"] == "upload" and st["error"] is None
    assert np.array_equal(st["image28"], pp.to_fashion_mnist(data))
    assert "photo 'shirt.png'" in box.caption.value
    drag(box, [(140, 40), (140, 240)])                 # drawing again switches back to the pad
    assert box.state["source"] == "drawing" and "drawing" in box.caption.value


def truncated():
    data = png(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    return data[: len(data) // 2]


def bomb():
    from test_preprocess import png_bomb
    return png_bomb()


BAD = {
    "not an image": (lambda: b"%PDF-1.4 not a picture", "not an image"),
    "truncated": (truncated, "truncated"),
    "decompression bomb": (bomb, "decompression bomb"),
    "over 10 MB": (lambda: bytes(pp.MAX_BYTES + 1), "limit is 10 MB"),
    "1x1": (lambda: png(Image.new("RGB", (1, 1), "blue")), "at least 8 pixels"),
    "blank photo": (lambda: png(Image.new("RGB", (64, 48), (240, 235, 230))), "blank"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_uploads_give_a_message_in_the_widget_not_an_exception(model, case):
    make_data, words = BAD[case]
    box = make(model)
    drag(box, [(140, 40), (140, 240)])
    before = box.image.value
    upload(box, make_data(), "bad.png")                # must not raise
    assert words in box.state["error"], box.state["error"]
    assert words in box.message.value and box.caption.value == ""
    assert box.state["probs"] is None
    assert box.image.value == before and box.image.layout.display == "none"   # hidden, not shown stale
    upload(box, png(Image.fromarray(pp_shirt())), "good.png")   # and the widget goes on working
    assert box.state["error"] is None and box.message.value == ""
    assert box.image.layout.display == "" and box.image.value != before


def test_the_same_file_can_be_uploaded_twice(model):
    box = make(model)
    data = png(Image.fromarray(pp_shirt()))
    upload(box, data, "shirt.png")
    assert box.controls["upload"].value == ()          # emptied, ready for the next file
    box.clear()
    assert box.state["error"] is not None
    upload(box, data, "shirt.png")
    assert box.state["source"] == "upload" and box.state["error"] is None and len(box.timing) == 2


def pp_shirt():
    a = np.full((100, 100, 3), 255, np.uint8)
    a[20:90, 25:75] = 30
    return a


def test_an_unexpected_error_is_shown_too(model, monkeypatch):
    box = make(model)

    def broken(*_):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(own_input.preprocess, "to_fashion_mnist", broken)
    drag(box, [(140, 40), (140, 240)])
    assert "RuntimeError: disk on fire" in box.message.value


def test_draw_stroke_and_show_file_from_code(model):
    box = make(model)
    box.draw_stroke([(140, 40), (140, 240)], width=24)
    assert box.state["strokes"][-1]["width"] == 24 and box.state["error"] is None
    box.show_file(png(Image.fromarray(pp_shirt())), "shirt.png")
    assert box.state["source"] == "upload" and box.state["error"] is None
    with pytest.raises(ValueError, match="points"):
        box.draw_stroke([])
    with pytest.raises(ValueError, match="width"):
        box.draw_stroke([(1, 1)], width=0)


def test_render_strokes_draws_round_thick_lines():
    pad = render_strokes([{"width": 20, "points": [(100, 100), (200, 100)]},
                          {"width": 10, "points": [(50, 250)]}])
    dark = pad[..., 0] < 128
    assert dark[100, 95] and dark[100, 205] and dark[91, 150] and not dark[79, 150]   # ends are round
    assert dark[250, 50] and not dark[250, 57]                                          # a dot of diameter 10
    assert render_strokes([]).min() == 255


@pytest.mark.parametrize("kw, words", [
    (dict(class_means=np.zeros((10, 28))), "class_means"),
    (dict(brush=1), "brush"),
    (dict(brush=2.5), "brush"),
    (dict(layers=(0,)), "layers"),
    (dict(layers=(0, 4)), "feature maps"),
    (dict(layers=(0, 99)), "layer"),
    (dict(occlusion_patch=20), "occlusion_patch"),
])
def test_bad_arguments_name_the_argument(model, kw, words):
    args = dict(class_means=np.zeros((10, 28, 28)))
    args.update(kw)
    means = args.pop("class_means")
    with pytest.raises((ValueError, TypeError), match=words):
        own_input_explorer(model, NAMES, 0.286, 0.353, means, **args)


@pytest.mark.parametrize("args, error, words", [
    (("model", NAMES, 0.3, 0.3, np.zeros((10, 28, 28))), TypeError, "model"),
    (("M", "abc", 0.3, 0.3, np.zeros((10, 28, 28))), TypeError, "class_names"),
    (("M", NAMES[:3], 0.3, 0.3, np.zeros((10, 28, 28))), ValueError, "class_means"),
    (("M", NAMES, "0.3", 0.3, np.zeros((10, 28, 28))), TypeError, "mean"),
    (("M", NAMES, 0.3, -1.0, np.zeros((10, 28, 28))), ValueError, "std"),
    (("M", NAMES, 0.3, 0.3, np.zeros((10, 28, 28), complex)), TypeError, "class_means"),
])
def test_bad_positional_arguments_name_the_argument(model, args, error, words):
    args = tuple(model if isinstance(a, str) and a == "M" else a for a in args)
    with pytest.raises(error, match=words):
        own_input_explorer(*args)


@pytest.mark.parametrize("strokes, error, words", [
    ("a line", TypeError, "strokes"),
    ([{"width": 5}], TypeError, r"strokes\[0\]"),
    ([{"width": "thick", "points": [(1, 2)]}], TypeError, "width"),
    ([{"width": 0, "points": [(1, 2)]}], ValueError, "width"),
    ([{"width": 5, "points": []}], ValueError, "points"),
    ([{"width": 5, "points": [(1, 2, 3)]}], ValueError, "points"),
    ([{"width": 5, "points": [(1, float("nan"))]}], ValueError, "y"),
])
def test_render_strokes_names_what_is_wrong(strokes, error, words):
    with pytest.raises(error, match=words):
        render_strokes(strokes)
    with pytest.raises(ValueError, match="size"):
        render_strokes([], size=4)
