"""The channel explorer of lesson 05: one filter on a colour photograph, channel by channel.

In the manner of CNN Explainer (Wang et al., 2020): a filter on a 3-channel image is three
kernels, one per channel. Each kernel slides over its own channel and gives one map; the three
maps are added, the filter's one bias is added, and ReLU keeps the positive part. The explorer
draws each step (the three channels, the three kernels, the three maps, their sum plus the bias,
then ReLU) and, at one output position chosen with two sliders, writes out the numbers: each
channel's window times its kernel, summed; the total over the channels; plus the bias; after
ReLU. All numbers come from ``helpers.conv.conv2d`` (stride 1, no padding).

Driven from code::

    ex = channel_explorer()
    ex.controls["filter"].value = "vertical edges, all channels"
    ex.controls["bias"].value = -0.2
    ex.state["channel_sums"], ex.state["with_bias"], ex.state["relu"]
"""
from __future__ import annotations

import time

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle

from helpers import conv
from helpers.plots import SIGNED_CMAP, blit_png, widget_figure
from helpers.widgets.base import finish_explorer
from helpers.widgets.conv_stepper import fmt_number

ORANGE = "#E69F00"        # Okabe-Ito palette: safe for colour-blind readers
CHANNELS = ("red", "green", "blue")

_SOBEL = np.array([[1, 0, -1],
                   [2, 0, -2],
                   [1, 0, -1]], dtype=np.float32)       # vertical edges: left minus right (lesson 05)
_ZERO = np.zeros((3, 3), np.float32)
_CENTRE = np.pad(np.ones((1, 1), np.float32), 1)        # identity: a single 1 in the centre

#: The filters the dropdown offers: name -> (3, 3, 3) weights, one 3x3 kernel per channel
#: (red, green, blue), and a sentence on what it finds.
PRESETS = {
    "red − blue vertical edges": (np.stack([_SOBEL, _ZERO, -_SOBEL]),
                                  "Sobel on red, nothing on green, minus Sobel on blue (lesson 05's "
                                  "example): gray edges cancel, edges between reddish and bluish "
                                  "regions remain"),
    "vertical edges, all channels": (np.stack([_SOBEL, _SOBEL, _SOBEL]) / 3,
                                     "the same Sobel kernel on every channel, divided by 3: the "
                                     "vertical edges of the brightness"),
    "horizontal edges, all channels": (np.stack([_SOBEL.T, _SOBEL.T, _SOBEL.T]) / 3,
                                       "the transposed Sobel kernel on every channel: horizontal "
                                       "edges of the brightness"),
    "blur: mean of 27 values": (np.full((3, 3, 3), 1 / 27, np.float32),
                                "every weight 1/27: the mean of the 3×3 window over all three "
                                "channels, a blurred gray image"),
    "green only (identity)": (np.stack([_ZERO, _CENTRE, _ZERO]),
                              "a single 1 in the centre of the green kernel, zeros elsewhere: "
                              "the output is the green channel (cropped by 1 pixel)"),
    "blue minus red (colour)": (np.stack([-_CENTRE, _ZERO, _CENTRE]),
                                "+1 at the centre of blue, −1 at the centre of red: positive where "
                                "a pixel is bluer than it is red, such as the background"),
}


def preset(name: str) -> np.ndarray:
    """The (3, 3, 3) float32 weights of a preset filter (see ``PRESETS``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown filter {name!r}; choose one of {', '.join(PRESETS)}")
    return np.ascontiguousarray(PRESETS[name][0], dtype=np.float32)


def channel_maps(x, w, b=0.0) -> dict:
    """One filter on one image, each step kept: x (3, H, W), w (3, KH, KW), b a number.

    Returns ``parts`` (3, OH, OW), each channel cross-correlated with its own kernel
    (``conv.conv2d`` on that channel alone); ``summed`` (OH, OW), the whole filter with its bias
    (``conv.conv2d(x[None], w[None], [b])``), which equals ``parts.sum(0) + b``; ``relu``
    (OH, OW), ``max(summed, 0)``. Stride 1, no padding.
    """
    x = np.asarray(x, np.float32)
    w = np.asarray(w, np.float32)
    if x.ndim != 3 or w.ndim != 3 or x.shape[0] != w.shape[0]:
        raise ValueError(f"x must be (C, H, W) and w (C, KH, KW) with the same C, got {x.shape} "
                         f"and {w.shape}")
    parts = np.stack([conv.conv2d(x[None, c:c + 1], w[None, c:c + 1])[0, 0] for c in range(x.shape[0])])
    summed = conv.conv2d(x[None], w[None], np.array([b], np.float32))[0, 0]
    return {"parts": parts, "summed": summed, "relu": np.maximum(summed, 0)}


def _terms(window, kernel) -> str:
    return " + ".join(f"{a:.2f}·{fmt_number(k) if k >= 0 else '(' + fmt_number(k) + ')'}"
                      for a, k in zip(window.ravel(), kernel.ravel()))


def channel_explorer(image=None, name="red − blue vertical edges", bias=0.0, row=None, column=None,
                     dpi=72):
    """One filter (three 3x3 kernels and a bias) on a colour photograph, step by step.

    image: (3, H, W) or (H, W, 3) floats in [0, 1] (default: ``helpers.data.sample_image``
    averaged over 8x8 blocks, 75 x 64 pixels); name: the starting filter, one of ``PRESETS``; bias: the
    starting bias; row, column: the starting output position (default: where the starting
    filter responds most strongly).

    Returns an ``ipywidgets.VBox`` with ``.controls`` (``"filter"`` Dropdown, ``"bias"``
    FloatSlider, ``"row"`` and ``"column"`` IntSliders), ``.state`` (``filter``, ``weights``
    (3, 3, 3), ``bias``, ``position`` (i, j), ``windows`` (3, 3, 3): the pixels under the
    kernels, ``channel_sums`` (3,): window·kernel per channel, ``total`` (their sum),
    ``with_bias``, ``relu``, and the maps ``parts`` (3, OH, OW), ``summed`` and ``relu_map``),
    ``.numbers`` (HTML table of the sums), ``.figure``, ``.image``, ``.update()`` and
    ``.timing`` (milliseconds of the last updates).
    """
    if image is None:
        from helpers.data import sample_image
        image = sample_image(downsample=8)
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 3 and x.shape[-1] == 3 and x.shape[0] != 3:
        x = x.transpose(2, 0, 1)                       # (H, W, 3) -> (3, H, W)
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"channel_explorer needs a 3-channel image (3, H, W) or (H, W, 3), got "
                         f"shape {np.shape(image)}")
    x = np.ascontiguousarray(x)
    _, h, w_ = x.shape
    oh, ow = h - 2, w_ - 2
    if oh < 1 or ow < 1:
        raise ValueError(f"the image must be at least 3x3 pixels, got {h}x{w_}")
    if row is None or column is None:
        first = channel_maps(x, preset(name))["summed"]
        r_max, c_max = np.unravel_index(int(np.argmax(np.abs(first))), first.shape)
        row = r_max if row is None else row
        column = c_max if column is None else column

    style = {"description_width": "initial"}
    c = {
        "filter": widgets.Dropdown(options=list(PRESETS), value=name, description="filter",
                                   style=style, layout=widgets.Layout(width="330px")),
        "bias": widgets.FloatSlider(value=bias, min=-1.0, max=1.0, step=0.05, readout_format=".2f",
                                    description="bias b (added everywhere)", style=style,
                                    continuous_update=True, layout=widgets.Layout(width="330px")),
        "row": widgets.IntSlider(value=int(row), min=0, max=oh - 1, description="output row i (pixels)",
                                 style=style, continuous_update=True, layout=widgets.Layout(width="330px")),
        "column": widgets.IntSlider(value=int(column), min=0, max=ow - 1,
                                    description="output column j (pixels)", style=style,
                                    continuous_update=True, layout=widgets.Layout(width="330px")),
    }
    numbers = widgets.HTML()
    about = widgets.HTML()
    image_w = widgets.Image(format="png")

    # Layout: a row per channel (input channel | its kernel | its map), then the sum plus bias and
    # ReLU; the numbers at the chosen position are in the table under the picture. The filter's
    # pictures are drawn when the filter changes; the sum, ReLU and every position mark are
    # animated (blitted). Text costs most to draw, so the animated part holds only two titles.
    fig = widget_figure(figsize=(11.2, 6.9), dpi=dpi)
    gs = fig.add_gridspec(3, 6, width_ratios=[1, 0.7, 1, 0.1, 1.3, 1.3], left=0.02, right=0.99,
                          bottom=0.06, top=0.9, wspace=0.22, hspace=0.28)
    ax_in = [fig.add_subplot(gs[r, 0]) for r in range(3)]
    ax_k = [fig.add_subplot(gs[r, 1]) for r in range(3)]
    ax_map = [fig.add_subplot(gs[r, 2]) for r in range(3)]
    ax_photo = fig.add_subplot(gs[0, 4])
    ax_num = fig.add_subplot(gs[0, 5])
    ax_sum = fig.add_subplot(gs[1:, 4])
    ax_relu = fig.add_subplot(gs[1:, 5])
    for ax in (*ax_in, *ax_k, *ax_map, ax_photo, ax_sum, ax_relu):
        ax.set_xticks([])
        ax.set_yticks([])
    ax_num.set_axis_off()

    in_imgs = [ax_in[ch].imshow(x[ch], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
               for ch in range(3)]
    for ch in range(3):
        ax_in[ch].set_title(f"input: {CHANNELS[ch]} channel", fontsize=9)
    ax_photo.imshow(x.transpose(1, 2, 0), interpolation="nearest")
    ax_photo.set_title(f"the photograph: 3 channels × {h}×{w_}", fontsize=9)
    k_imgs = [ax_k[ch].imshow(np.zeros((3, 3)), cmap=SIGNED_CMAP, vmin=-1, vmax=1) for ch in range(3)]
    k_texts = [[ax_k[ch].text(q, r, "", ha="center", va="center", fontsize=8.5, fontweight="bold")
                for r in range(3) for q in range(3)] for ch in range(3)]
    placeholder = np.zeros((oh, ow), np.float32)
    map_imgs = [ax_map[ch].imshow(placeholder, cmap=SIGNED_CMAP, vmin=-1, vmax=1, interpolation="nearest")
                for ch in range(3)]
    sum_img = ax_sum.imshow(placeholder, cmap=SIGNED_CMAP, vmin=-1, vmax=1, interpolation="nearest",
                            animated=True)
    relu_img = ax_relu.imshow(placeholder, cmap=SIGNED_CMAP, vmin=-1, vmax=1, interpolation="nearest",
                              animated=True)
    sum_title = ax_sum.set_title("", fontsize=9.5, animated=True)
    relu_title = ax_relu.set_title("", fontsize=9.5, animated=True)
    for ch in range(3):
        ax_map[ch].set_title(f"{CHANNELS[ch]} map = {CHANNELS[ch]} ★ its kernel", fontsize=9)
    ax_sum.set_xlabel("red: positive, blue: negative, white: 0", fontsize=8)
    ax_relu.set_xlabel("negative values (blue) become 0", fontsize=8)
    cbar = fig.colorbar(sum_img, ax=[ax_sum, ax_relu], location="bottom", fraction=0.05, pad=0.1,
                        shrink=0.8)
    cbar.set_label("value of every map (one scale; the strongest 0.5 % saturate)", fontsize=8)
    cbar.ax.tick_params(labelsize=7)

    # position marks: the 3x3 window on each channel, the output pixel on every map (a square and
    # thin cross-hair lines, so that one pixel is easy to find)
    marks = []

    def window_mark(ax, size):
        r = Rectangle((0, 0), size, size, fill=False, edgecolor=ORANGE, linewidth=2.2, animated=True)
        ax.add_patch(r)
        hline = ax.axhline(0, color="black", linewidth=0.6, linestyle=":", animated=True)
        vline = ax.axvline(0, color="black", linewidth=0.6, linestyle=":", animated=True)
        marks.append((r, hline, vline, size))

    for ax in (*ax_in, ax_photo):
        window_mark(ax, 3)
    for ax in (*ax_map, ax_sum, ax_relu):
        window_mark(ax, 1)
    ax_num.text(0.0, 1.0, "orange: the 3×3 windows on the\nchannels and the output pixel\n(i, j) "
                "on every map.\n\nAt (i, j) the output is\n  red window · red kernel\n"
                "+ green window · green kernel\n+ blue window · blue kernel\n+ bias b,\nthen ReLU: "
                "the table below\nshows every number.\n\n★: cross-correlation", ha="left", va="top",
                fontsize=8.5, transform=ax_num.transAxes, color="#333333")
    suptitle = fig.suptitle("", fontsize=11)
    flow = fig.text(0.5, 0.935, "each kernel × its channel → 3 maps → sum + bias b → ReLU",
                    ha="center", va="bottom", fontsize=9, color="#333333")

    state: dict = {}
    timing: list[float] = []
    drawn = {"filter": None, "background": None, "maps": None}

    def update(*_):
        t0 = time.perf_counter()
        name, b = c["filter"].value, float(c["bias"].value)
        i, j = int(c["row"].value), int(c["column"].value)
        wts = preset(name)
        if drawn["filter"] != name:                  # the per-channel maps do not depend on b
            drawn["maps"] = channel_maps(x, wts)["parts"]
        parts = drawn["maps"]
        summed = conv.conv2d(x[None], wts[None], np.array([b], np.float32))[0, 0]
        relu_map = np.maximum(summed, 0)
        windows = x[:, i:i + 3, j:j + 3]
        sums = (windows.astype(np.float64) * wts).sum(axis=(1, 2))
        total = float(sums.sum())
        with_bias = total + b
        relu = max(with_bias, 0.0)
        state.clear()
        state.update(filter=name, weights=wts, bias=b, position=(i, j), windows=windows.copy(),
                     channel_sums=sums, total=total, with_bias=with_bias, relu=relu, parts=parts,
                     summed=summed, relu_map=relu_map)

        if drawn["filter"] != name:                  # new kernels and maps: the full picture
            # one colour scale for every map, set by the 99.5th percentile so that a few very
            # strong edges do not leave the rest pale (beyond it the colours saturate)
            lim = float(max(np.percentile(np.abs(parts), 99.5), np.percentile(np.abs(parts.sum(0)), 99.5)))
            lim = lim or float(np.abs(parts).max()) or 1.0
            klim = float(np.abs(wts).max()) or 1.0
            for ch in range(3):
                k_imgs[ch].set_data(wts[ch])
                k_imgs[ch].set_clim(-2.2 * klim, 2.2 * klim)            # pale colours, dark text
                for t, v in zip(k_texts[ch], wts[ch].ravel()):
                    t.set_text(fmt_number(v))
                ax_k[ch].set_title(f"kernel for {CHANNELS[ch]}", fontsize=9)
                map_imgs[ch].set_clim(-lim, lim)
                map_imgs[ch].set_data(parts[ch])
            for im in (sum_img, relu_img):
                im.set_clim(-lim, lim)
            suptitle.set_text(f"One filter = 3 kernels (3, 3, 3) + 1 bias → one output channel "
                              f"{oh}×{ow}: “{name}”")
            about.value = (f"<b>{name}</b>: {PRESETS[name][1]}.")
            drawn.update(filter=name, background=None)
        sum_img.set_data(summed)
        relu_img.set_data(relu_map)
        sign = "+" if b >= 0 else "−"
        sum_title.set_text(f"sum of the 3 maps {sign} {abs(b):.2f} (bias)\nat ({i}, {j}): {with_bias:+.3f}")
        relu_title.set_text(f"ReLU: max(0, ·), {np.mean(relu_map > 0):.0%} above 0\nat ({i}, {j}): {relu:.3f}")
        for rect, hline, vline, size in marks:
            if size == 3:
                rect.set_xy((j - 0.5, i - 0.5))
                hline.set_ydata([i + 1, i + 1])
                vline.set_xdata([j + 1, j + 1])
            else:
                rect.set_xy((j - 0.5, i - 0.5))
                hline.set_ydata([i, i])
                vline.set_xdata([j, j])
        animated = [sum_img, relu_img, sum_title, relu_title, *[a for m in marks for a in m[:3]]]
        image_w.value, drawn["background"] = blit_png(fig, animated, drawn["background"])

        rows_html = []
        for ch in range(3):
            rows_html.append(f"<tr><td><b>{CHANNELS[ch]}</b></td><td style='white-space:nowrap'>"
                             f"{_terms(windows[ch], wts[ch])}</td>"
                             f"<td style='text-align:right'><b>{sums[ch]:+.3f}</b></td></tr>")
        numbers.value = (
            f"<b>At output position ({i}, {j})</b>: the 3×3 window at rows {i}–{i + 2}, columns "
            f"{j}–{j + 2} of each channel, times that channel's kernel (pixel values rounded to 2 "
            f"decimals):<table style='border-collapse:collapse; font-size:90%; line-height:1.25' "
            f"cellpadding='1'>"
            + "".join(rows_html)
            + f"<tr><td colspan='2'>total over the 3 channels: {sums[0]:+.3f} {sums[1]:+.3f} "
              f"{sums[2]:+.3f}</td><td style='text-align:right'><b>= {total:+.3f}</b></td></tr>"
              f"<tr><td colspan='2'>plus the bias b = {b:+.2f}</td><td style='text-align:right'>"
              f"<b>= {with_bias:+.3f}</b></td></tr>"
              f"<tr><td colspan='2'>after ReLU, max(0, {with_bias:.3f})</td>"
              f"<td style='text-align:right'><b>= {relu:.3f}</b></td></tr></table>")
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    controls_box = widgets.HBox([widgets.VBox([c["filter"], c["bias"]]), widgets.VBox([c["row"], c["column"]])])
    rows = [controls_box, about, image_w, numbers]
    return finish_explorer(rows, "cnn-channel-explorer", c, state, update, redraw_on=c.values(),
                           numbers=numbers, about=about, figure=fig, image=image_w, timing=timing)
