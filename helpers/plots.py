"""Figures for the lessons: image grids, filters, feature maps, curves, confusion matrices.

Every function draws into a new matplotlib figure (or the ``ax``/``fig`` given), gives it a
title and axis labels, and returns the figure. Colour maps are readable by colour-blind
learners: ``gray`` and ``viridis`` for magnitudes, ``RdBu_r`` (centred on zero) for signed
values such as filter weights.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

SIGNED_CMAP = "RdBu_r"
MAGNITUDE_CMAP = "viridis"


def _grid(n: int, ncols: int | None):
    ncols = ncols or min(n, 8)
    return math.ceil(n / ncols), ncols


def image_grid(images, titles=None, ncols=None, cmap="gray", suptitle=None, size=1.6, vmin=None, vmax=None):
    """Show images in a grid. images: (N, H, W) or (N, H, W, 3), or a list of 2-D/3-D arrays."""
    n = len(images)
    nrows, ncols = _grid(n, ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def show_filters(w, title="Filters", ncols=None, channel=None, size=1.2):
    """Show convolution filters. w: (F, C, KH, KW).

    With C == 3 (and channel None) each filter is drawn as a colour image, rescaled to [0, 1];
    otherwise channel ``channel`` (default 0) of each filter is drawn on a signed colour map
    centred on zero, with a colour bar (blue negative, red positive).
    """
    w = np.asarray(w)
    nf = w.shape[0]
    nrows, ncols = _grid(nf, ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols + 0.8, size * nrows + 0.5), squeeze=False)
    if w.shape[1] == 3 and channel is None:
        lo, hi = w.min(), w.max()
        pics = [((f - lo) / (hi - lo + 1e-12)).transpose(1, 2, 0) for f in w]
        im = None
        for i, ax in enumerate(axes.flat):
            ax.set_xticks([]); ax.set_yticks([])
            if i < nf:
                ax.imshow(pics[i])
                ax.set_title(f"#{i}", fontsize=7)
            else:
                ax.axis("off")
    else:
        c = 0 if channel is None else channel
        lim = float(np.abs(w[:, c]).max()) or 1.0
        im = None
        for i, ax in enumerate(axes.flat):
            ax.set_xticks([]); ax.set_yticks([])
            if i < nf:
                im = ax.imshow(w[i, c], cmap=SIGNED_CMAP, vmin=-lim, vmax=lim)
                ax.set_title(f"#{i}", fontsize=7)
            else:
                ax.axis("off")
        if im is not None:
            fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="weight")
    fig.suptitle(title)
    return fig


def feature_maps(maps, title="Feature maps", ncols=None, size=1.3, cmap=MAGNITUDE_CMAP):
    """Show every channel of one feature map. maps: (C, H, W)."""
    maps = np.asarray(maps)
    fig = image_grid(maps, titles=[f"channel {i}" for i in range(len(maps))], ncols=ncols, cmap=cmap,
                     suptitle=f"{title} ({maps.shape[0]} channels, {maps.shape[1]}x{maps.shape[2]})", size=size)
    return fig


def curves(history, title="Training curves", fig=None):
    """Loss and accuracy per epoch, train and validation. history: mapping with lists
    ``loss``, ``acc`` and optionally ``val_loss``, ``val_acc`` (a helpers.train.History works)."""
    get = history.get if hasattr(history, "get") else (lambda k, d=None: getattr(history, k, d))
    if fig is None:
        fig = plt.figure(figsize=(9, 3.4))
    fig.clf()
    ax1, ax2 = fig.subplots(1, 2)
    epochs = np.arange(1, len(get("loss", [])) + 1)
    for ax, key, label in ((ax1, "loss", "loss"), (ax2, "acc", "accuracy")):
        if len(get(key, []) or []):
            ax.plot(epochs, get(key), "o-", color="#0072B2", label="train")
        if len(get("val_" + key, []) or []):
            ax.plot(epochs[: len(get("val_" + key))], get("val_" + key), "s--", color="#D55E00", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label.capitalize())
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true, y_pred, class_names, title="Confusion matrix", normalize=True):
    """Draw the confusion matrix (rows: true class, columns: predicted). Returns (fig, counts)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = len(class_names)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(shown, cmap=MAGNITUDE_CMAP)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), class_names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(k):
        for j in range(k):
            val = f"{shown[i, j]:.2f}" if normalize else str(counts[i, j])
            ax.text(j, i, val, ha="center", va="center", fontsize=6,
                    color="black" if shown[i, j] > 0.6 * shown.max() else "white")
    fig.colorbar(im, ax=ax, label="fraction of the true class" if normalize else "count")
    ax.set_title(title)
    fig.tight_layout()
    return fig, counts


def grid_values(ax, array, fmt="{:g}", title=None, cmap=MAGNITUDE_CMAP, highlight=None, fontsize=9):
    """Draw a small 2-D array as a grid of numbered cells (for worked examples by hand).

    highlight: optional (row0, col0, height, width) rectangle drawn in orange.
    """
    array = np.asarray(array)
    ax.imshow(array, cmap=cmap)
    for (i, j), v in np.ndenumerate(array):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize,
                color="white" if v < (array.max() + array.min()) / 2 else "black")
    ax.set_xticks(range(array.shape[1]))
    ax.set_yticks(range(array.shape[0]))
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    if highlight is not None:
        r, c, h, w = highlight
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor="#E69F00", linewidth=3))
    if title:
        ax.set_title(title)
    return ax


def widget_figure(figsize=(8, 3), dpi=80):
    """A figure that belongs to a widget: made without pyplot, so the inline backend never shows
    it by itself and it is never kept in pyplot's list of open figures. The widget changes its
    artists in place (``set_data``, ``set_text``) and shows it through :func:`figure_png`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig, dpi=None) -> bytes:
    """Render a figure to PNG bytes, e.g. for the ``value`` of an ``ipywidgets.Image``."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return buf.getvalue()
