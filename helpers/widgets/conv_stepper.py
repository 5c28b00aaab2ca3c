"""Step a convolution window across a small image, one output pixel at a time.

``conv_stepper()`` shows the worked example of lesson 01 (a 5x5 image, a 2x2 kernel, stride 1):
a slider (and a play button) moves the window; the window is outlined on the input, its
products and their sum are written out, and the output cell fills in. A check box flips the
kernel, which turns the cross-correlation that CNN libraries compute into a true convolution.

The returned widget can be driven from code::

    st = conv_stepper()
    st.controls["step"].value = 6
    st.state["position"], st.state["value"], st.equation.value
"""
from __future__ import annotations

import time

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
from matplotlib.patches import Rectangle

from helpers import conv
from helpers.plots import blit_png, widget_figure
from helpers.widgets.base import finish_explorer

#: The worked example of lesson 01: a 5x5 grayscale image (small integers, so that every
#: product can be checked by hand) and a 2x2 kernel whose four weights all differ (so that
#: flipping it changes the result).
EXAMPLE_IMAGE = np.array([[1, 0, 2, 3, 1],
                          [0, 1, 3, 2, 0],
                          [2, 3, 1, 0, 1],
                          [1, 2, 0, 1, 3],
                          [0, 1, 2, 3, 2]], dtype=np.float32)
EXAMPLE_KERNEL = np.array([[2, 0],
                           [1, -1]], dtype=np.float32)

HIGHLIGHT = "#E69F00"   # orange of the Okabe-Ito palette (colour-blind safe)


def fmt_number(v) -> str:
    """A number as a person would write it: 3 rather than 3.0, 0.25 rather than 0.25000001."""
    v = float(v)
    if abs(v - round(v)) < 1e-6:
        return str(int(round(v)))
    return f"{v:.3g}"


def _factor(v) -> str:
    s = fmt_number(v)
    return f"({s})" if s.startswith("-") else s


def window_equation(window, kernel, i, j, value=None) -> str:
    """The sum behind one output pixel as text, e.g. ``out[0, 1] = 0·2 + 2·0 + 1·1 + 3·(-1) = -2``.

    window, kernel: (KH, KW) arrays of the same shape; i, j: the output position.
    """
    window, kernel = np.asarray(window), np.asarray(kernel)
    terms = " + ".join(f"{_factor(a)}·{_factor(b)}" for a, b in zip(window.ravel(), kernel.ravel()))
    if value is None:
        value = float(np.sum(window * kernel))
    return f"out[{i}, {j}] = {terms} = {fmt_number(value)}"


def conv_stepper(image=None, kernel=None, stride=1, padding=0, flip=False, interval_ms=900, dpi=80):
    """A stepping widget for a single-channel convolution (cross-correlation).

    image: (H, W) array (default: the lesson's 5x5 example); kernel: (KH, KW) (default 2x2);
    stride, padding: as in ``helpers.conv`` (int, pair, "valid"/"same"); flip: start with the
    kernel flipped (true convolution). Returns an ``ipywidgets.VBox`` with

    * ``.controls``: ``{"step": IntSlider, "play": Play, "flip": Checkbox}``;
    * ``.state``: the step, output position ``(i, j)``, the ``window`` (KH, KW) under the kernel,
      the ``products``, their sum ``value``, the partly filled ``out`` (NaN where not yet
      computed), the ``full`` feature map and the ``kernel`` used (flipped or not);
    * ``.equation``: the HTML widget with the products and their sum;
    * ``.figure`` (matplotlib) and ``.image`` (the PNG shown); ``.update()`` redraws;
      ``.timing``: milliseconds taken by the last updates.
    """
    x = np.asarray(EXAMPLE_IMAGE if image is None else image, dtype=np.float64)
    k0 = np.asarray(EXAMPLE_KERNEL if kernel is None else kernel, dtype=np.float64)
    if x.ndim != 2 or k0.ndim != 2:
        raise ValueError(f"conv_stepper draws one channel: image and kernel must be 2-D (H, W), "
                         f"got shapes {x.shape} and {k0.shape}")
    kh, kw = k0.shape
    sh, sw = conv.pair(stride, "stride")
    pads = conv.resolve_padding(padding, (kh, kw), 1, (sh, sw))
    oh, ow = conv.output_size(x.shape, (kh, kw), (sh, sw), padding)   # ValueError if it cannot fit
    (top, bottom), (left, right) = pads
    xp = conv.pad(x, pads)
    hp, wp = xp.shape
    n_steps = oh * ow
    show_numbers = hp * wp <= 400

    # --- controls ----------------------------------------------------------------------------
    step = widgets.IntSlider(value=0, min=0, max=n_steps - 1, description="window #",
                             continuous_update=True, style={"description_width": "initial"},
                             layout=widgets.Layout(width="320px"))
    play = widgets.Play(value=0, min=0, max=n_steps - 1, interval=interval_ms, description="play")
    widgets.link((play, "value"), (step, "value"))
    flip_box = widgets.Checkbox(value=bool(flip), description="flip the kernel (true convolution)",
                                indent=False)
    equation = widgets.HTML()
    image_w = widgets.Image(format="png")

    # --- figure: input | kernel | output, widths proportional to their sizes ------------------
    fig = widget_figure(figsize=(2.2 + 0.42 * (wp + kw + ow), 2.9), dpi=dpi)
    gs = fig.add_gridspec(1, 3, width_ratios=[wp, max(kw, 1.6), ow], left=0.07, right=0.98,
                          bottom=0.2, top=0.8, wspace=0.35)
    ax_in, ax_k, ax_out = (fig.add_subplot(gs[0, c]) for c in range(3))

    lo, hi = float(xp.min()), float(xp.max())
    span = (hi - lo) or 1.0
    ax_in.imshow(xp, cmap="Greys", vmin=lo - 0.1 * span, vmax=hi + 1.6 * span)  # light greys: text stays readable
    if top or bottom or left or right:
        ax_in.add_patch(Rectangle((left - 0.5, top - 0.5), x.shape[1], x.shape[0], fill=False,
                                  edgecolor="black", linewidth=1.2, linestyle="--"))
    if show_numbers:
        for (r, c), v in np.ndenumerate(xp):
            inside = top <= r < top + x.shape[0] and left <= c < left + x.shape[1]
            ax_in.text(c, r, fmt_number(v), ha="center", va="center", fontsize=10,
                       color="black" if inside else "#777777", style="normal" if inside else "italic")
    window_rect = Rectangle((-0.5, -0.5), kw, kh, fill=False, edgecolor=HIGHLIGHT, linewidth=3.5,
                            animated=True)
    ax_in.add_patch(window_rect)
    ax_in.set_xlabel("column (pixel)")
    ax_in.set_ylabel("row (pixel)")

    klim = float(np.abs(k0).max()) or 1.0
    k_img = ax_k.imshow(k0, cmap="RdBu_r", vmin=-2 * klim, vmax=2 * klim)  # pale colours, dark text
    k_texts = [ax_k.text(c, r, "", ha="center", va="center", fontsize=11, fontweight="bold")
               for r in range(kh) for c in range(kw)]
    ax_k.set_xlabel("column")
    ax_k.set_ylabel("row")

    cmap_out = mpl.colormaps["RdBu_r"].with_extremes(bad="#eeeeee")
    out_img = ax_out.imshow(np.ma.masked_all((oh, ow)), cmap=cmap_out, animated=True)
    out_texts = [ax_out.text(c, r, "", ha="center", va="center", fontsize=10, animated=True)
                 for r in range(oh) for c in range(ow)] if oh * ow <= 400 else []
    cell_rect = Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor=HIGHLIGHT, linewidth=3.5,
                          animated=True)
    ax_out.add_patch(cell_rect)
    ax_out.set_xlabel("column")
    ax_out.set_ylabel("row")
    for ax, (h, w) in ((ax_in, (hp, wp)), (ax_k, (kh, kw)), (ax_out, (oh, ow))):
        ax.set_xticks(range(w))
        ax.set_yticks(range(h))
        ax.tick_params(labelsize=8, length=0)
    title = fig.suptitle("", fontsize=10, animated=True)
    ax_in.set_title(f"input {x.shape[0]}×{x.shape[1]}" + (f" padded to {hp}×{wp}" if (hp, wp) != x.shape else ""),
                    fontsize=10)
    ax_out.set_title(f"feature map {oh}×{ow}", fontsize=10)
    moving = [window_rect, out_img, *out_texts, cell_rect, title]
    drawn = {"background": None, "flipped": None}

    state: dict = {}
    timing: list[float] = []

    def update(*_):
        t0 = time.perf_counter()
        kern = k0[::-1, ::-1] if flip_box.value else k0
        full = conv.conv2d_naive(x[None, None], kern[None, None], stride=(sh, sw), padding=padding)[0, 0]
        s = int(step.value)
        i, j = divmod(s, ow)
        r0, c0 = i * sh, j * sw
        window = xp[r0:r0 + kh, c0:c0 + kw]
        products = window * kern
        value = float(products.sum())
        out = np.full((oh, ow), np.nan)
        out.ravel()[:s + 1] = full.ravel()[:s + 1]
        state.update(step=s, position=(i, j), window=window.copy(), products=products,
                     value=value, out=out, full=full, kernel=kern.copy(), flipped=bool(flip_box.value),
                     n_steps=n_steps, window_origin=(r0, c0))

        window_rect.set_xy((c0 - 0.5, r0 - 0.5))
        if drawn["flipped"] != flip_box.value:        # the kernel panel changed: redraw everything
            k_img.set_data(kern)
            for t, v in zip(k_texts, kern.ravel()):
                t.set_text(fmt_number(v))
            ax_k.set_title(f"kernel {kh}×{kw}" + (" (flipped)" if flip_box.value else ""), fontsize=10)
            drawn.update(flipped=flip_box.value, background=None)
        olim = float(np.abs(full).max()) or 1.0
        out_img.set_data(np.ma.masked_invalid(out))
        out_img.set_clim(-1.6 * olim, 1.6 * olim)
        for t, v in zip(out_texts, out.ravel()):
            t.set_text("" if np.isnan(v) else fmt_number(v))
        cell_rect.set_xy((j - 0.5, i - 0.5))
        what = "true convolution: kernel flipped" if flip_box.value else "cross-correlation, as in CNN libraries"
        title.set_text(f"window {s + 1} of {n_steps}: rows {r0}-{r0 + kh - 1}, columns {c0}-{c0 + kw - 1} "
                       f"→ out[{i}, {j}] = {fmt_number(value)}   ({what})")
        image_w.value, drawn["background"] = blit_png(fig, moving, drawn["background"])
        equation.value = (f"<code style='font-size:110%'>{window_equation(window, kern, i, j, value)}</code>"
                          f"<br><small>window = rows {r0}–{r0 + kh - 1}, columns {c0}–{c0 + kw - 1} of the "
                          f"{'padded ' if (hp, wp) != x.shape else ''}input; each pixel times the kernel "
                          f"weight on top of it, then everything added up.</small>")
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    # the play button moves the slider (linked above), so the slider alone triggers redraws
    rows = [widgets.HBox([play, step, flip_box]), image_w, equation]
    return finish_explorer(rows, "cnn-conv-stepper", {"step": step, "play": play, "flip": flip_box},
                           state, update, redraw_on=[step, flip_box],
                           equation=equation, figure=fig, image=image_w, timing=timing)
