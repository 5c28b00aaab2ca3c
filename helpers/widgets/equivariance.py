"""The equivariance explorer: shift the input, and the feature map shifts the same way.

A convolution uses the same kernel at every position, so it does not care *where* a pattern
is: move the image by (dy, dx) pixels, and its feature map moves by the same (dy, dx). In
symbols, conv(shift(x)) = shift(conv(x)): the convolution is *equivariant* to translation
(이동 등변성). The explorer computes both sides with ``helpers.conv.conv2d`` ("same" zero
padding, so that every map has the input's size) and shows their difference: zero everywhere
except in a band along the border, where the zero padding and the pixels that moved in or out
of the frame are read. (Lesson 08's shift explorer takes the next step: pooling after the
convolution makes the output change *less* under a shift, an approximate invariance.)

Driven from code::

    ex = equivariance_explorer()
    ex.controls["dx"].value = 4
    ex.state["max_diff_inside"], ex.state["max_diff_border"]
"""
from __future__ import annotations

import time

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle

from helpers import conv
from helpers.plots import blit_png, widget_figure
from helpers.widgets.base import finish_explorer
from helpers.widgets.filter_explorer import make_filter

ORANGE = "#E69F00"       # Okabe-Ito palette: safe for colour-blind readers

#: The filters the dropdown offers (all from ``filter_explorer.make_filter``, 3x3).
FILTERS = ("sobel x", "sobel y", "laplacian", "sharpen", "gaussian")


def shift_image(image, dy, dx):
    """Move the content of ``image`` (H, W) down by dy and right by dx pixels (negative: up,
    left). Pixels that leave the frame are lost; those that come in are 0. Returns (H, W)."""
    image = np.asarray(image)
    h, w = image.shape
    out = np.zeros_like(image)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def feature_map(image, kernel):
    """conv.conv2d of one image (H, W) with one kernel (KH, KW), "same" zero padding -> (H, W)."""
    image = np.asarray(image, np.float32)
    kernel = np.asarray(kernel, np.float32)
    return conv.conv2d(image[None, None], kernel[None, None], padding="same")[0, 0]


def inside_mask(shape, kernel_shape, dy, dx):
    """(H, W) bool: the output pixels whose window reads only pixels of the image that are in the
    frame both before and after the shift (no padding, no pixel that moved in or out). There,
    conv(shift(x)) and shift(conv(x)) must agree exactly (up to float rounding)."""
    h, w = shape
    kh, kw = kernel_shape
    (top, _), (left, _) = conv.resolve_padding("same", (kh, kw))
    rows = np.arange(h)[:, None] - top          # first row each window reads
    cols = np.arange(w)[None, :] - left
    ok_r = (rows >= max(dy, 0)) & (rows + kh <= h + min(dy, 0))
    ok_c = (cols >= max(dx, 0)) & (cols + kw <= w + min(dx, 0))
    return ok_r & ok_c


def equivariance(image, kernel, dy, dx, fmap=None) -> dict:
    """Both ways round, for one shift: ``shifted`` = shift(x); ``fmap`` = conv(x);
    ``shift_of_fmap`` = shift(conv(x)); ``fmap_of_shift`` = conv(shift(x)); ``diff`` = their
    difference (fmap_of_shift - shift_of_fmap); ``inside`` (:func:`inside_mask`);
    ``max_diff_inside`` and ``max_diff_border`` (largest |diff| inside and outside the mask) and
    ``scale`` (largest |conv(x)|, to compare with). All arrays (H, W). fmap: conv(x) if already
    computed (it does not depend on the shift)."""
    x = np.asarray(image, np.float32)
    k = np.asarray(kernel, np.float32)
    shifted = shift_image(x, dy, dx)
    fmap = feature_map(x, k) if fmap is None else fmap
    shift_of_fmap = shift_image(fmap, dy, dx)
    fmap_of_shift = feature_map(shifted, k)
    diff = fmap_of_shift - shift_of_fmap
    inside = inside_mask(x.shape, k.shape, dy, dx)
    ad = np.abs(diff)
    return {"shifted": shifted, "fmap": fmap, "shift_of_fmap": shift_of_fmap,
            "fmap_of_shift": fmap_of_shift, "diff": diff, "inside": inside,
            "max_diff_inside": float(ad[inside].max()) if inside.any() else 0.0,
            "max_diff_border": float(ad[~inside].max()) if (~inside).any() else 0.0,
            "scale": float(np.abs(fmap).max())}


def equivariance_explorer(image=None, name="sobel x", dx=3, dy=0, max_shift=10, dpi=72):
    """Sliders for a shift (dx right, dy down, in pixels) and a filter dropdown; shows the input,
    the shifted input, the feature map of each, the map of the input shifted afterwards, and
    the difference conv(shift(x)) - shift(conv(x)), zero away from the border.

    image: 2-D grayscale (default: the course photograph at 1/4 size, 150 x 128); name: one of
    ``FILTERS``; dx, dy: the starting shift; max_shift: the sliders' range (±, pixels).

    Returns an ``ipywidgets.VBox`` with ``.controls`` (``"dx"``, ``"dy"``, ``"filter"``),
    ``.state`` (``dx``, ``dy``, ``filter``, ``kernel`` and the dict of :func:`equivariance`),
    ``.text`` (HTML), ``.figure``, ``.image``, ``.update()`` and ``.timing`` (milliseconds of
    the last updates).
    """
    if image is None:
        from helpers.data import sample_image
        image = sample_image(gray=True, downsample=4)
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"equivariance_explorer needs one grayscale image (H, W), got shape {img.shape}")
    if name not in FILTERS:
        raise ValueError(f"name must be one of {FILTERS}, got {name!r}")

    style = {"description_width": "initial"}
    lay = widgets.Layout(width="330px")
    c = {
        "dx": widgets.IntSlider(value=dx, min=-max_shift, max=max_shift, description="dx: shift right (pixels)",
                                style=style, layout=lay, continuous_update=True),
        "dy": widgets.IntSlider(value=dy, min=-max_shift, max=max_shift, description="dy: shift down (pixels)",
                                style=style, layout=lay, continuous_update=True),
        "filter": widgets.Dropdown(options=list(FILTERS), value=name, description="filter", style=style),
    }
    text = widgets.HTML()
    image_w = widgets.Image(format="png")

    # 2 x 3 panels, a commutative diagram: top row x -> conv(x) -> shift(conv(x)); bottom row
    # shift(x) -> conv(shift(x)) -> their difference. The pictures that change with the shift
    # are animated (blitted on a kept background); a new filter redraws everything.
    fig = widget_figure(figsize=(10.4, 6.4), dpi=dpi)
    axes = fig.subplots(2, 3)
    fig.subplots_adjust(left=0.02, right=0.93, top=0.86, bottom=0.03, wspace=0.22, hspace=0.3)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    h, w = img.shape
    ph = np.zeros((h, w), np.float32)
    pics = {
        "input": axes[0, 0].imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest"),
        "fmap": axes[0, 1].imshow(ph, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest"),
        "shift_of_fmap": axes[0, 2].imshow(ph, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest",
                                           animated=True),
        "shifted": axes[1, 0].imshow(ph, cmap="gray", vmin=0, vmax=1, interpolation="nearest", animated=True),
        "fmap_of_shift": axes[1, 1].imshow(ph, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest",
                                           animated=True),
        # |difference| on a dark-to-bright scale: the thin lines along the border stand out
        "diff": axes[1, 2].imshow(ph, cmap="viridis", vmin=0, vmax=1, interpolation="nearest", animated=True),
    }
    axes[0, 0].set_title("input x", fontsize=10)
    fmap_title = axes[0, 1].set_title("", fontsize=10)
    titles = {
        "shift_of_fmap": axes[0, 2].set_title("", fontsize=10, animated=True),
        "shifted": axes[1, 0].set_title("", fontsize=10, animated=True),
    }
    axes[1, 1].set_title("conv(shift(x)): map of the moved input", fontsize=10)
    axes[1, 2].set_title("|difference| of the two maps", fontsize=10)
    axes[1, 2].set_xlabel("dark: 0 · dashed: windows that read only pixels in the frame", fontsize=8)
    frame = Rectangle((0, 0), 1, 1, fill=False, edgecolor="white", linestyle="--", linewidth=1.3,
                      animated=True)
    axes[1, 2].add_patch(frame)
    # a landmark: the same feature marked in every panel, moved with the shift where it moves
    marks = {k: ax.plot([], [], "+", color=ORANGE, markersize=16, markeredgewidth=2.5,
                        animated=k not in ("input", "fmap"))[0]
             for k, ax in (("input", axes[0, 0]), ("fmap", axes[0, 1]), ("shift_of_fmap", axes[0, 2]),
                           ("shifted", axes[1, 0]), ("fmap_of_shift", axes[1, 1]))}
    cbar = fig.colorbar(pics["fmap"], ax=list(axes[:, 2]), fraction=0.04, pad=0.03)
    cbar.set_label("feature-map value (red > 0 > blue)", fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    # arrows of the diagram, in figure coordinates between the panels
    for ax in axes.flat:
        ax.apply_aspect()                  # the image axes shrink to their aspect: arrows meet them
    arrow = dict(arrowstyle="-|>", color="#333333", linewidth=1.4, mutation_scale=14)
    for (a, b_, label) in (((0, 0), (0, 1), "conv"), ((0, 1), (0, 2), "shift"), ((1, 0), (1, 1), "conv")):
        p0, p1 = axes[a].get_position(), axes[b_].get_position()
        y = (p0.y0 + p0.y1) / 2
        fig.add_artist(_arrow(fig, (p0.x1 + 0.004, y), (p1.x0 - 0.004, y), arrow))
        fig.text((p0.x1 + p1.x0) / 2, y + 0.012, label, ha="center", va="bottom", fontsize=9)
    suptitle = fig.suptitle("", fontsize=11, animated=True)
    fig.text(0.5, 0.905, "top row: convolve, then shift · bottom row: shift, then convolve · "
             "equivariance: both give the same map, away from the border",
             ha="center", va="bottom", fontsize=9.5, color="#333333")

    state: dict = {}
    timing: list[float] = []
    drawn = {"filter": None, "background": None, "landmark": (0, 0), "fmap": None}

    def update(*_):
        t0 = time.perf_counter()
        sx, sy, fname = int(c["dx"].value), int(c["dy"].value), c["filter"].value
        kernel = make_filter(fname, 3)
        if drawn["filter"] != fname:
            drawn["fmap"] = feature_map(img, kernel)             # conv(x) does not move with the shift
        res = equivariance(img, kernel, sy, sx, fmap=drawn["fmap"])
        state.clear()
        state.update(dx=sx, dy=sy, filter=fname, kernel=kernel, **res)
        # colours: the 99.5th percentile of |conv(x)|, so that a few strong edges do not leave
        # the rest pale (beyond it the colours saturate)
        lim = float(np.percentile(np.abs(res["fmap"]), 99.5)) or res["scale"] or 1.0
        if drawn["filter"] != fname:            # a new filter: new maps, new colour scale
            pics["fmap"].set_data(res["fmap"])
            for k in ("fmap", "shift_of_fmap", "fmap_of_shift"):
                pics[k].set_clim(-lim, lim)
            pics["diff"].set_clim(0, 0.5 * lim)
            fmap_title.set_text(f"conv(x): {fname}, 'same' padding")
            # the landmark: the strongest response not too near the border
            m = 12
            inner = np.abs(res["fmap"][m:-m, m:-m])
            r, q = np.unravel_index(int(np.argmax(inner)), inner.shape)
            drawn["landmark"] = (int(r) + m, int(q) + m)
            lr, lc = drawn["landmark"]
            for k in ("input", "fmap"):
                marks[k].set_data([lc], [lr])
            drawn.update(filter=fname, background=None)
        pics["shifted"].set_data(res["shifted"])
        pics["shift_of_fmap"].set_data(res["shift_of_fmap"])
        pics["fmap_of_shift"].set_data(res["fmap_of_shift"])
        pics["diff"].set_data(np.abs(res["diff"]))
        lr, lc = drawn["landmark"]
        for k in ("shift_of_fmap", "shifted", "fmap_of_shift"):
            marks[k].set_data([lc + sx], [lr + sy])
        by = f"({sy:+d}, {sx:+d})"
        titles["shifted"].set_text(f"shift(x): moved by {by}")
        titles["shift_of_fmap"].set_text(f"shift(conv(x)): map moved by {by}")
        rows_in = np.flatnonzero(res["inside"].any(axis=1))
        cols_in = np.flatnonzero(res["inside"].any(axis=0))
        if rows_in.size and cols_in.size:
            frame.set_visible(True)
            frame.set_bounds(cols_in[0] - 0.5, rows_in[0] - 0.5, cols_in[-1] - cols_in[0] + 1,
                             rows_in[-1] - rows_in[0] + 1)
        else:
            frame.set_visible(False)
        suptitle.set_text(f"Shift the input {_move(sy, 'row', 'down', 'up')} and "
                          f"{_move(sx, 'column', 'right', 'left')}: the feature map moves the same way")
        animated = [*(pics[k] for k in ("shifted", "shift_of_fmap", "fmap_of_shift", "diff")),
                    *titles.values(), *(marks[k] for k in ("shift_of_fmap", "shifted", "fmap_of_shift")),
                    frame, suptitle]
        image_w.value, drawn["background"] = blit_png(fig, animated, drawn["background"])
        ratio = res["max_diff_border"] / (res["scale"] or 1.0)
        text.value = (
            f"<b>Shift ({sy:+d}, {sx:+d})</b> (rows down, columns right). Inside the dashed frame "
            f"conv(shift(x)) and shift(conv(x)) agree: largest difference "
            f"<b>{res['max_diff_inside']:.1e}</b> (float rounding), for feature-map values up to "
            f"{res['scale']:.2f}. Outside it, in a band along the border, they differ by up to "
            f"<b>{res['max_diff_border']:.2f}</b> ({ratio:.0%} of the largest value): there a window "
            f"reads the zero padding, or pixels that left the frame or came in as zeros.")
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    rows = [widgets.HBox([widgets.VBox([c["dx"], c["dy"]]), c["filter"]]), text, image_w]
    return finish_explorer(rows, "cnn-equivariance", c, state, update, redraw_on=c.values(),
                           text=text, figure=fig, image=image_w, timing=timing)


def _move(n, unit, positive, negative):
    """E.g. _move(-2, "row", "down", "up") -> '2 rows up'; 0 -> '0 rows'."""
    word = unit if abs(n) == 1 else unit + "s"
    return f"{abs(n)} {word}" + ("" if n == 0 else f" {positive if n > 0 else negative}")


def _arrow(fig, start, end, props):
    from matplotlib.patches import FancyArrowPatch

    return FancyArrowPatch(start, end, transform=fig.transFigure, **props)
