"""Lesson 15 in JupyterLab, in Chromium: draw on the pad with the mouse and upload a photo.

The test runs the lesson, then uses its explorer as a learner would. It draws the "trousers" of
``EXAMPLE_DRAWINGS`` with the mouse (one stroke), waits for the prediction, clears the pad, draws
the "sneaker" (another stroke) and checks that the prediction changes. Then it uploads a PNG
through the file chooser: a Fashion-MNIST test image made into a product photo, whose answer the
test computes itself with the same network. A file that is not an image must give a message and
leave the explorer working. Each step is a screenshot in artifacts/browser/; the predictions are
printed (run pytest with -s to see them).
"""
from __future__ import annotations

import io
import re

import numpy as np
import pytest

from lesson_page import LessonPage

LESSON = "15_your_own_input.ipynb"
CSS = "cnn-own-input"
PAD = 280


@pytest.fixture
def page(lab_page, lab, shots):
    p = LessonPage(lab_page, lab, LESSON, shots)
    yield p
    p.close()


def draw(page, box, strokes):
    """Draw strokes ({"width", "points"} in pad pixels) on the explorer's canvas with the mouse,
    setting the brush slider to each stroke's width first."""
    canvas = box.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    for stroke in strokes:
        assert page.set_slider(box, "brush (pixels)", stroke["width"]) == str(stroke["width"])
        rect = canvas.bounding_box()
        at = [(rect["x"] + x * rect["width"] / PAD, rect["y"] + y * rect["height"] / PAD)
              for x, y in stroke["points"]]
        page.page.mouse.move(*at[0])
        page.page.mouse.down()
        for point in at[1:]:
            page.page.mouse.move(*point, steps=12)
        page.page.mouse.up()


# Read in one step in the page: the caption may be replaced between a count() and a read.
READ_JS = """(el, selector) => { const found = el.querySelector(selector);
                              return found ? found.innerText : ''; }"""


def prediction(box) -> str:
    """The explorer's answer as shown ("" when it shows none)."""
    return box.evaluate(READ_JS, ".cnn-own-input-prediction")


def caption(box) -> str:
    """The whole caption line under the picture (the answer and what the input was)."""
    return box.evaluate("""(el) => { const b = el.querySelector('.cnn-own-input-prediction');
                                     return b ? b.parentElement.innerText : ''; }""")


def message(box) -> str:
    return box.evaluate(READ_JS, ".widget-html-content")


def wait_for_answer(page, box, before=""):
    text = page.wait_until_changed(lambda: prediction(box), before, timeout=60)
    assert text.startswith("The network says:"), text
    return re.match(r"The network says: (.+) \(([\d.]+)%\)", text).groups()


def upload(page, box, path):
    with page.page.expect_file_chooser() as chooser:
        box.locator(".widget-upload").first.click()
    chooser.value.set_files(str(path))


def expected_for_photo(png: bytes) -> tuple[str, float]:
    """What lesson 12's network says for an uploaded PNG, computed here, outside the browser."""
    from helpers import preprocess
    from helpers.exercises import lesson12

    data = lesson12.prepare_data()
    model, _ = lesson12.load_or_train(data, progress=False)
    x = preprocess.standardise(preprocess.to_fashion_mnist(png), data.mean, data.std)
    p = model.predict_proba(x)[0]
    return data.class_names[int(p.argmax())], float(p.max())


def product_photo(index: int) -> bytes:
    """Fashion-MNIST test image ``index`` as a product photo: dark on white, 224 x 224, PNG."""
    from PIL import Image

    from helpers.data import load_fashion_mnist

    _, (x_test, _), _ = load_fashion_mnist()
    buf = io.BytesIO()
    Image.fromarray(255 - x_test[index]).resize((224, 224), Image.Resampling.BICUBIC).save(buf, "PNG")
    return buf.getvalue()


def test_draw_clear_draw_again_and_upload(page, tmp_path):
    from helpers.widgets.own_input import EXAMPLE_DRAWINGS

    st = page.run_all(timeout=900)
    page.shot("after run all")
    assert st["kernelName"] == "cnn-course", st
    assert not st["errors"], f"{LESSON} has error output:\n" + "\n".join(st["errors"])
    box = page.widget(CSS)
    # the lesson's last cell leaves the pad empty: a hint, no prediction
    assert "canvas is empty" in message(box) and prediction(box) == ""
    page.shot("empty pad", box)

    said = {}
    draw(page, box, EXAMPLE_DRAWINGS["trousers"])
    said["trousers"] = wait_for_answer(page, box)
    page.shot("trousers drawn with the mouse", box)

    shown = prediction(box)
    box.get_by_role("button", name="clear").click()
    assert page.wait_until_changed(lambda: prediction(box), shown) == ""
    assert "canvas is empty" in message(box)
    page.shot("cleared", box)

    draw(page, box, EXAMPLE_DRAWINGS["sneaker"])
    said["sneaker"] = wait_for_answer(page, box)
    page.shot("sneaker drawn with the mouse", box)
    for name, (cls, pct) in said.items():
        print(f"browser drawing '{name}' ({len(EXAMPLE_DRAWINGS[name])} stroke): the network says "
              f"{cls} ({pct} %)")
    assert said["trousers"][0] != said["sneaker"][0], said
    # the same answers as the lesson's section 4, which draws the same strokes in code
    assert said["trousers"][0] == "Trouser" and said["sneaker"][0] == "Sneaker", said
    assert min(float(pct) for _, pct in said.values()) > 99, said

    # a photo through the file chooser: Fashion-MNIST test image 2 (a trouser) as a product photo
    png = product_photo(2)
    path = tmp_path / "test_image_2.png"
    path.write_bytes(png)
    want, p = expected_for_photo(png)
    before = prediction(box)
    upload(page, box, path)
    got = wait_for_answer(page, box, before)
    assert "test_image_2.png" in caption(box), caption(box)
    print(f"browser upload 'test_image_2.png': the network says {got[0]} ({got[1]} %); "
          f"computed outside the browser: {want} ({p:.1%})")
    assert got[0] == want == "Trouser" and abs(float(got[1]) - 100 * p) < 0.15, (got, want, p)
    page.shot("photo uploaded", box)

    # a file that is not an image: a message in the widget, and the explorer goes on
    bad = tmp_path / "not_a_photo.png"
    bad.write_bytes(b"name,size\nshirt,M\n")
    upload(page, box, bad)
    text = page.wait_until_changed(lambda: message(box), "")
    assert "not an image" in text and prediction(box) == "", text
    page.shot("not an image", box)
    box.get_by_role("button", name="clear").click()
    page.wait_until_changed(lambda: message(box), text)
    draw(page, box, EXAMPLE_DRAWINGS["trousers"])
    assert wait_for_answer(page, box)[0] == "Trouser"
    page.shot("drawing again after the bad file", box)
    st = page.state()
    assert not st["errors"], st["errors"]
