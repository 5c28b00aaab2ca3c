"""The value stepper of lesson 03: a convolution with numbers, under stride and padding sliders.

Where ``output_size_explorer`` shows *where* the windows land, this explorer shows *what they
compute*. It draws the zero-padded input with every value written in it (the padding hatched
and its zeros in grey italics), the kernel, and the output; one window at a time is outlined on
the input, its output cell is outlined, and the sum behind that cell is written out, e.g.
``out[0, 1] = 0·0 + 0·1 + 0·0 + 1·1 + 0·2 + 2·1 + 0·0 + 1·1 + 3·0 = 4``. The numbers come from
``helpers.conv`` (``pad`` and ``conv2d_naive``). A kernel larger than the padded input shows
``helpers.conv``'s ValueError instead of a picture of the output.

Driven from code::

    vs = value_stepper()
    vs.controls["stride"].value = 2
    vs.controls["step"].value = 3
    vs.state["position"], vs.state["value"], vs.state["equation"]
"""
from __future__ import annotations

import time
from collections import OrderedDict

import ipywidgets as widgets
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle

from helpers import conv
from helpers.plots import blit_png, widget_figure
from helpers.widgets.base import finish_explorer
from helpers.widgets.conv_stepper import EXAMPLE_IMAGE, fmt_number, window_equation

#: The default kernel: a small blur with integer weights (they sum to 6), so every sum can be
#: done in one's head, and the zeros of the padding visibly lower the outputs at the border.
EXAMPLE_KERNEL = np.array([[0, 1, 0],
                           [1, 2, 1],
                           [0, 1, 0]], dtype=np.float32)

ORANGE = "#E69F00"       # Okabe-Ito palette: safe for colour-blind readers
VERMILLION = "#D55E00"
PAD_GREY = "#8C8C8C"


def _factor(v) -> str:
    s = fmt_number(v)
    return f"({s})" if s.startswith("-") else s


def step_values(image, kernel, stride=1, padding=0) -> dict:
    """Everything the stepper shows for one setting, computed with ``helpers.conv`` (no drawing).

    image: (H, W); kernel: (KH, KW); stride, padding: ints (the same along both axes).
    Returns a dict with ``padded`` (the zero-padded input, ``conv.pad``), ``pads``, ``out`` (the
    feature map from ``conv.conv2d_naive``, or None) and ``error`` (the ValueError message of
    ``helpers.conv`` when the kernel does not fit, else None).
    """
    x = np.asarray(image, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    pads = conv.resolve_padding(padding, k.shape, 1, stride)
    result = {"padded": conv.pad(x, pads), "pads": pads, "out": None, "error": None}
    try:
        result["out"] = conv.conv2d_naive(x[None, None], k[None, None], stride=stride,
                                          padding=padding)[0, 0]
    except ValueError as exc:
        result["error"] = str(exc)
    return result


def value_stepper(image=None, kernel=None, n=5, stride=1, padding=1, step=0, interval_ms=900, dpi=72):
    """A numeric convolution stepper with sliders for the input size, stride and padding.

    image: (H, W) small numbers (default: lesson 01's 5x5 example); the input is its top-left
    N x N corner, N set by a slider (at most min(H, W)); kernel: (KH, KW) (default a 3x3 blur
    with weights 0/1/2); n, stride, padding: the starting slider values (pixels); step: the
    starting window (row by row, from 0).

    Returns an ``ipywidgets.VBox`` with ``.controls`` (``"n"``, ``"stride"``, ``"padding"``,
    ``"step"``, ``"play"``), ``.state`` (``n``, ``stride``, ``padding``, ``image`` (N, N),
    ``kernel``, ``padded``, ``out`` (the whole feature map, None on an error), ``out_shape``,
    ``error``, ``step``, ``n_steps``, ``position`` (i, j), ``window_origin`` (row, column in
    the padded input), ``window``, ``products``, ``value``, ``padding_terms`` (how many of the
    products read a padding zero) and ``equation``), ``.equation`` (HTML: the sum and the
    output-size formula), ``.figure``, ``.image``, ``.update()`` and ``.timing`` (milliseconds
    of the last updates).
    """
    src = np.asarray(EXAMPLE_IMAGE if image is None else image, dtype=np.float64)
    k0 = np.asarray(EXAMPLE_KERNEL if kernel is None else kernel, dtype=np.float64)
    if src.ndim != 2 or k0.ndim != 2:
        raise ValueError(f"value_stepper draws one channel: image and kernel must be 2-D (H, W), "
                         f"got shapes {src.shape} and {k0.shape}")
    n_max = min(src.shape)
    kh, kw = k0.shape
    style = {"description_width": "initial"}
    lay = widgets.Layout(width="300px")

    def slider(value, lo, hi, text):
        return widgets.IntSlider(value=value, min=lo, max=hi, description=text, style=style,
                                 layout=lay, continuous_update=True)

    c = {
        "n": slider(min(n, n_max), 1, n_max, "input size N (pixels)"),
        "stride": slider(stride, 1, 3, "stride s (pixels)"),
        "padding": slider(padding, 0, 2, "padding p (pixels)"),
        "step": widgets.IntSlider(value=0, min=0, max=0, description="window #", style=style, layout=lay),
        "play": widgets.Play(value=0, min=0, max=0, interval=interval_ms, description="play"),
    }
    widgets.link((c["play"], "value"), (c["step"], "value"))
    equation = widgets.HTML()
    image_w = widgets.Image(format="png")

    # One axes, no tick machinery: padded input | kernel | output side by side at one cell size,
    # our own labels. Static parts are redrawn when N, s or p change; the window, the output
    # cell and the output numbers are animated (blitted on a kept background) when it moves.
    fig = widget_figure(figsize=(10.0, 4.3), dpi=dpi)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.86))
    ax.set_axis_off()
    ax.set_aspect("equal")
    in_img = ax.imshow(np.zeros((1, 1)), cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    k_img = ax.imshow(np.zeros((1, 1)), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    out_img = ax.imshow(np.zeros((1, 1)), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    grid = LineCollection([], colors="#555555", linewidths=0.6)
    ax.add_collection(grid)
    pad_bands = [Rectangle((0, 0), 1, 1, facecolor="#EDEDED", edgecolor=PAD_GREY, hatch="///",
                           linewidth=0) for _ in range(4)]
    for band in pad_bands:
        ax.add_patch(band)
    image_border = Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linestyle="--", linewidth=1.6)
    ax.add_patch(image_border)
    win_rect = Rectangle((0, 0), 1, 1, fill=False, edgecolor=ORANGE, linewidth=3.5, animated=True)
    ax.add_patch(win_rect)
    cell_rect = Rectangle((0, 0), 1, 1, fill=False, edgecolor=ORANGE, linewidth=3.5, animated=True)
    ax.add_patch(cell_rect)
    no_out = ax.text(0, 0, "", ha="left", va="center", color=VERMILLION, fontsize=11)
    # titles and column numbers sit a fixed number of points above the grids, whatever the cell size
    titles = [ax.annotate("", (0, -0.5), xytext=(0, 13), textcoords="offset points", ha="center",
                          va="bottom", fontsize=10) for _ in range(3)]
    suptitle = fig.suptitle("", fontsize=11, animated=True)
    legend = fig.text(0.5, 0.885, "", ha="center", va="bottom", fontsize=8.5, color="#333333")
    # The numbers: pools of Text objects that grow when needed and are moved and re-labelled,
    # never re-made (making ~150 texts would cost more than the drawing).
    pools: dict = {"in": [], "k": [], "out": [], "row": [], "col": []}
    out_texts: list = []          # the output numbers in use (animated: grey until reached)

    def take(pool, count, make):
        texts = pools[pool]
        while len(texts) < count:
            texts.append(make())
        for t in texts[count:]:
            t.set_visible(False)
        return texts[:count]

    state: dict = {}
    timing: list[float] = []
    # backgrounds: the pictures without the moving parts, kept for the last few settings, so that
    # going back to a setting (as a learner does, sliding back and forth) needs no full redraw
    drawn = {"key": None, "background": None, "busy": False, "x_out": 0.0, "cache": OrderedDict()}

    def grid_segments(rows, cols, x0=0.0):
        xs, ys = np.arange(cols + 1) - 0.5 + x0, np.arange(rows + 1) - 0.5
        return ([[(x, ys[0]), (x, ys[-1])] for x in xs] + [[(xs[0], y), (xs[-1], y)] for y in ys])

    def set_static(g, font):
        """Set (not draw) everything that depends on N, s and p only."""
        xp, out, (top, _), (left, _) = g["padded"], g["out"], *g["pads"]
        n_ = g["n"]
        hp, wp = xp.shape
        # the padded input: image values on a light grey scale, padding hatched with grey zeros
        lo, hi = float(src.min()), float(src.max())
        span = (hi - lo) or 1.0
        in_img.set_data(xp)
        in_img.set_clim(lo - 0.1 * span, hi + 1.6 * span)       # light greys: dark text stays readable
        in_img.set_extent((-0.5, wp - 0.5, hp - 0.5, -0.5))
        p = g["padding"]
        bands = [(-0.5, -0.5, wp, p), (-0.5, hp - p - 0.5, wp, p),      # top, bottom
                 (-0.5, p - 0.5, p, hp - 2 * p), (wp - p - 0.5, p - 0.5, p, hp - 2 * p)]  # left, right
        for band, (x0, y0, w, h) in zip(pad_bands, bands):
            band.set_visible(p > 0)
            band.set_bounds(x0, y0, w, h)
        image_border.set_visible(p > 0)
        image_border.set_bounds(left - 0.5, top - 0.5, n_, n_)
        texts = take("in", xp.size, lambda: ax.text(0, 0, "", ha="center", va="center"))
        for t, ((r, col), v) in zip(texts, np.ndenumerate(xp)):
            inside = top <= r < top + n_ and left <= col < left + n_
            t.set(position=(col, r), text=fmt_number(v), fontsize=font, visible=True,
                  color="black" if inside else "#6E6E6E", style="normal" if inside else "italic")
        # the kernel, right of the input, top-aligned
        xk = max(wp, kw) + 1.5                         # room for a kernel that does not fit
        klim = float(np.abs(k0).max()) or 1.0
        k_img.set_data(k0)
        k_img.set_clim(-2.2 * klim, 2.2 * klim)                  # pale colours, dark text
        k_img.set_extent((xk - 0.5, xk + kw - 0.5, kh - 0.5, -0.5))
        texts = take("k", k0.size, lambda: ax.text(0, 0, "", ha="center", va="center", fontweight="bold"))
        for t, ((r, col), v) in zip(texts, np.ndenumerate(k0)):
            t.set(position=(xk + col, r), text=fmt_number(v), fontsize=font, visible=True)
        segs = grid_segments(hp, wp) + grid_segments(kh, kw, xk)
        # the output, right of the kernel
        x_out = xk + kw + 1.5
        drawn["x_out"] = x_out
        out_texts[:] = take("out", 0 if out is None else out.size,
                            lambda: ax.text(0, 0, "", ha="center", va="center", animated=True))
        if out is None:
            out_img.set_visible(False)
            no_out.set(position=(x_out, (hp - 1) / 2), text="no output:\nthe kernel does\nnot fit")
            right, oh = x_out + 4.5, 0
            titles[2].xy = (x_out + 1.5, -0.5)
            titles[2].set_text("output: none")
        else:
            oh, ow = out.shape
            olim = float(np.abs(out).max()) or 1.0
            out_img.set_visible(True)
            no_out.set_text("")
            out_img.set_data(out)
            out_img.set_clim(-2.6 * olim, 2.6 * olim)          # pale colours, dark text
            out_img.set_extent((x_out - 0.5, x_out + ow - 0.5, oh - 0.5, -0.5))
            for t, ((r, col), v) in zip(out_texts, np.ndenumerate(out)):
                t.set(position=(x_out + col, r), text=fmt_number(v), fontsize=font, visible=True)
            segs += grid_segments(oh, ow, x_out)
            right = x_out + max(ow, 3)
            titles[2].xy = (x_out + (ow - 1) / 2, -0.5)
            titles[2].set_text(f"output {oh}×{ow}")
        grid.set_segments(segs)
        pad_txt = f"padded by {p} → {hp}×{wp}" if p else "no padding"
        titles[0].xy = ((wp - 1) / 2, -0.5)
        titles[0].set_text(f"input {n_}×{n_}, {pad_txt}")
        titles[1].xy = (xk + (kw - 1) / 2, -0.5)
        titles[1].set_text(f"kernel {kh}×{kw}")
        # row numbers left of the input, column numbers above each grid (padded-input indices)
        rows_ = take("row", hp, lambda: ax.annotate("", (0, 0), xytext=(-3, 0), textcoords="offset points",
                                                   ha="right", va="center", fontsize=7.5, color="#555555"))
        for r, t in enumerate(rows_):
            t.xy = (-0.5, r)
            t.set(text=str(r), visible=True)
        places = [(x0 + col, col) for x0, cols in ((0, wp), (xk, kw), (x_out, 0 if out is None else out.shape[1]))
                  for col in range(cols)]
        cols_ = take("col", len(places), lambda: ax.annotate("", (0, 0), xytext=(0, 2), textcoords="offset points",
                                                             ha="center", va="bottom", fontsize=7.5,
                                                             color="#555555"))
        for (x, col), t in zip(places, cols_):
            t.xy = (x, -0.5)
            t.set(text=str(col), visible=True)
        bottom = max(hp, kh, oh)
        ax.set_xlim(-1.6, right + 0.3)
        ax.set_ylim(bottom - 0.4, -0.5 - max(1.5, 0.17 * bottom))
        ax.apply_aspect()        # place the axes now: a kept background skips the draw that would
        legend.set_text("hatched: padding (zeros) · dashed: the image · orange: the window and its "
                        "output cell · grey output numbers: windows still to come")

    def font_size(g):
        hp, wp = g["padded"].shape
        oh, ow = g["out"].shape if g["out"] is not None else (0, 3)
        units_w = 1.6 + max(wp, kw) + 1.5 + kw + 1.5 + max(ow, 3) + 0.3
        units_h = max(hp, kh, oh) * 1.2 + 1.5
        w_pt = fig.get_figwidth() * 72 * 0.98
        h_pt = fig.get_figheight() * 72 * 0.86
        cell = min(w_pt / units_w, h_pt / units_h)
        return float(np.clip(0.36 * cell, 7, 13))

    def update(*_):
        if drawn["busy"]:          # a control changed by update() itself: one redraw is enough
            return
        drawn["busy"] = True
        try:
            _update()
        finally:
            drawn["busy"] = False

    def _update():
        t0 = time.perf_counter()
        n_, s, p = c["n"].value, c["stride"].value, c["padding"].value
        x = src[:n_, :n_]
        g = step_values(x, k0, s, p)
        g.update(n=n_, stride=s, padding=p)
        out = g["out"]
        n_steps = out.size if out is not None else 1
        for w in (c["step"], c["play"]):
            if w.max != n_steps - 1:
                if w.value > n_steps - 1:
                    w.value = 0
                w.max = n_steps - 1
        c["step"].disabled = out is None
        st = min(c["step"].value, n_steps - 1)
        key = (n_, s, p)
        if key != drawn["key"]:
            set_static(g, font_size(g))
            cache = drawn["cache"]
            drawn.update(key=key, background=cache.get(key))      # None: draw in full below
        state.clear()
        state.update(n=n_, stride=s, padding=p, image=x, kernel=k0, padded=g["padded"], out=out,
                     out_shape=None if out is None else out.shape, error=g["error"], step=st,
                     n_steps=n_steps if out is not None else 0)
        hp, wp = g["padded"].shape
        (top, _), (left, _) = g["pads"]
        if out is None:
            win_rect.set_visible(True)
            win_rect.set_edgecolor(VERMILLION)
            win_rect.set_linestyle("--")
            win_rect.set_bounds(-0.5, -0.5, kw, kh)
            cell_rect.set_visible(False)
            state.update(position=None, window_origin=None, window=None, products=None, value=None,
                         padding_terms=None, equation=None)
            suptitle.set_text(f"The {kh}×{kw} kernel does not fit the {hp}×{wp} padded input")
            size_txt = size_formula(n_, kh, s, p, None)
            equation.value = (f"<div style='color:{VERMILLION}'><b>ValueError</b> from helpers.conv: "
                              f"{g['error']}</div><div>{size_txt}</div>")
        else:
            oh, ow = out.shape
            i, j = divmod(st, ow)
            r0, c0 = i * s, j * s
            window = g["padded"][r0:r0 + kh, c0:c0 + kw]
            products = window * k0
            value = float(out[i, j])
            rows, cols = np.meshgrid(np.arange(r0, r0 + kh), np.arange(c0, c0 + kw), indexing="ij")
            in_pad = ~((rows >= top) & (rows < top + n_) & (cols >= left) & (cols < left + n_))
            text = window_equation(window, k0, i, j, value)
            state.update(position=(i, j), window_origin=(r0, c0), window=window.copy(),
                         products=products, value=value, padding_terms=int(in_pad.sum()),
                         equation=text)
            win_rect.set_visible(True)
            win_rect.set_edgecolor(ORANGE)
            win_rect.set_linestyle("-")
            win_rect.set_bounds(c0 - 0.5, r0 - 0.5, kw, kh)
            cell_rect.set_visible(True)
            cell_rect.set_bounds(drawn["x_out"] + j - 0.5, i - 0.5, 1, 1)
            for t_i, t in enumerate(out_texts):
                t.set_color("black" if t_i <= st else "#707070")
                t.set_fontweight("bold" if t_i == st else "normal")
            suptitle.set_text(f"window {st + 1} of {n_steps}: rows {r0}–{r0 + kh - 1}, columns "
                              f"{c0}–{c0 + kw - 1} of the padded input → out[{i}, {j}] = {fmt_number(value)}")
            terms = []
            for a, b, pad_ in zip(window.ravel(), k0.ravel(), in_pad.ravel()):
                term = f"{_factor(a)}·{_factor(b)}"
                terms.append(f"<span style='color:#767676'><i>{term}</i></span>" if pad_ else term)
            pad_note = (f"{int(in_pad.sum())} of the {kh * kw} products read a padding zero (grey): "
                        f"they add nothing." if in_pad.any() else "no product reads the padding.")
            equation.value = (
                f"<code style='font-size:115%'>out[{i}, {j}] = {' + '.join(terms)} = "
                f"<b>{fmt_number(value)}</b></code><br>"
                f"<small>the window: rows {r0}–{r0 + kh - 1}, columns {c0}–{c0 + kw - 1} of the padded "
                f"input; {pad_note} Each pixel times the kernel weight on top of it, then everything "
                f"added up.</small><div>{size_formula(n_, kh, s, p, oh)}</div>")
        animated = [win_rect, cell_rect, *out_texts, suptitle]
        image_w.value, drawn["background"] = blit_png(fig, animated, drawn["background"])
        drawn["cache"][key] = drawn["background"]
        drawn["cache"].move_to_end(key)
        while len(drawn["cache"]) > 12:
            drawn["cache"].popitem(last=False)
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    rows = [widgets.HBox([widgets.VBox([c["n"], c["stride"], c["padding"]]),
                          widgets.VBox([widgets.HBox([c["play"], c["step"]])])]),
            image_w, equation]
    # every control but "play" redraws: play moves the window slider, which then redraws
    box = finish_explorer(rows, "cnn-value-stepper", c, state, update,
                          redraw_on=[c["n"], c["stride"], c["padding"], c["step"]],
                          equation=equation, figure=fig, image=image_w, timing=timing)
    if step:
        c["step"].value = min(step, c["step"].max)
    return box


def size_formula(n, k, s, p, out) -> str:
    """The output-size formula with the numbers put in, as HTML."""
    top = n + 2 * p - k
    res = f"{top // s} + 1 = {out}" if out is not None else "no output"
    return (f"<i>N</i><sub>out</sub> = ⌊(<i>N</i> + 2<i>p</i> − <i>k</i>) / <i>s</i>⌋ + 1 = "
            f"⌊({n} + 2·{p} − {k}) / {s}⌋ + 1 = {res}")
