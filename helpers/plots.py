"""Figures for the lessons: image grids, filters, feature maps, curves, confusion matrices.

Every function draws into a new matplotlib figure (or the ``ax``/``fig`` given), gives it a
title and axis labels, and returns the figure. Colour maps are readable by colour-blind
learners: ``gray`` and ``viridis`` for magnitudes, ``RdBu_r`` (centred on zero) for signed
values such as filter weights.
"""
from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import numpy as np

from helpers.shapes import check_array, check_images, check_number, pool_output_size

SIGNED_CMAP = "RdBu_r"
MAGNITUDE_CMAP = "viridis"


def _grid(n: int, ncols: int | None):
    ncols = ncols or min(n, 8)
    return math.ceil(n / ncols), ncols


def image_grid(images, titles=None, ncols=None, cmap="gray", suptitle=None, size=1.6, vmin=None, vmax=None):
    """Show images in a grid. images: (N, H, W) or (N, H, W, 3), or a list of 2-D/3-D arrays."""
    if isinstance(images, np.ndarray) or not isinstance(images, (list, tuple)):
        images = check_array(images, "images")
        if images.ndim not in (3, 4) or 0 in images.shape:
            raise ValueError(f"images must be (N, H, W) or (N, H, W, 3) with no empty axis, got "
                             f"shape {images.shape}")
    else:
        images = [check_array(im, f"images[{i}]") for i, im in enumerate(images)]
        for i, im in enumerate(images):
            if im.ndim not in (2, 3) or 0 in im.shape:
                raise ValueError(f"images[{i}] must be a 2-D (H, W) or 3-D (H, W, 3) image, got "
                                 f"shape {im.shape}")
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
    w = check_array(w, "w", 4, "(F, C, KH, KW)")
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
    maps = check_array(maps, "maps", 3, "(C, H, W)")
    fig = image_grid(maps, titles=[f"channel {i}" for i in range(len(maps))], ncols=ncols, cmap=cmap,
                     suptitle=f"{title} ({maps.shape[0]} channels, {maps.shape[1]}x{maps.shape[2]})", size=size)
    return fig


# Okabe-Ito blue and vermilion: training and validation, told apart by colour-blind readers too
TRAIN_COLOUR, VAL_COLOUR = "#0072B2", "#D55E00"


def _getter(history):
    """history.get for a mapping, getattr for a History."""
    return history.get if hasattr(history, "get") else (lambda k, d=None: getattr(history, k, d))


def _curve_panels(fig):
    """Empty loss and accuracy panels on ``fig``; returns {(key, series): Line2D} for key in
    loss, acc and series in train, val (whole validation set), val_subset."""
    lines = {}
    for ax, key, label in zip(fig.subplots(1, 2), ("loss", "acc"), ("loss", "accuracy")):
        lines[key, "train"], = ax.plot([], [], "o-", color=TRAIN_COLOUR, lw=1.5, ms=5)
        lines[key, "val_subset"], = ax.plot([], [], "^--", color=VAL_COLOUR, lw=1.2, ms=4,
                                            label="validation (subset, within epochs)")
        lines[key, "val"], = ax.plot([], [], "s--", color=VAL_COLOUR, ms=6)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label.capitalize())
        ax.grid(alpha=0.3)
    return lines


def _set_curves(lines, history, epochs=None):
    """Put ``history`` (a History or a mapping of its lists, optionally with ``blocks``) into the
    lines of :func:`_curve_panels` and rescale the axes. epochs: fix the x range to 0..epochs.

    Without block records: training and validation per epoch, at x = 1, 2, ... With them: the
    training line is the block means at their fractional epochs (the per-epoch training means
    are left out: they say the same, coarser), validation on the subset is a dashed line with
    triangles, and the whole validation set after each epoch is squares."""
    get = _getter(history)
    blocks = list(get("blocks", None) or [])
    for key in ("loss", "acc"):
        train, val, sub = lines[key, "train"], lines[key, "val"], lines[key, "val_subset"]
        full = list(get("val_" + key, None) or [])
        val.set_data(np.arange(1, len(full) + 1), full)
        if blocks:
            train.set_data([b["epoch"] for b in blocks], [b[key] for b in blocks])
            train.set(marker="", label="train (mean of each block of steps)")
            checked = [b for b in blocks if b.get("val_" + key) is not None]
            sub.set_data([b["epoch"] for b in checked], [b["val_" + key] for b in checked])
            val.set(linestyle="none", label="validation (whole set, end of epoch)")
        else:
            per_epoch = list(get(key, None) or [])
            train.set_data(np.arange(1, len(per_epoch) + 1), per_epoch)
            train.set(marker="o", label="train (mean over the epoch)")
            sub.set_data([], [])
            val.set(linestyle="--", label="validation (after each epoch)")
        ax = train.axes
        shown = [line for line in (train, sub, val) if len(line.get_xdata())]
        if shown:
            ax.legend(handles=shown, fontsize=8)
        elif ax.get_legend() is not None:
            ax.get_legend().remove()
        ax.relim()
        ax.autoscale_view()
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        if epochs:
            ax.set_xlim(0 if blocks else 0.5, epochs + (0.05 * epochs if blocks else 0.5))
            ax.set_xticks(range(0 if blocks else 1, epochs + 1))


def curves(history, title="Training curves", fig=None):
    """Loss and accuracy, train and validation, against epochs: the final curves of a run.

    history: a helpers.train.History, or a mapping with lists ``loss``, ``acc`` and optionally
    ``val_loss``, ``val_acc`` (one entry per epoch) and ``blocks`` (the block records of
    ``fit(log_every=...)``). With block records the training curve has a point for every block
    (at fractional epochs) and the validation subset checks are drawn too. Returns the figure.
    """
    if fig is None:
        fig = plt.figure(figsize=(9, 3.4))
    fig.clf()
    _set_curves(_curve_panels(fig), history)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _in_notebook():
    """True inside a Jupyter kernel (where a figure can be displayed), False elsewhere."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LiveCurves:
    """Loss and accuracy curves that redraw themselves while ``helpers.train.fit`` trains.

    ``live = LiveCurves(epochs=4)`` shows empty panels at once (in a notebook). Then either
    ``fit(..., epochs=4, log_every=steps_per_epoch // 20, on_block=live)``: the figure follows
    every block of steps (20 or more points an epoch) and the validation subset checks; or
    ``fit(..., callback=live)``: it redraws after each epoch. Passing it as both is fine.

    It redraws at most every ``interval_ms`` milliseconds: a redraw takes about 50 ms (80 dpi),
    so the default of 1,000 ms keeps the figure's cost under 5 % of the training time; calls in
    between only keep the History, and the next redraw shows it all.
    When an epoch has ended it always redraws, so the figure never lags by a whole epoch and
    ends on the final numbers. The figure is shown as one image, replaced in place (an IPython
    display handle, so a saved notebook keeps the final figure). display: None shows it only
    inside a Jupyter kernel (elsewhere, e.g. in a script or a test, it just keeps the figure);
    True or False force it. ``live.fig`` is the figure, ``live.png`` its current picture
    (PNG bytes), ``live.history`` the last History, ``live.calls`` how many calls came,
    ``live.updates`` how many redraws were made. Lesson 12 (training).
    """

    def __init__(self, epochs=None, title="Training curves", display=None, dpi=80,
                 interval_ms=1000):
        self.epochs, self.title, self.interval_ms = epochs, title, interval_ms
        self.display = _in_notebook() if display is None else display
        self.fig = widget_figure(figsize=(9, 3.4), dpi=dpi)
        self._lines = _curve_panels(self.fig)
        self._title = self.fig.suptitle(title)
        self.history, self.calls, self.updates = None, 0, 0
        self._handle, self._png, self._drawn, self._last = None, None, None, None
        self._redraw({"loss": [], "acc": []})
        if self.display:
            self._show()

    @property
    def png(self):
        """The figure as it is now, as PNG bytes (drawn on the canvas and encoded with PIL:
        about 40 ms, two thirds of what ``savefig`` takes)."""
        if self._png is None:
            import io

            from PIL import Image

            self.fig.canvas.draw()
            buf = io.BytesIO()
            Image.fromarray(np.asarray(self.fig.canvas.buffer_rgba())).save(
                buf, format="png", compress_level=1)
            self._png = buf.getvalue()
        return self._png

    @staticmethod
    def _state(history):
        get = _getter(history)
        return tuple(len(get(k, None) or []) for k in ("blocks", "loss", "val_loss"))

    def _redraw(self, history, layout=True):
        _set_curves(self._lines, history, self.epochs)
        get = _getter(history)
        blocks, done = get("blocks", None) or [], len(get("loss", None) or [])
        at = blocks[-1]["epoch"] if blocks and blocks[-1]["epoch"] > done else done
        of = f" of {self.epochs}" if self.epochs else ""
        self._title.set_text(f"{self.title} (epoch {at:.2f}{of})" if at != int(at)
                             else f"{self.title} (after epoch {int(at)}{of})")
        if layout:                     # 10 ms: only when the tick labels may have grown
            self.fig.tight_layout()
        self._png = None

    def _show(self):
        from IPython.display import Image, display
        img = Image(data=self.png, format="png")
        if self._handle is None:
            self._handle = display(img, display_id=True)
        else:
            self._handle.update(img)

    def __call__(self, *args):
        """``live(history)`` after a block (fit's on_block) or ``live(epoch, history)`` after an
        epoch (fit's callback): redraw if there is something new and it is time to."""
        history = args[-1]
        self.history = history
        self.calls += 1
        state = self._state(history)
        if state == self._drawn:
            return                               # nothing new (e.g. on_block, then callback)
        epoch_ended = self._drawn is None or state[1] > self._drawn[1]
        now = time.perf_counter()
        if not epoch_ended and self._last is not None and \
                (now - self._last) * 1000 < self.interval_ms:
            return                               # too soon: the next redraw will show it
        self._redraw(history, layout=epoch_ended)
        self._drawn, self._last = state, now
        self.updates += 1
        if self.display:
            self._show()


def compare_curves(runs, keys=("loss", "val_acc"), title="Training curves compared", xlabel="epoch",
                   smooth=1, logy=()):
    """Several runs on shared axes, one panel per key. runs: {label: History or mapping of
    lists}; keys: names of the per-epoch (or per-step) lists to draw, e.g. "loss", "val_acc".
    smooth: moving-average window (1 = raw); logy: keys drawn on a log scale."""
    colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
    styles = ["o-", "s--", "^-.", "D:", "v-", "x--"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, (label, run) in enumerate(runs.items()):
            get = run.get if hasattr(run, "get") else (lambda k, d=None, r=run: getattr(r, k, d))
            values = np.asarray(get(key, []) or [], dtype=float)
            if not len(values):
                continue
            if smooth > 1 and len(values) >= smooth:
                values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
                steps = np.arange(smooth, smooth + len(values))
            else:
                steps = np.arange(1, len(values) + 1)
            style = styles[i % len(styles)] if len(values) <= 30 else styles[i % len(styles)].strip("osD^vx")
            ax.plot(steps, values, style, color=colours[i % len(colours)], label=label)
        label = {"loss": "training loss", "acc": "training accuracy", "val_loss": "validation loss",
                 "val_acc": "validation accuracy"}.get(key, key.replace("_", " "))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.set_title(label.capitalize())
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        if key in logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
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
    array = check_array(array, "array", 2, "(H, W)")
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


# --- lesson 07 (im2col) and 10 (gradient checks) figures -----------------------------------
_CHANNEL_TINTS = ["#A6D8F5", "#F7EF9C", "#8FD6BF", "#F3C38C", "#D9B8CF"]   # light Okabe-Ito
_PAD_TINT = "#E0E0E0"
_HIGHLIGHT = "#D55E00"


def im2col_diagram(x, kernel_size, stride=1, padding=0, row=0, cell=0.36, title=None):
    """Which pixel lands where: the input (left) and ``conv.im2col(x)`` (right), numbers shown.

    x: (N, C, H, W) small, holding distinct positive numbers (e.g. ``np.arange(1, 33)``) so
    each cell of the column matrix shows the pixel it copies; padding shows as a grey 0.
    Cells are tinted by channel. Row ``row`` of the matrix and its window in the input are
    outlined. Returns the figure.
    """
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Rectangle

    from helpers import conv

    x = check_images(x)
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one image (N >= 1), got an empty batch")
    n_, c_, h_, w_ = x.shape
    (kh, kw), (sh, sw) = conv.pair(kernel_size, "kernel_size"), conv.pair(stride, "stride")
    (ph, pw) = conv.pair(padding, "padding")
    oh, ow = conv.output_size((h_, w_), (kh, kw), (sh, sw), (ph, pw))
    cols = conv.im2col(x, (kh, kw), (sh, sw), (ph, pw))
    real = conv.im2col(np.ones_like(x, dtype=float), (kh, kw), (sh, sw), (ph, pw)) > 0
    nr, nc = cols.shape
    img_n, rest = divmod(row, oh * ow)
    r0, c0 = (rest // ow) * sh, (rest % ow) * sw            # window corner in the padded input
    xp = conv.pad(x[img_n], (ph, pw))
    inside = conv.pad(np.ones((c_, h_, w_)), (ph, pw)) > 0
    hp, wp = xp.shape[1:]
    width = cell * (c_ * (wp + 1) + nc + 3)
    fig = plt.figure(figsize=(max(width, 6), cell * max(hp, nr) + 1.4))
    gs = fig.add_gridspec(1, c_ + 1, width_ratios=[wp] * c_ + [nc + 2], wspace=0.35)

    def draw(ax, values, tints, texts):
        ax.imshow(tints, interpolation="nearest")
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, texts(i, j, v), ha="center", va="center", fontsize=7)
        ax.set_xticks([]); ax.set_yticks([])

    for c in range(c_):
        ax = fig.add_subplot(gs[0, c])
        tints = np.array([[to_rgb(_CHANNEL_TINTS[c % 5] if inside[c, i, j] else _PAD_TINT)
                           for j in range(wp)] for i in range(hp)])
        draw(ax, xp[c], tints, lambda i, j, v: f"{v:g}")
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), kw, kh, fill=False, edgecolor=_HIGHLIGHT, lw=2.5))
        ax.set_title(f"image {img_n}, channel {c}" + (f"\n(padded by {ph},{pw})" if ph or pw else ""),
                     fontsize=9)
        ax.set_xlabel("column (w)", fontsize=8)
        ax.set_ylabel("row (h)", fontsize=8)
    ax = fig.add_subplot(gs[0, c_])
    chan = np.repeat(np.arange(c_), kh * kw)
    tints = np.array([[to_rgb(_CHANNEL_TINTS[chan[j] % 5] if real[i, j] else _PAD_TINT)
                       for j in range(nc)] for i in range(nr)])
    draw(ax, cols, tints, lambda i, j, v: f"{v:g}")
    ax.add_patch(Rectangle((-0.5, row - 0.5), nc, 1, fill=False, edgecolor=_HIGHLIGHT, lw=2.5))
    ax.set_yticks(range(nr), [f"{i // (oh * ow)},{(i // ow) % oh},{i % ow}" for i in range(nr)],
                  fontsize=7)
    ax.set_xticks(range(nc), [f"{j // (kh * kw)},{(j // kw) % kh},{j % kw}" for j in range(nc)],
                  fontsize=6, rotation=90)
    ax.set_ylabel("row = (n, oh, ow)", fontsize=8)
    ax.set_xlabel("column = (c, kh, kw)", fontsize=8)
    ax.set_title(f"im2col: ({nr}, {nc}) = (N*OH*OW, C*KH*KW)", fontsize=9)
    fig.suptitle(title or f"im2col of x {tuple(x.shape)}, kernel {kh}x{kw}, stride {sh}, "
                          f"padding {ph}: the outlined window is row {row}", fontsize=10)
    return fig


_IMPL_COLOURS = ["#999999", "#E69F00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9"]


def benchmark_bars(case_names, impl_names, seconds, flops, peak_gflops=None, scaled=(),
                   title="Convolution speed on this machine"):
    """Grouped bars: time per batch (left, log scale) and achieved GFLOP/s (right, log scale).

    seconds: (cases, implementations) array; flops: (cases,) operations per batch;
    peak_gflops: the machine's matmul rate, drawn as a dashed line; scaled: names of
    implementations whose time was scaled up from part of the batch (hatched bars).
    """
    seconds = np.asarray(seconds, dtype=float)
    gflops = np.asarray(flops, dtype=float)[:, None] / seconds / 1e9
    nc, ni = seconds.shape
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12.5, 3.8))
    width = 0.8 / ni
    xs = np.arange(nc)
    for k, name in enumerate(impl_names):
        hatch = "//" if name in scaled else None
        label = name + (" (scaled)" if name in scaled else "")
        for ax, vals in ((ax1, seconds[:, k] * 1e3), (ax2, gflops[:, k])):
            ax.bar(xs + (k - (ni - 1) / 2) * width, vals, width, color=_IMPL_COLOURS[k % 6],
                   hatch=hatch, edgecolor="black", linewidth=0.5, label=label)
    if peak_gflops:
        ax2.axhline(peak_gflops, color="black", ls="--", lw=1.2,
                    label=f"matmul rate {peak_gflops:.0f} GFLOP/s")
    for ax, ylabel, t in ((ax1, "time per batch (ms, log scale)", "Time (lower is better)"),
                          (ax2, "GFLOP/s (log scale)", "Speed (higher is better)")):
        ax.set_yscale("log")
        ax.set_xticks(xs, case_names, fontsize=8)
        ax.set_xlabel("layer shape")
        ax.set_ylabel(ylabel)
        ax.set_title(t)
        ax.grid(axis="y", alpha=0.3, which="both")
    ax2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="implementation",
               title_fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def error_vs_step(hs, curves, title="Numerical gradient: relative error vs step size h"):
    """Log-log curves of relative error against the finite-difference step h.

    hs: (K,) step sizes; curves: dict label -> (K,) relative errors. The smallest error of
    each curve is marked and labelled with its h. Returns the figure.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    hs = np.asarray(hs, dtype=float)
    for k, (label, err) in enumerate(curves.items()):
        err = np.maximum(np.asarray(err, dtype=float), 1e-17)
        colour = _IMPL_COLOURS[(k + 2) % 6]
        ax.loglog(hs, err, "o-", ms=3, color=colour, label=label)
        best = int(np.argmin(err))
        ax.loglog(hs[best], err[best], "*", ms=14, color=colour, markeredgecolor="black")
        ax.annotate(f"best h = {hs[best]:.0e}", (hs[best], err[best]), textcoords="offset points",
                    xytext=(6, -12), fontsize=8)
    ax.set_xlabel("step size h (log scale)")
    ax.set_ylabel("relative error (log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


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
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def blit_png(fig, artists, background=None):
    """Fast redraw for widgets: returns ``(png_bytes, background)``.

    fig: a :func:`widget_figure`; artists: the artists that change (made with
    ``animated=True``, so a full draw leaves them out). With ``background=None`` the figure is
    drawn in full and its pixels kept as the background; otherwise those pixels are restored
    and only ``artists`` are drawn on top (blitting), which is what keeps dragging a slider
    smooth. Pass ``background=None`` again whenever something outside ``artists`` changed.
    """
    import io

    from PIL import Image

    canvas = fig.canvas
    if background is None:
        canvas.draw()
        background = canvas.copy_from_bbox(fig.bbox)
    else:
        canvas.restore_region(background)
    for artist in artists:
        if artist.get_visible():
            fig.draw_artist(artist)
    buf = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())).save(buf, format="png", compress_level=1)
    return buf.getvalue(), background


# Okabe-Ito colours (safe for colour-blind readers), to tell windows apart
WINDOW_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442")


def channel_sum(x, w, b=0.0, names=None, title=None, size=2.3):
    """How one filter makes one output channel: each input channel is cross-correlated with its
    own kernel, and the C responses are summed, plus the bias.

    x: (C, H, W) one image; w: (C, KH, KW) one filter; b: its bias (a number).
    Draws C + 1 columns: rows are the input channels (gray), their kernels and their responses
    (signed colour map centred on zero); the last column holds the sum, the output channel.
    Returns (fig, out) with out: (OH, OW).
    """
    from helpers import conv

    x = check_array(x, "x", 3, "(C, H, W)").astype(np.float32)
    w = check_array(w, "w", 3, "(C, KH, KW)").astype(np.float32)
    if w.shape[0] != x.shape[0]:
        raise ValueError(f"w has {w.shape[0]} channels but x has {x.shape[0]}; one kernel per "
                         f"input channel")
    b = check_number(b, "b (the bias, a number)")
    c = x.shape[0]
    names = names or [f"channel {i}" for i in range(c)]
    parts = [conv.conv2d(x[None, i:i + 1], w[None, i:i + 1])[0, 0] for i in range(c)]
    out = np.sum(parts, axis=0) + np.float32(b)
    lim = max(float(np.abs(np.array(parts)).max()), float(np.abs(out).max())) or 1.0
    klim = float(np.abs(w).max()) or 1.0
    fig, axes = plt.subplots(3, c + 1, figsize=(size * (c + 1) + 0.8, size * 3 + 0.3), squeeze=False,
                             layout="constrained")
    for i in range(c):
        axes[0, i].imshow(x[i], cmap="gray", vmin=0, vmax=1)
        axes[0, i].set_title(f"input: {names[i]}", fontsize=9)
        kim = axes[1, i].imshow(w[i], cmap=SIGNED_CMAP, vmin=-klim, vmax=klim)
        axes[1, i].set_xticks(range(w.shape[2]))
        axes[1, i].set_yticks(range(w.shape[1]))
        if w.shape[1] * w.shape[2] <= 25:
            for (r, q), v in np.ndenumerate(w[i]):
                axes[1, i].text(q, r, f"{v + 0.0:.3g}", ha="center", va="center", fontsize=8,
                                color="white" if abs(v) > 0.6 * klim else "black")
        axes[1, i].set_title(f"kernel for {names[i]}", fontsize=9)
        rim = axes[2, i].imshow(parts[i], cmap=SIGNED_CMAP, vmin=-lim, vmax=lim)
        axes[2, i].set_title(f"{names[i]} response", fontsize=9)
    axes[0, c].axis("off")
    axes[0, c].text(0.5, 0.5, f"one filter\n= {c} kernels\n({c}, {w.shape[1]}, {w.shape[2]})",
                    ha="center", va="center", fontsize=10, transform=axes[0, c].transAxes)
    axes[1, c].axis("off")
    axes[1, c].text(0.5, 0.5, f"sum of the {c}\nresponses\n+ bias {float(b):g}", ha="center",
                    va="center", fontsize=10, transform=axes[1, c].transAxes)
    axes[2, c].imshow(out, cmap=SIGNED_CMAP, vmin=-lim, vmax=lim)
    axes[2, c].set_title("output channel (sum)", fontsize=9, fontweight="bold")
    for ax in axes.flat:
        if ax.axison:
            ax.set_xlabel("column", fontsize=7)
            ax.set_ylabel("row", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.colorbar(kim, ax=list(axes[1, :c]), shrink=0.8, label="weight")
    fig.colorbar(rim, ax=list(axes[2, :]), shrink=0.8, label="response")
    fig.suptitle(title or "One filter, one output channel: a kernel per input channel, then a sum")
    return fig, out


def _window_rects(ax, shape, kernel_size, stride, inset=0.07):
    """Outline every pooling window on a grid drawn by grid_values, one colour each; each window
    is inset a little more than the previous one so overlapping outlines stay visible."""
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    oh, ow = (shape[0] - kh) // sh + 1, (shape[1] - kw) // sw + 1
    overlap = sh < kh or sw < kw
    for n, (i, j) in enumerate((i, j) for i in range(oh) for j in range(ow)):
        d = inset * (1 + (n % 4) if overlap else 1)
        ax.add_patch(plt.Rectangle((j * sw - 0.5 + d, i * sh - 0.5 + d), kw - 2 * d, kh - 2 * d,
                                   fill=False, edgecolor=WINDOW_COLOURS[n % len(WINDOW_COLOURS)],
                                   linewidth=2.5))
    return oh, ow


def pooling_diagram(x, kernel_size, stride=None, mode="max", title=None, fmt="{:g}"):
    """Pooling of a small 2-D array drawn by hand: x with every window outlined in its own colour
    (for max pooling each window's maximum is circled), and the output, each cell in the colour
    of its window. x: (H, W); stride None = kernel_size; mode "max" or "average".
    Returns (fig, out) with out: (OH, OW).
    """
    x = check_array(x, "x", 2, "(H, W)").astype(float)
    stride = kernel_size if stride is None else stride
    k = check_number(kernel_size, "kernel_size", low=1, integer=True)
    s = check_number(stride, "stride", low=1, integer=True)
    pool_output_size(x.shape, k, s)              # the window must fit in x
    if mode not in ("max", "average"):
        raise ValueError(f"mode must be 'max' or 'average', got {mode!r}")
    oh, ow = (x.shape[0] - k) // s + 1, (x.shape[1] - k) // s + 1
    wins = np.array([[x[i * s:i * s + k, j * s:j * s + k] for j in range(ow)] for i in range(oh)])
    out = wins.max(axis=(2, 3)) if mode == "max" else wins.mean(axis=(2, 3))
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(3.2 + 0.55 * x.shape[1] + 0.55 * ow, 0.6 + 0.55 * x.shape[0]),
                                 gridspec_kw={"width_ratios": [x.shape[1], max(ow, 2)]})
    grid_values(a0, x, fmt=fmt, title=f"input {x.shape[0]}x{x.shape[1]}: {k}x{k} windows, stride {s}")
    _window_rects(a0, x.shape, k, s)
    if mode == "max":
        for n, (i, j) in enumerate((i, j) for i in range(oh) for j in range(ow)):
            a, b = np.unravel_index(np.argmax(wins[i, j]), (k, k))
            a0.add_patch(plt.Circle((j * s + b, i * s + a), 0.36, fill=False, linewidth=2,
                                    edgecolor=WINDOW_COLOURS[n % len(WINDOW_COLOURS)]))
    grid_values(a1, out, fmt=fmt, title=f"{mode} pooled: {oh}x{ow}")
    for n, (i, j) in enumerate((i, j) for i in range(oh) for j in range(ow)):
        a1.add_patch(plt.Rectangle((j - 0.43, i - 0.43), 0.86, 0.86, fill=False, linewidth=2.5,
                                   edgecolor=WINDOW_COLOURS[n % len(WINDOW_COLOURS)]))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig, out


def gradient_routing(x, dout, dx, kernel_size, stride=None, title=None, fmt="{:g}"):
    """The backward pass of pooling on a small example: x with its windows outlined, the
    incoming gradient dout (one value per window, in the window's colour), and dx.
    x, dx: (H, W); dout: (OH, OW); fmt formats the values of dx. Returns the figure."""
    stride = kernel_size if stride is None else stride
    x, dx = (check_array(a, name, 2, "(H, W)").astype(float) for a, name in ((x, "x"), (dx, "dx")))
    oh, ow = pool_output_size(x.shape, kernel_size, stride)
    dout = check_array(dout, "dout", 2, "(OH, OW)").astype(float)
    if dout.shape != (oh, ow) or dx.shape != x.shape:
        raise ValueError(f"dout must be (OH, OW) = {(oh, ow)} and dx the shape of x {x.shape}, "
                         f"got {dout.shape} and {dx.shape}")
    fig, axes = plt.subplots(1, 3, figsize=(3 + 0.55 * (2 * x.shape[1] + dout.shape[1]), 0.9 + 0.55 * x.shape[0]),
                             gridspec_kw={"width_ratios": [x.shape[1], max(dout.shape[1], 2), x.shape[1]]})
    grid_values(axes[0], x, fmt="{:g}", title="x (forward input)")
    _window_rects(axes[0], x.shape, kernel_size, stride)
    grid_values(axes[1], dout, fmt="{:g}", title="dout (from above)", cmap="cividis")
    for n, (i, j) in enumerate(np.ndindex(*dout.shape)):
        axes[1].add_patch(plt.Rectangle((j - 0.43, i - 0.43), 0.86, 0.86, fill=False, linewidth=2.5,
                                        edgecolor=WINDOW_COLOURS[n % len(WINDOW_COLOURS)]))
    grid_values(axes[2], dx, fmt=fmt, title="dx = gradient for x", cmap="cividis")
    _window_rects(axes[2], x.shape, kernel_size, stride)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
