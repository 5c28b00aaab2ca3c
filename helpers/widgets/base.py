"""The last steps every explorer in ``helpers.widgets`` takes, written once.

An explorer builds its controls, a figure and an ``update()`` function that redraws. Then it
always does the same: make ``update`` run when a control moves, stack everything in a box,
put on the box what tests and notebooks read (``.controls``, ``.state``, ``.figure``, ...),
draw once and return the box. ``finish_explorer`` does exactly that.
"""
from __future__ import annotations

import ipywidgets as widgets


def finish_explorer(rows, css_class, controls, state, update, redraw_on=(), **parts):
    """Wire an explorer's controls to its redraw, assemble its box, draw it once and return it.

    rows: the box's children, top to bottom (e.g. an HBox of controls, the image, a caption);
    css_class: a class name put on the box, a handle for the browser tests (tests/browser);
    controls: the controls by name, e.g. ``{"size": slider}``; state: the dict ``update`` fills;
    update: the function that redraws; redraw_on: the controls whose ``value`` changes call it;
    parts: more attributes for the box, e.g. ``figure=fig, image=image_w, timing=timing``.

    Returns an ``ipywidgets.VBox`` of ``rows`` with ``.controls``, ``.state``, ``.update`` and
    each of ``parts`` as attributes, already drawn once.
    """
    for control in redraw_on:
        control.observe(update, names="value")    # moving the control redraws
    box = widgets.VBox(rows)
    box.add_class(css_class)
    box.controls = controls
    box.state = state
    for name, part in parts.items():              # e.g. box.figure = fig
        setattr(box, name, part)
    box.update = update
    update()                                      # the first drawing
    return box
