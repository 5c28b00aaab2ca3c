"""End-to-end: the lessons with widgets, run in JupyterLab in Chromium, used as a learner would.

For each lesson: open it, run all cells, fail on any error output, then move the explorer's
controls and check that what the learner sees changes as it should. Screenshots of every step go
to artifacts/browser/ (before and after each change).
"""
import pytest

from lesson_page import LessonPage


@pytest.fixture
def lesson(browser, lab, shots, request):
    pages = []

    def open_(name):
        page = LessonPage(browser, lab, name, shots)
        pages.append(page)
        return page

    yield open_
    for p in pages:
        p.close()


def run_clean(page, timeout=600):
    st = page.run_all(timeout)
    page.shot("after run all")
    assert st["kernelName"] == "cnn-course", st
    assert not st["errors"], f"{page.name} has error output:\n" + "\n".join(st["errors"])
    assert st["pending"] == 0
    return st


def test_welcome_slider_updates_its_label(lesson):
    page = lesson("00_welcome.ipynb")
    run_clean(page, timeout=180)
    box = page.page.locator(".widget-hbox").filter(has=page.page.locator("label:text-is('kernel (px)')")).first
    box.scroll_into_view_if_needed()
    label = lambda: box.locator(".widget-label").last.inner_text()
    assert label() == "a 3x3 kernel has 9 weights per channel"
    page.shot("slider before", box)
    assert page.nudge_slider(box, "kernel (px)", +1) == "5"
    assert page.wait_until_changed(label, "a 3x3 kernel has 9 weights per channel") == "a 5x5 kernel has 25 weights per channel"
    page.shot("slider after", box)


def image_src(scope):
    """The PNG a widget shows (an ipywidgets Image renders as <img src="blob:...">)."""
    return scope.locator("img").first.get_attribute("src")


def html_text(scope, index=0):
    return scope.locator(".widget-html-content").nth(index).inner_text()


def test_convolution_stepper_and_filter_explorer(lesson):
    page = lesson("01_convolution.ipynb")
    run_clean(page, timeout=300)

    stepper = page.widget("cnn-conv-stepper")
    before_eq, before_img = html_text(stepper), image_src(stepper)
    start = int(page.slider_value(stepper, "window #"))
    page.shot("stepper before", stepper)
    moved = page.nudge_slider(stepper, "window #", +1)
    assert int(moved) == start + 1
    after_eq = page.wait_until_changed(lambda: html_text(stepper), before_eq)
    # The equation names the output cell the window fills: out[i, j] with (i, j) = divmod(step, 4)
    i, j = divmod(start + 1, 4)
    assert f"out[{i}, {j}]" in after_eq, after_eq
    assert image_src(stepper) != before_img, "the highlighted window did not move in the picture"
    page.shot("stepper after", stepper)

    explorer = page.widget("cnn-filter-explorer")
    before_img, before_caption = image_src(explorer), html_text(explorer)
    page.shot("filter before", explorer)
    page.pick(explorer, "filter", "gaussian")
    caption = page.wait_until_changed(lambda: html_text(explorer), before_caption)
    assert caption.startswith("gaussian"), caption
    assert page.wait_until_changed(lambda: image_src(explorer), before_img)
    page.shot("filter gaussian", explorer)
    before_img = image_src(explorer)
    page.nudge_slider(explorer, "size (pixels)", +1)
    assert page.wait_until_changed(lambda: image_src(explorer), before_img)
    page.shot("filter gaussian larger", explorer)


def expected_out(n, k, s, p, d):
    return (n + 2 * p - (d * (k - 1) + 1)) // s + 1


def test_output_size_explorer_and_receptive_field(lesson):
    page = lesson("02_padding_stride.ipynb")
    run_clean(page, timeout=300)

    ex = page.widget("cnn-output-size")
    names = {"n": "input size N (pixels)", "k": "kernel size k (pixels)", "s": "stride s (pixels)",
             "p": "padding p (pixels)", "d": "dilation d (1 = ordinary)"}
    # Start from a setting the learner would try: N=7, k=3, p=0, d=1, stride 1.
    for key, value in (("n", 7), ("k", 3), ("p", 0), ("d", 1), ("s", 1)):
        assert page.set_slider(ex, names[key], value) == str(value)
    formula = lambda: html_text(ex, 0)
    assert f"= {expected_out(7, 3, 1, 0, 1)}" in formula(), formula()
    before_img, before_formula = image_src(ex), formula()
    page.shot("explorer stride 1", ex)
    assert page.nudge_slider(ex, names["s"], +1) == "2"
    text = page.wait_until_changed(formula, before_formula)
    assert f"= {expected_out(7, 3, 2, 0, 1)}" in text and "/ 2" in text.replace("÷", "/"), text
    assert image_src(ex) != before_img
    page.shot("explorer stride 2", ex)
    # Stride 3 does not fit 7 - 3 = 4: the explorer flags the dropped row.
    before_notes = html_text(ex, 1)
    page.nudge_slider(ex, names["s"], +1)
    notes = page.wait_until_changed(lambda: html_text(ex, 1), before_notes)
    assert "does not fit" in notes, notes
    page.shot("explorer stride 3 does not fit", ex)
    # A kernel larger than the padded input: the error message appears in the widget.
    page.set_slider(ex, names["s"], 1)
    page.set_slider(ex, names["n"], 3)
    before = html_text(ex, 0) + html_text(ex, 1)
    page.set_slider(ex, names["k"], 5)
    shown = page.wait_until_changed(lambda: html_text(ex, 0) + html_text(ex, 1), before)
    assert "larger than the padded input" in shown, shown
    page.shot("explorer kernel too large", ex)

    rf = page.widget("cnn-receptive-field")
    table = lambda: rf.locator(".widget-html-content").last.inner_text()
    before_table, before_img = table(), image_src(rf)
    page.shot("receptive field before", rf)
    rf.get_by_role("button", name="add layer").click()
    assert page.wait_until_changed(table, before_table)
    assert page.wait_until_changed(lambda: image_src(rf), before_img)
    page.shot("receptive field after adding a layer", rf)


def test_pooling_shift_explorer(lesson):
    page = lesson("05_pooling.ipynb")
    run_clean(page, timeout=300)
    ex = page.widget("cnn-shift-invariance")
    page.set_slider(ex, "shift (pixels)", 0)
    text = lambda: html_text(ex)
    before_text, before_img = text(), image_src(ex)
    assert "Shift 0" in before_text, before_text
    page.shot("shift 0", ex)
    assert page.nudge_slider(ex, "shift (pixels)", +1) == "1"
    after = page.wait_until_changed(text, before_text)
    assert "Shift 1" in after and "changed by" in after, after
    assert page.wait_until_changed(lambda: image_src(ex), before_img)
    page.shot("shift 1", ex)


def test_feature_maps_and_saliency_explorers(lesson):
    page = lesson("08_visualizing.ipynb")
    run_clean(page, timeout=900)

    fm = page.widget("cnn-feature-maps")
    before_img, before_caption = image_src(fm), html_text(fm)
    page.shot("feature maps before", fm)
    page.nudge_slider(fm, "test image #", +1)
    assert page.wait_until_changed(lambda: image_src(fm), before_img)
    page.shot("feature maps next image", fm)
    layers = fm.locator(".widget-dropdown select").nth(1).locator("option").all_inner_texts()
    before_img, before_caption = image_src(fm), html_text(fm)
    current = fm.locator(".widget-dropdown select").nth(1).input_value()
    choice = next(t for t in reversed(layers) if t != current)
    page.pick(fm, "layer", choice)
    caption = page.wait_until_changed(lambda: html_text(fm), before_caption)
    assert "layer" in caption
    assert page.wait_until_changed(lambda: image_src(fm), before_img)
    page.shot("feature maps other layer", fm)

    sal = page.widget("cnn-saliency")
    before_img, before_caption = image_src(sal), html_text(sal)
    page.shot("saliency before", sal)
    page.nudge_slider(sal, "test image #", +1)
    assert page.wait_until_changed(lambda: image_src(sal), before_img, timeout=60)
    caption = page.wait_until_changed(lambda: html_text(sal), before_caption, timeout=60)
    assert "p(" in caption, caption
    page.shot("saliency next image", sal)
