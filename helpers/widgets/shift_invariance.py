"""The shift explorer: move an image by 0-3 pixels and see how much the convolution's output
and the pooled output change.

A convolution is *equivariant*: shift the input and its output shifts with it, so compared
position by position, the output changes a lot. Pooling keeps one value per window; while the
strongest response stays inside its window, the pooled value does not change at all. So the
pooled output changes less, the more so the larger the window, and not at all only for shifts
that keep every maximum in its window (a shift by a whole window moves the pooled map by one
cell).

Driven from code::

    ex = shift_invariance_explorer()
    ex.controls["shift"].value = 1
    ex.state["conv_change"], ex.state["pool_change"], ex.state["pool_unchanged"]
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from helpers import conv
from helpers.plots import blit_png, widget_figure
from helpers.widgets.base import finish_explorer

BLUE = "#0072B2"        # Okabe-Ito colours: safe for colour-blind readers
ORANGE = "#E69F00"
VERMILLION = "#D55E00"

#: Sobel kernel for vertical edges (a horizontal intensity change)
SOBEL_X = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)

DIRECTIONS = {"right": (0, 1), "down": (1, 0), "diagonal": (1, 1)}


def shifted_pair(image, shift, direction="right", max_shift=3):
    """Two same-size crops of ``image`` (H, W): the original and its content moved by ``shift``
    pixels in ``direction`` ("right", "down", "diagonal"). Both are (H - max_shift, W - max_shift),
    cut from the real image (no wrap-around, no padding)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}")
    if not 0 <= shift <= max_shift:
        raise ValueError(f"shift must be between 0 and max_shift={max_shift} pixels, got {shift}")
    image = np.asarray(image, dtype=np.float32)
    m = max_shift
    h, w = image.shape[0] - m, image.shape[1] - m
    dy, dx = (shift * d for d in DIRECTIONS[direction])
    base = image[m:m + h, m:m + w]
    moved = image[m - dy:m - dy + h, m - dx:m - dx + w]   # content moves down/right by dy, dx
    return base, moved


def feature_map(image, kernel=SOBEL_X):
    """ReLU of the convolution of a 2-D image with a 2-D kernel: (H, W) -> (1, 1, OH, OW)."""
    out = conv.conv2d(np.asarray(image, np.float32)[None, None], np.asarray(kernel, np.float32)[None, None])
    return np.maximum(out, 0)


def pool(fmap, pooling="max", window=2):
    """Max or average pooling with stride = window: (1, 1, H, W) -> (1, 1, H//window, W//window)."""
    if pooling == "max":
        return conv.max_pool2d(fmap, window)
    if pooling == "average":
        return conv.avg_pool2d(fmap, window)
    raise ValueError(f"pooling must be 'max' or 'average', got {pooling!r}")


def relative_change(a, b):
    """||b - a|| / ||a||: 0 when nothing changed, about 1.4 when b is as large as a but unrelated."""
    return float(np.linalg.norm(b - a) / max(np.linalg.norm(a), 1e-12))


def unchanged_fraction(a, b, tol=1e-6):
    """Fraction of the positions where a or b is non-zero whose value did not change (|b - a|
    at most tol times the largest value); positions zero in both (no response) are left out."""
    active = (a > 0) | (b > 0)
    if not active.any():
        return 1.0
    scale = max(float(np.abs(a).max()), 1e-12)
    return float(np.mean(np.abs(b - a)[active] <= tol * scale))


def shift_changes(image, kernel=SOBEL_X, direction="right", pooling="max", window=2, max_shift=3):
    """How much the feature map and the pooled map change for every shift 0..max_shift.

    Returns a dict of lists indexed by the shift: ``conv_change`` and ``pool_change`` (relative
    L2 change, see :func:`relative_change`), ``conv_unchanged`` and ``pool_unchanged`` (fraction
    of active outputs whose value stayed exactly the same, :func:`unchanged_fraction`).
    """
    out = {k: [] for k in ("conv_change", "pool_change", "conv_unchanged", "pool_unchanged")}
    base, _ = shifted_pair(image, 0, direction, max_shift)
    f0 = feature_map(base, kernel)
    p0 = pool(f0, pooling, window)
    for s in range(max_shift + 1):
        _, moved = shifted_pair(image, s, direction, max_shift)
        f1 = feature_map(moved, kernel)
        p1 = pool(f1, pooling, window)
        out["conv_change"].append(relative_change(f0, f1))
        out["pool_change"].append(relative_change(p0, p1))
        out["conv_unchanged"].append(unchanged_fraction(f0, f1))
        out["pool_unchanged"].append(unchanged_fraction(p0, p1))
    return out


def shift_invariance_explorer(image=None, kernel=SOBEL_X, max_shift=3, dpi=72):
    """Controls for the shift (pixels), its direction, the pooling kind and the pooling window
    (pixels; stride = window); shows the shifted input, its feature map (ReLU of a vertical-edge
    filter), the pooled map, where each changed, and the change against the shift.

    image: 2-D grayscale array; default the course photograph at 1/4 size (150 x 128).
    Returns an ``ipywidgets.VBox`` with ``.controls`` (``"shift"``, ``"direction"``,
    ``"pooling"``, ``"window"``), ``.state`` (dict: the settings, ``conv_change``,
    ``pool_change``, ``conv_unchanged``, ``pool_unchanged`` for the current shift, and
    ``curves``, the :func:`shift_changes` dict for all shifts), ``.text`` (HTML summary),
    ``.figure``, ``.image`` and ``.update()``.
    """
    if image is None:
        from helpers.data import sample_image
        image = sample_image(gray=True, downsample=4)
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W) grayscale, got shape {image.shape}")

    style = {"description_width": "initial"}
    c = {
        "shift": widgets.IntSlider(value=0, min=0, max=max_shift, description="shift (pixels)",
                                   style=style, continuous_update=True),
        "direction": widgets.ToggleButtons(options=list(DIRECTIONS), value="right",
                                           description="direction:", style=style),
        "pooling": widgets.ToggleButtons(options=["max", "average"], value="max",
                                         description="pooling:", style=style),
        "window": widgets.IntSlider(value=2, min=2, max=4,
                                    description="pooling window = stride (pixels)", style=style,
                                    layout=widgets.Layout(width="360px")),
    }
    text = widgets.HTML()
    image_w = widgets.Image(format="png")
    fig = widget_figure(figsize=(10.5, 6.6), dpi=dpi)
    axes = fig.subplots(2, 3)
    fig.subplots_adjust(left=0.05, right=0.97, top=0.9, bottom=0.08, wspace=0.35, hspace=0.45)
    # the pictures and titles change with every shift: animated artists, redrawn on top of a
    # kept background (blitting); everything else is redrawn only when a setting changes
    placeholder = np.zeros((2, 2), np.float32)
    pics = {
        "input": axes[0, 0].imshow(placeholder, cmap="gray", vmin=0, vmax=1, animated=True),
        "conv": axes[0, 1].imshow(placeholder, cmap="viridis", animated=True),
        "pool": axes[0, 2].imshow(placeholder, cmap="viridis", animated=True),
        "dconv": axes[1, 0].imshow(placeholder, cmap="viridis", animated=True),
        "dpool": axes[1, 1].imshow(placeholder, cmap="viridis", animated=True),
    }
    titles = {k: ax.set_title("", fontsize=9, animated=True)
              for k, ax in zip(pics, (axes[0, 0], axes[0, 1], axes[0, 2], axes[1, 0], axes[1, 1]))}
    for a in list(axes[0]) + list(axes[1, :2]):
        a.set_xlabel("column (pixel)", fontsize=8)
        a.set_ylabel("row (pixel)", fontsize=8)
        a.tick_params(labelsize=7)
    a = axes[1, 2]
    shifts = np.arange(max_shift + 1)
    line_conv, = a.plot(shifts, np.zeros(len(shifts)), "o-", color=BLUE, label="feature map")
    line_pool, = a.plot(shifts, np.zeros(len(shifts)), "s--", color=ORANGE, label="pooled")
    marker = a.axvline(0, color=VERMILLION, linewidth=1, linestyle=":", animated=True)
    a.set_xticks(shifts)
    a.set_xlabel("shift (pixels)", fontsize=8)
    a.set_ylabel("relative change (%)", fontsize=8)
    a.set_title("change against the shift", fontsize=9)
    a.tick_params(labelsize=7)
    a.grid(alpha=0.3)
    suptitle = fig.suptitle("", fontsize=11, animated=True)
    animated = [*pics.values(), *titles.values(), marker, suptitle]
    state: dict = {}
    cache: dict = {}
    drawn = {"key": None, "background": None}

    def set_picture(name, arr, vmax):
        im = pics[name]
        im.set_data(arr)
        im.set_extent((-0.5, arr.shape[1] - 0.5, arr.shape[0] - 0.5, -0.5))
        im.set_clim(0, vmax)

    def update(*_):
        s, d = c["shift"].value, c["direction"].value
        kind, win = c["pooling"].value, c["window"].value
        key = (d, kind, win)
        if key not in cache:
            cache[key] = shift_changes(image, kernel, d, kind, win, max_shift)
        curves = cache[key]
        base, moved = shifted_pair(image, s, d, max_shift)
        f0, f1 = feature_map(base, kernel), feature_map(moved, kernel)
        p0, p1 = pool(f0, kind, win), pool(f1, kind, win)
        state.clear()
        state.update(shift=s, direction=d, pooling=kind, window=win,
                     conv_change=curves["conv_change"][s], pool_change=curves["pool_change"][s],
                     conv_unchanged=curves["conv_unchanged"][s],
                     pool_unchanged=curves["pool_unchanged"][s], curves=curves,
                     conv_shape=f1.shape[2:], pool_shape=p1.shape[2:])

        fmax = float(f0.max()) or 1.0
        pmax = float(p0.max()) or 1.0
        px = "pixel" if s == 1 else "pixels"
        set_picture("input", moved, 1.0)
        set_picture("conv", f1[0, 0], fmax)
        set_picture("pool", p1[0, 0], pmax)
        set_picture("dconv", np.abs(f1 - f0)[0, 0], fmax)
        set_picture("dpool", np.abs(p1 - p0)[0, 0], pmax)
        titles["input"].set_text(f"input, moved {s} {px} {d}\n{moved.shape[0]}x{moved.shape[1]}")
        titles["conv"].set_text(f"feature map: ReLU(conv)\n{f1.shape[2]}x{f1.shape[3]}")
        titles["pool"].set_text(f"after {kind} pooling {win}x{win}, stride {win}\n"
                                f"{p1.shape[2]}x{p1.shape[3]}")
        titles["dconv"].set_text(f"|change| of the feature map\n{state['conv_change']:.0%} (relative)")
        titles["dpool"].set_text(f"|change| of the pooled map\n{state['pool_change']:.0%} (relative)")
        marker.set_xdata([s, s])
        suptitle.set_text(f"Shift the input {d} by {s} {px}: how much do the outputs change?")
        if key != drawn["key"]:          # a setting changed: new curves, new image sizes
            for name, arr in (("input", moved), ("conv", f1[0, 0]), ("pool", p1[0, 0]),
                              ("dconv", f1[0, 0]), ("dpool", p1[0, 0])):
                pics[name].axes.set_xlim(-0.5, arr.shape[1] - 0.5)
                pics[name].axes.set_ylim(arr.shape[0] - 0.5, -0.5)
            line_conv.set_ydata(np.array(curves["conv_change"]) * 100)
            line_pool.set_ydata(np.array(curves["pool_change"]) * 100)
            line_pool.set_label(f"{kind}-pooled {win}x{win}")
            top = max(max(curves["conv_change"]), max(curves["pool_change"])) * 100
            axes[1, 2].set_ylim(-5, top * 1.08 + 5)
            axes[1, 2].legend(fontsize=7, loc="lower right")
            drawn.update(key=key, background=None)
        image_w.value, drawn["background"] = blit_png(fig, animated, drawn["background"])
        text.value = (
            f"<b>Shift {s} {px} {d}.</b> Feature map: changed by <b>{state['conv_change']:.0%}</b> "
            f"(relative L2), {state['conv_unchanged']:.0%} of its active values unchanged. "
            f"{kind.capitalize()}-pooled {win}x{win}: changed by <b>{state['pool_change']:.0%}</b>, "
            f"{state['pool_unchanged']:.0%} of its active values exactly unchanged.")

    sliders = widgets.VBox([c["shift"], c["window"]])
    choices = widgets.VBox([c["direction"], c["pooling"]])
    rows = [widgets.HBox([sliders, choices]), text, image_w]
    return finish_explorer(rows, "cnn-shift-invariance", c, state, update,
                           redraw_on=c.values(), text=text, figure=fig, image=image_w)
