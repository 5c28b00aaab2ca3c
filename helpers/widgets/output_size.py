"""The output-size explorer: input size, kernel size, stride, padding and dilation on sliders.

It draws the zero-padded input, where the kernel lands (every position at once, or one window
at a time with its taps), and the output grid; it shows the output-size formula with the
numbers put in, flags rows and columns that the floor drops and settings where no padding keeps
the size, and shows ``helpers.conv``'s ValueError when the kernel does not fit.

Dilation follows PyTorch: ``dilation=1`` is an ordinary kernel, ``dilation=2`` leaves one
pixel out between taps (some notes call the ordinary kernel "dilation 0").

Driven from code::

    ex = output_size_explorer()
    ex.controls["stride"].value = 2
    ex.state["out"], ex.formula.value
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict

import ipywidgets as widgets
import numpy as np
from matplotlib.artist import Artist
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox

from helpers import conv
from helpers.plots import blit_png, widget_figure
from helpers.widgets.base import finish_explorer

ORANGE = "#E69F00"       # Okabe-Ito palette: safe for colour-blind readers
VERMILLION = "#D55E00"
BLUE = "#0072B2"
CACHE_SIZE = 64          # finished pictures kept per explorer (a few MB at most)


class _KeptTexts(Artist):
    """Draws a few texts at fixed places (the two lines above the axes) and keeps their pixels
    per wording: the same wording again is copied back instead of rendered glyph by glyph (text
    is the slowest part of a redraw). For blitting only (the texts are animated, so a full draw
    leaves them out): draw it straight after the background is restored, so the kept pixels
    hold the background and these texts, nothing else. The texts are kept together (they may
    touch); when one of ``guard`` (texts of the axes) reaches into their box, they are drawn as
    usual and nothing is kept."""

    def __init__(self, texts, guard=(), keep=32):
        super().__init__()
        self.texts, self.guard, self.keep, self.kept = list(texts), list(guard), keep, OrderedDict()

    def draw(self, renderer):
        canvas = self.texts[0].figure.canvas
        shown = [t for t in self.texts if t.get_visible() and t.get_text()]
        if not shown:
            return
        key = tuple((id(t), t.get_text()) for t in shown)
        if key in self.kept:
            box, pixels = self.kept[key]
            if not self._guarded(box, renderer):
                canvas.restore_region(pixels)
                self.kept.move_to_end(key)
                return
        for t in shown:
            t.draw(renderer)
        box = Bbox.union([t.get_window_extent(renderer).padded(2) for t in shown])
        box = Bbox.intersection(box, self.texts[0].figure.bbox)
        if box is None or self._guarded(box, renderer):
            return
        self.kept[key] = (box, canvas.copy_from_bbox(box))
        if len(self.kept) > self.keep:
            self.kept.popitem(last=False)

    def _guarded(self, box, renderer):
        """Does one of the guard texts reach into box (so the kept pixels would cover it)?"""
        return any(g.get_visible() and g.get_text() and g.get_window_extent(renderer).overlaps(box)
                   for g in self.guard)


def keras_same_padding(n: int, kernel_size: int, stride: int = 1, dilation: int = 1):
    """TensorFlow/Keras ``padding="same"`` along one axis: returns (out, (before, after)).

    out = ceil(n / stride); the total padding is what ``out`` windows need,
    max((out - 1) * stride + k_eff - n, 0), split with the extra one after (bottom/right).
    """
    k_eff = dilation * (kernel_size - 1) + 1
    out = -(-n // stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return out, (total // 2, total - total // 2)


def geometry(n: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> dict:
    """Everything the explorer shows, for a square n x n input, as a dict (no drawing).

    Keys: n, k, s, p, d, k_eff, padded, span (n + 2p - k_eff), out (None when the kernel does not
    fit), error (helpers.conv's ValueError message or None), remainder ((span) mod s: rows the
    floor drops), dropped_real (how many of those are real pixels, not padding), coverage
    (padded x padded array: how many windows read each pixel), unread (real pixels no window
    reads), same_padding (the p that keeps the size at stride 1, or None) and same_note (text).
    """
    k_eff = dilation * (kernel_size - 1) + 1
    padded = n + 2 * padding
    span = padded - k_eff
    g = dict(n=n, k=kernel_size, s=stride, p=padding, d=dilation, k_eff=k_eff, padded=padded,
             span=span, out=None, error=None, remainder=None, dropped_real=0, unread=None)
    try:
        g["out"] = conv.output_size(n, kernel_size, stride, padding, dilation)
    except ValueError as exc:
        g["error"] = str(exc)
    cover1 = np.zeros(padded, dtype=np.int64)           # along one axis; 2-D is the outer product
    if g["out"] is not None:
        out = g["out"]
        g["remainder"] = span % stride
        last = (out - 1) * stride + k_eff - 1            # last padded index any window reads
        g["dropped_real"] = max(0, padding + n - 1 - last)
        for t in range(kernel_size):
            cover1[t * dilation: t * dilation + (out - 1) * stride + 1: stride] += 1
    g["coverage"] = np.outer(cover1, cover1)
    real = g["coverage"][padding:padding + n, padding:padding + n]
    g["unread"] = int((real == 0).sum()) if g["out"] is not None else n * n

    if stride == 1:
        if k_eff % 2 == 1:
            g["same_padding"] = (k_eff - 1) // 2
            g["same_note"] = (f"padding p = (k_eff − 1)/2 = {g['same_padding']} keeps the size "
                              f"('same')" + (": that is what you have" if padding == g["same_padding"] else ""))
        else:
            g["same_padding"] = None
            tot = k_eff - 1
            g["same_note"] = (f"no padding keeps the size with this even kernel (k_eff = {k_eff}): "
                              f"it needs 2p = k_eff − 1 = {tot}, an odd number. PyTorch's and Keras' "
                              f"padding='same' pad {tot // 2} at the top/left and {tot - tot // 2} "
                              f"at the bottom/right")
    else:
        g["same_padding"] = None
        kout, (b, a) = keras_same_padding(n, kernel_size, stride, dilation)
        need = max(0, math.ceil(((n - 1) * stride + k_eff - n) / 2))
        g["same_note"] = (f"no sensible padding keeps the size with stride {stride}: the output is "
                          f"about N/s (keeping all {n} would take p ≥ {need}, windows reading mostly "
                          f"zeros). Keras' padding='same' gives ceil(N/s) = {kout} (padding {b} before, "
                          f"{a} after); PyTorch refuses padding='same' when stride > 1")
    return g


def formula_html(g: dict) -> str:
    """The output-size formula with the numbers of ``g`` (from :func:`geometry`) substituted."""
    n, k, s, p, d, ke = g["n"], g["k"], g["s"], g["p"], g["d"], g["k_eff"]
    keff = (f"<i>k</i><sub>eff</sub> = <i>d</i>(<i>k</i> − 1) + 1 = {d}·({k} − 1) + 1 = {ke}"
            f" <small>(dilation 1 = ordinary kernel, PyTorch convention)</small>")
    top = n + 2 * p - ke
    if g["out"] is None:
        res = f"⌊{top} / {s}⌋ + 1 = {top // s + 1}: no output (see the message below)"
    else:
        res = f"⌊{top} / {s}⌋ + 1 = {top // s} + 1 = {g['out']}"
        if top % s:
            res += f" <small>({top}/{s} = {top / s:.3g}, the floor drops the rest)</small>"
    main = (f"<i>N</i><sub>out</sub> = ⌊(<i>N</i> + 2<i>p</i> − <i>k</i><sub>eff</sub>) / <i>s</i>⌋ + 1"
            f" = ⌊({n} + 2·{p} − {ke}) / {s}⌋ + 1 = {res}")
    return f"<div style='font-size:115%; line-height:1.6'>{keff}<br>{main}</div>"


def notes_html(g: dict) -> str:
    """The flags under the formula: error, dropped rows, unread pixels, keeping the size."""
    items = []
    if g["error"]:
        items.append(f"<span style='color:{VERMILLION}'><b>ValueError</b> from helpers.conv: "
                     f"{g['error']}</span>")
    else:
        r = g["remainder"]
        if r:
            where = ("all of them padding, so no pixel of the image is lost" if g["dropped_real"] == 0
                     else f"{g['dropped_real']} of them real image rows/columns, never read")
            items.append(f"<span style='color:{VERMILLION}'>⚠ the stride does not fit: "
                         f"N + 2p − k<sub>eff</sub> = {g['span']} is not a multiple of s = {g['s']}, so "
                         f"the last {r} row(s) and column(s) of the padded input are dropped "
                         f"by the floor ({where})</span>")
        else:
            items.append(f"✔ the stride fits exactly: {g['span']} is a multiple of {g['s']}")
        if g["unread"]:
            items.append(f"{g['unread']} of the {g['n'] ** 2} image pixels are never read by any window")
    items.append(g["same_note"])
    return "<ul style='margin:2px'>" + "".join(f"<li>{t}</li>" for t in items) + "</ul>"


def output_size_explorer(n=7, kernel_size=3, stride=1, padding=0, dilation=1, dpi=72):
    """Sliders for input size, kernel size, stride, padding and dilation (all in pixels).

    Returns an ``ipywidgets.VBox`` with ``.controls`` (``"n"``, ``"kernel_size"``,
    ``"stride"``, ``"padding"``, ``"dilation"``, ``"mode"`` ("every position" / "one
    position"), ``"position"``, ``"play"``), ``.state`` (the dict of :func:`geometry` plus the
    current ``position`` and ``window_origin``), ``.formula`` and ``.notes`` (HTML), ``.figure``,
    ``.image``, ``.update()`` and ``.timing`` (milliseconds of the last updates).
    The picture and texts of each setting are kept (``CACHE_SIZE`` of them): going back to a
    setting shows them again without drawing, and ``.figure`` stays at the last setting drawn.
    """
    style = {"description_width": "initial"}
    lay = widgets.Layout(width="300px")

    def slider(value, lo, hi, text):
        return widgets.IntSlider(value=value, min=lo, max=hi, description=text, style=style,
                                 layout=lay, continuous_update=True)

    c = {
        "n": slider(n, 1, 16, "input size N (pixels)"),
        "kernel_size": slider(kernel_size, 1, 9, "kernel size k (pixels)"),
        "stride": slider(stride, 1, 5, "stride s (pixels)"),
        "padding": slider(padding, 0, 5, "padding p (pixels)"),
        "dilation": slider(dilation, 1, 4, "dilation d (1 = ordinary)"),
        "mode": widgets.ToggleButtons(options=["every position", "one position"],
                                      value="every position", description="kernel:", style=style),
        "position": widgets.IntSlider(value=0, min=0, max=0, description="window #", style=style,
                                      layout=lay),
        "play": widgets.Play(value=0, min=0, max=0, interval=600),
    }
    widgets.link((c["play"], "value"), (c["position"], "value"))
    formula, notes = widgets.HTML(), widgets.HTML()
    image_w = widgets.Image(format="png")

    # One axes without matplotlib's tick machinery (its layout work is most of the cost of a
    # redraw): the padded input on the left, the output on the right at the same cell size, and
    # our own few index labels, kept in pools of Text objects that are moved, never re-created.
    fig = widget_figure(figsize=(8.6, 4.4), dpi=dpi)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.88))
    ax.set_axis_off()
    ax.set_aspect("equal")
    cov_img = ax.imshow(np.zeros((1, 1)), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    shade = ax.imshow(np.zeros((1, 1, 4)), interpolation="nearest")      # greys out the padding
    out_img = ax.imshow(np.zeros((1, 1)), cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    grid = LineCollection([], colors="white", linewidths=0.7)
    ax.add_collection(grid)
    image_border = Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linestyle="--", linewidth=1.5)
    ax.add_patch(image_border)
    drop_r = Rectangle((0, 0), 1, 1, fill=False, hatch="//", edgecolor=VERMILLION, linewidth=1.5)
    drop_b = Rectangle((0, 0), 1, 1, fill=False, hatch="//", edgecolor=VERMILLION, linewidth=1.5)
    ax.add_patch(drop_r)
    ax.add_patch(drop_b)
    centres = Line2D([], [], linestyle="none", marker="+", color="white", markersize=7, mew=1.5)
    ax.add_line(centres)
    win_rect = Rectangle((0, 0), 1, 1, fill=False, edgecolor=ORANGE, linewidth=3, animated=True)
    ax.add_patch(win_rect)
    taps = Line2D([], [], linestyle="none", marker="o", markersize=7, markerfacecolor=ORANGE,
                  markeredgecolor="black", animated=True)
    ax.add_line(taps)
    cell_rect = Rectangle((0, 0), 1, 1, fill=False, edgecolor=ORANGE, linewidth=3, animated=True)
    ax.add_patch(cell_rect)
    # titles and index labels sit a fixed number of points away from the grids, whatever the cell size
    title_in = ax.annotate("", (0, -0.5), xytext=(0, 13), textcoords="offset points", ha="center",
                           va="bottom", fontsize=10)
    title_out = ax.annotate("", (0, -0.5), xytext=(0, 13), textcoords="offset points", ha="center",
                            va="bottom", fontsize=10)
    no_out = ax.text(0, 0, "", ha="left", va="center", color=VERMILLION, fontsize=11)
    col_labels = [ax.annotate("", (0, -0.5), xytext=(0, 2), textcoords="offset points", ha="center",
                              va="bottom", fontsize=7, color="#444444") for _ in range(20)]
    row_labels = [ax.annotate("", (-0.5, 0), xytext=(-2, 0), textcoords="offset points", ha="right",
                              va="center", fontsize=7, color="#444444") for _ in range(20)]
    suptitle = fig.suptitle("", fontsize=10.5)
    legend = fig.text(0.5, 0.905, "", ha="center", va="bottom", fontsize=8.5, color="#333333")
    # the two long lines above the axes change seldom: their pixels are kept per wording
    for t in (suptitle, legend):
        t.set_animated(True)
    top_texts = _KeptTexts([suptitle, legend], guard=[title_in, title_out, no_out])
    top_texts.set_figure(fig)

    state: dict = {}
    timing: list[float] = []
    drawn = {"key": None, "background": None, "busy": False}
    # finished pictures and texts per full setting (every control value that changes them):
    # moving a slider back to a value it had costs no drawing at all. Bounded, oldest out first.
    # The figure itself keeps showing the last setting actually drawn (drawn["key"]).
    shown: dict = {}

    def grid_segments(rows, cols, x0=0.0):
        xs, ys = np.arange(cols + 1) - 0.5 + x0, np.arange(rows + 1) - 0.5
        return ([[(x, ys[0]), (x, ys[-1])] for x in xs] + [[(xs[0], y), (xs[-1], y)] for y in ys])

    def index_labels(size, x0, cols, rows):
        """Row numbers left of a grid and column numbers above it, at most 7 of each."""
        step = max(1, math.ceil(size / 7))
        for v in range(0, size, step):
            t = cols.pop()
            t.xy = (x0 + v, -0.5)
            t.set(text=str(v), visible=True)
            t = rows.pop()
            t.xy = (x0 - 0.5, v)
            t.set(text=str(v), visible=True)

    def draw_static(g):
        """Everything except the current window: redrawn when a size or setting changes."""
        P, p, n_, ke = g["padded"], g["p"], g["n"], g["k_eff"]
        left_w = max(P, ke)                            # room for a kernel that does not fit
        cov = g["coverage"]
        cov_img.set_data(cov)
        cov_img.set_extent((-0.5, P - 0.5, P - 0.5, -0.5))
        cov_img.set_clim(0, max(1, int(cov.max())))
        rgba = np.ones((P, P, 4))
        rgba[..., 3] = 0.55
        rgba[p:p + n_, p:p + n_, 3] = 0.0
        shade.set_data(rgba)
        shade.set_extent((-0.5, P - 0.5, P - 0.5, -0.5))
        image_border.set_bounds(p - 0.5, p - 0.5, n_, n_)
        pad_txt = f" padded by {p} to {P}×{P}" if p else " (no padding)"
        title_in.xy = ((P - 1) / 2, -0.5)
        title_in.set_text(f"input {n_}×{n_}{pad_txt}")
        r = g["remainder"] or 0
        drop_r.set_visible(bool(r))
        drop_b.set_visible(bool(r))
        if r:
            drop_r.set_bounds(P - r - 0.5, -0.5, r, P)
            drop_b.set_bounds(-0.5, P - r - 0.5, P, r)
        for t in col_labels + row_labels:
            t.set_visible(False)
        cols, rows = list(col_labels), list(row_labels)
        index_labels(P, 0, cols, rows)
        x0 = left_w + 2.5                             # the output grid starts here
        out = g["out"]
        segs = grid_segments(P, P)
        if out is None:
            out_img.set_visible(False)
            centres.set_data([], [])
            no_out.set(position=(x0, P / 2), text="no output:\nthe kernel does not fit")
            title_out.xy = (x0 + 2, -0.5)
            title_out.set_text("output: none")
            right = x0 + 6
        else:
            out_img.set_visible(True)
            no_out.set_text("")
            out_img.set_data(np.full((out, out), 0.3))
            out_img.set_extent((x0 - 0.5, x0 + out - 0.5, out - 0.5, -0.5))
            segs += grid_segments(out, out, x0)
            index_labels(out, x0, cols, rows)
            title_out.xy = (x0 + (out - 1) / 2, -0.5)
            title_out.set_text(f"output {out}×{out} ({out * out} windows)")
            right = x0 + max(out, 4)
            centre = (ke - 1) / 2
            pos = np.arange(out) * g["s"] + centre
            yy, xx = np.meshgrid(pos, pos, indexing="ij")
            centres.set_data(xx.ravel(), yy.ravel())
            centres.set_markersize(7 if out <= 8 else (5 if out <= 14 else 3))
            centres.set_visible(c["mode"].value == "every position")
        grid.set_segments(segs)
        bottom = max(left_w, out or 0)
        # margins in data units that give ~35 points above and ~18 left of the grids
        top = max(1.6, 0.16 * bottom)
        ax.set_xlim(-max(1.0, 0.09 * bottom) - 0.5, right + 0.2)
        ax.set_ylim(bottom - 0.3, -0.5 - top)
        what = "every window position (+ marks each window's centre)" if c["mode"].value == "every position" \
            else "one window at a time (orange dots: its taps)"
        suptitle.set_text(f"Where a {g['k']}×{g['k']} kernel (dilation {g['d']}, stride {g['s']}) lands: {what}")
        legend.set_text(f"colour: windows reading a pixel (purple 0 … yellow {int(cov.max())}) · pale: padding"
                        f" · dashed: image · hatched: dropped")

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
        g = geometry(c["n"].value, c["kernel_size"].value, c["stride"].value, c["padding"].value,
                     c["dilation"].value)
        out = g["out"]
        n_windows = out * out if out else 1
        for w in (c["position"], c["play"]):
            if w.max != n_windows - 1:
                if w.value > n_windows - 1:
                    w.value = 0
                w.max = n_windows - 1
        one = c["mode"].value == "one position"
        c["position"].disabled = not one or out is None
        pos = min(c["position"].value, n_windows - 1)
        key = (g["n"], g["k"], g["s"], g["p"], g["d"], c["mode"].value)
        full_key = key + (pos,)
        hit = shown.pop(full_key, None)
        if hit is not None:
            shown[full_key] = hit                      # most recently used goes last
            state.clear()
            state.update(g, position=pos, window_origin=hit[3], mode=c["mode"].value)
            image_w.value, formula.value, notes.value = hit[:3]
            timing.append(1000 * (time.perf_counter() - t0))
            del timing[:-50]
            return
        if key != drawn["key"]:
            draw_static(g)
            drawn.update(key=key, background=None)
        ke, s = g["k_eff"], g["s"]
        if out is None:
            win_rect.set_visible(True)
            win_rect.set_bounds(-0.5, -0.5, ke, ke)
            win_rect.set_edgecolor(VERMILLION)
            win_rect.set_linestyle("--")
            taps.set_visible(False)
            cell_rect.set_visible(False)
            origin = (0, 0)
        else:
            i, j = divmod(pos, out)
            origin = (i * s, j * s)
            win_rect.set_visible(one)
            win_rect.set_edgecolor(ORANGE)
            win_rect.set_linestyle("-")
            win_rect.set_bounds(origin[1] - 0.5, origin[0] - 0.5, ke, ke)
            t = np.arange(g["k"]) * g["d"]
            ty, tx = np.meshgrid(origin[0] + t, origin[1] + t, indexing="ij")
            taps.set_data(tx.ravel(), ty.ravel())
            taps.set_visible(one)
            cell_rect.set_visible(one)
            cell_rect.set_bounds(max(g["padded"], ke) + 2.5 + j - 0.5, i - 0.5, 1, 1)
        state.clear()
        state.update(g, position=pos, window_origin=origin, mode=c["mode"].value)
        png, drawn["background"] = blit_png(fig, [top_texts, win_rect, taps, cell_rect],
                                           drawn["background"])
        texts = (png, formula_html(g), notes_html(g))
        image_w.value, formula.value, notes.value = texts
        shown[full_key] = texts + (origin,)
        while len(shown) > CACHE_SIZE:
            del shown[next(iter(shown))]
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    sliders = widgets.VBox([c["n"], c["kernel_size"], c["stride"], c["padding"], c["dilation"]])
    stepper = widgets.VBox([c["mode"], widgets.HBox([c["play"], c["position"]])])
    # every control but "play" redraws: play moves the position slider, which then redraws
    redraw_on = [c[name] for name in ("n", "kernel_size", "stride", "padding", "dilation", "mode", "position")]
    rows = [widgets.HBox([sliders, stepper]), formula, image_w, notes]
    return finish_explorer(rows, "cnn-output-size", c, state, update, redraw_on=redraw_on,
                           formula=formula, notes=notes, figure=fig, image=image_w, timing=timing)
