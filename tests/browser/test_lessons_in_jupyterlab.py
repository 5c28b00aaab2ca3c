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
