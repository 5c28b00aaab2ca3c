"""helpers.widgets.base.finish_explorer: the steps every explorer ends with."""
import ipywidgets as widgets

from helpers.widgets.base import finish_explorer


def make_explorer():
    """A tiny explorer: a slider and a check box redraw, a play button does not."""
    size = widgets.IntSlider(value=3, min=1, max=9, description="size (px)")
    signed = widgets.Checkbox(value=False, description="signed")
    play = widgets.Play(value=0, min=0, max=5)
    caption = widgets.HTML()
    state, calls = {}, []

    def update(*_):
        calls.append(size.value)
        state.update(size=size.value, signed=signed.value)
        caption.value = f"size {size.value}"

    rows = [widgets.HBox([size, signed, play]), caption]
    controls = {"size": size, "signed": signed, "play": play}
    box = finish_explorer(rows, "cnn-test-explorer", controls, state, update,
                          redraw_on=[size, signed], caption=caption, timing=[1.5])
    return box, rows, controls, state, update, calls


def test_finish_explorer_builds_the_box_and_draws_once():
    box, rows, controls, state, update, calls = make_explorer()
    assert isinstance(box, widgets.VBox)
    assert list(box.children) == rows                     # the rows, in order, nothing added
    assert "cnn-test-explorer" in box._dom_classes
    assert box.controls is controls and box.state is state and box.update is update
    assert box.caption is rows[1] and box.timing == [1.5]  # extra parts become attributes
    assert calls == [3]                                   # drawn exactly once, already
    assert state == {"size": 3, "signed": False} and box.caption.value == "size 3"


def test_moving_a_control_redraws_exactly_once():
    box, rows, controls, state, update, calls = make_explorer()
    controls["size"].value = 7
    assert calls == [3, 7] and state["size"] == 7 and box.caption.value == "size 7"
    controls["signed"].value = True
    assert len(calls) == 3 and state["signed"] is True
    controls["play"].value = 4                            # not in redraw_on: no redraw
    assert len(calls) == 3
    box.update()                                          # redraw on demand, as tests and notebooks do
    assert len(calls) == 4
