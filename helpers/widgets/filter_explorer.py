"""Classic hand-made filters on a real photograph, chosen from a dropdown.

Before CNNs, people designed these kernels by hand; a CNN learns its own (lesson 12 shows that
the first layer of a trained network learns edge and blob detectors much like these).
``make_filter`` builds each kernel; ``filter_explorer`` applies it to the photograph with
``helpers.conv.conv2d`` ("valid": no padding, so the output is kernel_size - 1 pixels smaller).
"""
from __future__ import annotations

import time

import ipywidgets as widgets
import numpy as np

from helpers import conv
from helpers.plots import blit_png, widget_figure
from helpers.widgets.base import finish_explorer

#: Filters the explorer offers, in dropdown order.
FILTERS = ("identity", "box blur", "gaussian", "sharpen", "sobel x", "sobel y", "laplacian")
#: Filters whose size can be chosen (odd sizes); the others are the classic 3x3 kernels.
SIZED = ("identity", "box blur", "gaussian")
#: Filters whose output is signed (edges): drawn on a diverging colour map centred on zero.
SIGNED = ("sobel x", "sobel y", "laplacian")

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


def filter_explorer(image=None, name="sobel x", size=3, dpi=72):
    """Dropdown of classic filters applied to a grayscale photograph.

    image: (H, W) floats in [0, 1] (default: ``helpers.data.sample_image(gray=True,
    downsample=4)``, 150 x 128 pixels). Returns an ``ipywidgets.VBox`` with ``.controls``
    (``{"filter": Dropdown, "size": IntSlider}``), ``.state`` (``name``, ``size``, ``kernel``,
    ``out``, ``weight_sum``, ``signed``), ``.figure``, ``.image``, ``.caption`` (HTML) and
    ``.update()``.
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

    fig = widget_figure(figsize=(9.6, 3.6), dpi=dpi)
    gs = fig.add_gridspec(1, 4, width_ratios=[0.8, 1, 1, 0.05], left=0.04, right=0.94,
                          bottom=0.12, top=0.84, wspace=0.25)
    ax_k, ax_in, ax_out, cax = (fig.add_subplot(gs[0, c]) for c in range(4))
    k_img = ax_k.imshow(np.zeros((3, 3)), cmap="RdBu_r", vmin=-1, vmax=1)
    k_texts = [ax_k.text(0, 0, "", ha="center", va="center", fontsize=8) for _ in range(49)]
    ax_in.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax_in.set_title(f"input photograph {img.shape[0]}×{img.shape[1]}", fontsize=10)
    out_img = ax_out.imshow(img, cmap="gray", vmin=0, vmax=1)
    cbar = fig.colorbar(out_img, cax=cax)
    cbar.set_label("output value")
    for ax in (ax_in, ax_out):
        ax.set_xlabel("column (pixel)")
        ax.set_ylabel("row (pixel)")
    ax_k.set_xlabel("column")
    ax_k.set_ylabel("row")

    state: dict = {}
    timing: list[float] = []

    def update(*_):
        t0 = time.perf_counter()
        key = drop.value
        size_s.disabled = key not in SIZED
        n = size_s.value if key in SIZED else 3
        kern = make_filter(key, n)
        out = apply_filter(img, kern)
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
        ax_out.set_xlim(-0.5, img.shape[1] - 0.5)        # same scale as the input: the crop shows
        ax_out.set_ylim(img.shape[0] - 0.5, -0.5)
        if signed:
            olim = float(np.percentile(np.abs(out), 99.5)) or 1.0
            out_img.set_cmap("RdBu_r")
            out_img.set_clim(-olim, olim)
            extra = "blue: negative, red: positive"
        else:
            out_img.set_cmap("gray")
            out_img.set_clim(0, 1)
            extra = "values outside [0, 1] clipped" if key == "sharpen" else "gray scale as the input"
        ax_out.set_title(f"output {out.shape[0]}×{out.shape[1]} ({extra})", fontsize=10)
        image_w.value, _ = blit_png(fig, [])
        caption.value = (f"<b>{key}</b>: {_DESCRIPTIONS[key]}. The output is {n - 1} pixel(s) smaller "
                         f"in each direction than the input ({img.shape[0]}×{img.shape[1]} → "
                         f"{out.shape[0]}×{out.shape[1]}): no padding, see lesson 03.")
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    rows = [widgets.HBox([drop, size_s]), image_w, caption]
    return finish_explorer(rows, "cnn-filter-explorer", {"filter": drop, "size": size_s},
                           state, update, redraw_on=[drop, size_s],
                           figure=fig, image=image_w, caption=caption, timing=timing)
