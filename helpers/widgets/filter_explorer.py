"""Classic hand-made filters on a real photograph, chosen from a dropdown.

Before CNNs, people designed these kernels by hand; a CNN learns its own (lesson 14 shows that
the first layer of a trained network learns edge and blob detectors much like these).
``make_filter`` builds each kernel; ``filter_explorer`` applies it to the photograph with
``helpers.conv.conv2d`` ("valid": no padding, so the output is kernel_size - 1 pixels smaller).
"""
from __future__ import annotations

import time
from collections import OrderedDict

import ipywidgets as widgets
import numpy as np
from matplotlib.artist import Artist
from matplotlib.transforms import Bbox

from helpers import conv
from helpers.plots import blit_png, widget_figure
from helpers.widgets.base import finish_explorer

#: Filters the explorer offers, in dropdown order.
FILTERS = ("identity", "box blur", "gaussian", "sharpen", "sobel x", "sobel y", "laplacian")
#: Filters whose size can be chosen (odd sizes); the others are the classic 3x3 kernels.
SIZED = ("identity", "box blur", "gaussian")
#: Filters whose output is signed (edges): drawn on a diverging colour map centred on zero.
SIGNED = ("sobel x", "sobel y", "laplacian")

CACHE_SIZE = 32     # settings (filter, size) whose output and picture are kept, oldest dropped first

_DESCRIPTIONS = {
    "identity": "a single 1 in the centre: copies the image (the output is only cropped by k - 1)",
    "box blur": "the plain average of the k x k window: weights 1/k², summing to 1",
    "gaussian": "a weighted average, heavier in the centre: a softer blur without blocky artefacts",
    "sharpen": "identity minus the Laplacian (centre 5, four neighbours -1): the image plus its own "
               "edges, so detail stands out; weights sum to 1",
    "sobel x": "right column minus left column (rows weighted 1, 2, 1): brightness changing "
               "from left to right, i.e. vertical edges",
    "sobel y": "bottom row minus top row: brightness changing from top to bottom, i.e. horizontal edges",
    "laplacian": "centre against its four neighbours: edges and spots in every direction",
}


def gaussian_sigma(size: int) -> float:
    """The standard deviation OpenCV picks for a Gaussian kernel of this size (getGaussianKernel):
    0.3 * ((size - 1) / 2 - 1) + 0.8, e.g. 0.8 for 3, 1.1 for 5, 1.4 for 7."""
    return 0.3 * ((size - 1) * 0.5 - 1) + 0.8


def make_filter(name: str, size: int = 3, sigma: float | None = None) -> np.ndarray:
    """A classic filter as a (size, size) float32 array.

    name: one of ``FILTERS``; size: odd kernel size in pixels (used by identity, box blur and
    gaussian; the others are 3x3); sigma: the Gaussian's standard deviation in pixels
    (default :func:`gaussian_sigma`). Blurs sum to 1 (they keep the brightness); edge filters
    sum to 0 (a flat region gives 0).
    """
    key = name.strip().lower()
    if key not in FILTERS:
        raise ValueError(f"unknown filter {name!r}; choose one of {', '.join(FILTERS)}")
    if key in SIZED:
        if not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
            raise ValueError(f"size must be a positive odd integer (pixels), got {size!r}; an odd "
                             f"kernel has a centre pixel")
    if key == "identity":
        k = np.zeros((size, size))
        k[size // 2, size // 2] = 1
    elif key == "box blur":
        k = np.full((size, size), 1.0 / size**2)
    elif key == "gaussian":
        s = gaussian_sigma(size) if sigma is None else float(sigma)
        r = np.arange(size) - size // 2
        g = np.exp(-(r**2) / (2 * s**2))
        k = np.outer(g, g)
        k /= k.sum()
    elif key == "sharpen":
        k = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    elif key == "sobel x":
        k = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    elif key == "sobel y":
        k = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    else:  # laplacian
        k = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    return np.asarray(k, dtype=np.float32)


def apply_filter(image, kernel) -> np.ndarray:
    """Cross-correlate one grayscale image (H, W) with one kernel (KH, KW), no padding, using
    ``helpers.conv.conv2d``. Returns (H - KH + 1, W - KW + 1)."""
    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    return conv.conv2d(image[None, None], kernel[None, None])[0, 0]


class _Kept(Artist):
    """Draws some artists and keeps their pixels per ``key()``: drawn again with the same key,
    the pixels are copied back instead of drawn (text, e.g. tick labels, is the slow part of a
    drawing). The pixels kept are those of ``region()`` (a Bbox in pixels; default: around the
    artists), which must hold nothing else that changes. For blitting only: draw it first,
    straight after the background is restored, so that the kept pixels hold that background and
    these artists, nothing else."""

    def __init__(self, fig, artists, key, region=None, keep=8):
        super().__init__()
        self.fig, self.artists, self.key, self.region = fig, list(artists), key, region
        self.keep, self.kept = keep, OrderedDict()

    def draw(self, renderer):
        canvas, key = self.fig.canvas, self.key()
        if key in self.kept:
            canvas.restore_region(self.kept[key])
            self.kept.move_to_end(key)
            return
        for artist in self.artists:
            artist.draw(renderer)
        box = (self.region() if self.region else
               Bbox.union([a.get_tightbbox(renderer) for a in self.artists]).padded(2))
        self.kept[key] = canvas.copy_from_bbox(Bbox.intersection(box, self.fig.bbox))
        if len(self.kept) > self.keep:
            self.kept.popitem(last=False)


def filter_explorer(image=None, name="sobel x", size=3, dpi=72):
    """Dropdown of classic filters applied to a grayscale photograph.

    image: (H, W) floats in [0, 1] (default: ``helpers.data.sample_image(gray=True,
    downsample=4)``, 150 x 128 pixels). Returns an ``ipywidgets.VBox`` with ``.controls``
    (``{"filter": Dropdown, "size": IntSlider}``), ``.state`` (``name``, ``size``, ``kernel``,
    ``out``, ``weight_sum``, ``signed``), ``.figure``, ``.image``, ``.caption`` (HTML),
    ``.update()`` and ``.timing`` (milliseconds of the last updates). The picture is ``.image``:
    the figure's changing parts are animated (blitted), so a plain drawing of ``.figure`` leaves
    them out. The output and the picture of each setting are computed once and kept
    (``CACHE_SIZE`` of them).
    """
    if image is None:
        from helpers.data import sample_image
        image = sample_image(gray=True, downsample=4)
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"filter_explorer needs one grayscale image (H, W), got shape {img.shape}")

    drop = widgets.Dropdown(options=list(FILTERS), value=name, description="filter")
    size_s = widgets.IntSlider(value=size, min=3, max=15, step=2, description="size (pixels)",
                               continuous_update=False, style={"description_width": "initial"})
    caption = widgets.HTML()
    image_w = widgets.Image(format="png")

    # One figure, changed in place and drawn in full once: the photograph, the output panel's frame,
    # ticks and labels are kept as the background. An update draws on it only what changes
    # (blitting, helpers.plots.blit_png): the kernel, its numbers and title, the output picture, and
    # the frames over them. Text is what costs most to draw, so the parts that repeat across
    # settings are drawn once and their pixels kept (_Kept): the kernel's ticks per size, the
    # colour bar per scale (the blurs share one), the output's title per wording.
    fig = widget_figure(figsize=(9.6, 3.6), dpi=dpi)
    gs = fig.add_gridspec(1, 4, width_ratios=[0.8, 1, 1, 0.05], left=0.04, right=0.94,
                          bottom=0.12, top=0.84, wspace=0.25)
    ax_k, ax_in, ax_out, cax = (fig.add_subplot(gs[0, c]) for c in range(4))
    k_img = ax_k.imshow(np.zeros((3, 3)), cmap="RdBu_r", vmin=-1, vmax=1)
    k_texts = [ax_k.text(0, 0, "", ha="center", va="center", fontsize=8) for _ in range(49)]
    ax_in.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax_in.set_title(f"input photograph {img.shape[0]}×{img.shape[1]}", fontsize=10)
    out_img = ax_out.imshow(img, cmap="gray", vmin=0, vmax=1)
    out_title = ax_out.set_title("", fontsize=10)
    cbar = fig.colorbar(out_img, cax=cax)
    cbar.set_label("output value")
    for ax in (ax_in, ax_out):
        ax.set_xlabel("column (pixel)")
        ax.set_ylabel("row (pixel)")
    ax_out.set_xlim(-0.5, img.shape[1] - 0.5)       # same scale as the input: the crop shows
    ax_out.set_ylim(img.shape[0] - 0.5, -0.5)
    ax_k.set_xlabel("column")
    ax_k.set_ylabel("row")
    # the kept pixels first (see _Kept), then the rest in the order (zorder) of a full drawing
    kept = [_Kept(fig, [cax], lambda: (out_img.get_cmap().name, out_img.get_clim())),
            # the kernel's ticks and labels follow its size only; they lie left of and below its
            # axes, where nothing else changes: the pixels kept run from the figure's corner to
            # halfway to the photograph (cheaper than asking the axes how far their labels reach)
            _Kept(fig, [ax_k.xaxis, ax_k.yaxis], ax_k.get_xlim, region=lambda: Bbox(
                [[0, 0], [(ax_k.bbox.x1 + ax_in.bbox.x0) / 2, ax_k.bbox.y1 + 2]])),
            _Kept(fig, [out_title], out_title.get_text)]
    drawn_each_time = [k_img, *ax_k.spines.values(), *k_texts, ax_k.title,
                       out_img, *ax_out.spines.values()]
    for artist in [cax, ax_k.xaxis, ax_k.yaxis, out_title, *drawn_each_time]:
        artist.set_animated(True)
    moving = kept + drawn_each_time
    drawn = {"background": None}

    # Each setting (filter, size) seen is computed and drawn once: its output and its picture are
    # kept (at most CACHE_SIZE; there are 25 settings in all).
    seen: OrderedDict = OrderedDict()

    def result(name, n):
        if (name, n) in seen:
            seen.move_to_end((name, n))
            return seen[name, n]
        kern = make_filter(name, n)
        out = apply_filter(img, kern)
        # signed outputs: the colour scale spans the 99.5th percentile of |output|
        olim = (float(np.percentile(np.abs(out), 99.5)) or 1.0) if name in SIGNED else 1.0
        seen[name, n] = entry = {"kernel": kern, "out": out, "olim": olim, "png": None}
        while len(seen) > CACHE_SIZE:
            seen.popitem(last=False)
        return entry

    state: dict = {}
    timing: list[float] = []

    def update(*_):
        t0 = time.perf_counter()
        key = drop.value
        size_s.disabled = key not in SIZED
        n = size_s.value if key in SIZED else 3
        entry = result(key, n)
        kern, out = entry["kernel"], entry["out"]
        signed = key in SIGNED
        state.update(name=key, size=n, kernel=kern, out=out, weight_sum=float(kern.sum()),
                     signed=signed, out_shape=out.shape)

        lim = float(np.abs(kern).max())
        k_img.set_data(kern)
        k_img.set_clim(-lim, lim)
        k_img.set_extent((-0.5, n - 0.5, n - 0.5, -0.5))
        ax_k.set_xlim(-0.5, n - 0.5)
        ax_k.set_ylim(n - 0.5, -0.5)
        ticks = range(n) if n <= 7 else range(0, n, 2)
        ax_k.set_xticks(ticks)
        ax_k.set_yticks(ticks)
        for t_i, t in enumerate(k_texts):
            r, c = divmod(t_i, n)
            if n <= 5 and t_i < n * n:
                v = kern[r, c]
                t.set_position((c, r))
                t.set_text(f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else f"{int(v)}")
                t.set_color("white" if abs(v) > 0.6 * lim else "black")
                t.set_visible(True)
            else:
                t.set_visible(False)
        ax_k.set_title(f"{key} kernel {n}×{n}\nweights sum to {kern.sum():.3g}", fontsize=10)

        out_img.set_data(out)
        out_img.set_extent((-0.5, out.shape[1] - 0.5, out.shape[0] - 0.5, -0.5))
        cmap, clim = ("RdBu_r", (-entry["olim"], entry["olim"])) if signed else ("gray", (0.0, 1.0))
        if (out_img.get_cmap().name, out_img.get_clim()) != (cmap, clim):   # the colour bar follows:
            out_img.set_cmap(cmap)                                       # set only what changed
            out_img.set_clim(*clim)
        if signed:
            extra = "blue: negative, red: positive"
        else:
            extra = "values outside [0, 1] clipped" if key == "sharpen" else "gray scale as the input"
        out_title.set_text(f"output {out.shape[0]}×{out.shape[1]} ({extra})")
        if entry["png"] is None:
            entry["png"], drawn["background"] = blit_png(fig, moving, drawn["background"])
        image_w.value = entry["png"]
        caption.value = (f"<b>{key}</b>: {_DESCRIPTIONS[key]}. The output is {n - 1} pixel(s) smaller "
                         f"in each direction than the input ({img.shape[0]}×{img.shape[1]} → "
                         f"{out.shape[0]}×{out.shape[1]}): no padding, see lesson 03.")
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    rows = [widgets.HBox([drop, size_s]), image_w, caption]
    return finish_explorer(rows, "cnn-filter-explorer", {"filter": drop, "size": size_s},
                           state, update, redraw_on=[drop, size_s],
                           figure=fig, image=image_w, caption=caption, timing=timing)
