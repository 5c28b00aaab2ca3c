"""Fast max pooling: the same results as ``helpers.conv.max_pool2d_forward`` / ``_backward``.

The usual case, windows that tile the input exactly (2x2, stride 2, even H and W), needs no
copy: a reshape shows every window, and large batches are pooled in two threads, half the
images each. Every other case runs ``helpers.conv``'s version. Average pooling is
``helpers.conv``'s as it is (it is not where training spends its time).
"""

from __future__ import annotations

import numpy as np

from helpers import conv
from helpers.fast import threads
from helpers.shapes import check_dout, pool_geometry

__all__ = ["SHARE_SIZE", "max_pool2d_forward", "max_pool2d_backward", "max_pool2d",
           "avg_pool2d_forward", "avg_pool2d_backward", "avg_pool2d"]

avg_pool2d_forward = conv.avg_pool2d_forward
avg_pool2d_backward = conv.avg_pool2d_backward
avg_pool2d = conv.avg_pool2d

# Arrays of at least this many numbers are pooled in two threads, half the images each, when
# the engine uses two (``threads.share_images``); below it, starting the second thread costs
# more than it saves.
SHARE_SIZE = 1 << 16


def _by_halves(work, a):
    """Run work(lo, hi) over the images of ``a``: in two threads when ``a`` is large."""
    n = a.shape[0]
    threads.share_images(work, n, n // 2 if a.size >= SHARE_SIZE else n)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Max pooling: x (N, C, H, W) -> (out (N, C, OH, OW), cache); stride None = kernel_size.
    Pass the cache to this module's ``max_pool2d_backward``."""
    x, (kh, kw), s, pads, (oh, ow) = pool_geometry(x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    tiles = s == (kh, kw) and pads == ((0, 0), (0, 0)) and h % kh == 0 and w % kw == 0
    if not tiles or not np.issubdtype(x.dtype, np.floating):
        out, cache = conv.max_pool2d_forward(x, kernel_size, stride, padding)
        return out, {"reference": cache}
    # win[n, c, i, a, j, b] = x[n, c, i*KH + a, j*KW + b]: window (i, j), pixel (a, b) in it
    win = x.reshape(n, c, oh, kh, ow, kw)
    out = np.empty((n, c, oh, ow), dtype=x.dtype)

    def work(lo, hi):                              # images lo..hi-1
        o, v = out[lo:hi], win[lo:hi]
        # first the max over each window's rows: whole image rows at a time, so it reads the
        # input in order (40 % faster than pixel by pixel for 2x2), then over its columns
        rows = v[:, :, :, 0] if kh == 1 else np.maximum(v[:, :, :, 0], v[:, :, :, 1])
        for a in range(2, kh):
            np.maximum(rows, v[:, :, :, a], out=rows)
        if kw == 1:
            o[...] = rows[..., 0]
        else:
            np.maximum(rows[..., 0], rows[..., 1], out=o)
        for b in range(2, kw):
            np.maximum(o, rows[..., b], out=o)

    _by_halves(work, x)
    return out, {"win": win, "out": out}


def max_pool2d_backward(dout, cache):
    """Backward of ``max_pool2d_forward``: dout (N, C, OH, OW) -> dx (N, C, H, W). Each dout
    goes to the first maximum of its window."""
    if "reference" in cache:
        return conv.max_pool2d_backward(dout, cache["reference"])
    win, out = cache["win"], cache["out"]
    n, c, oh, kh, ow, kw = win.shape
    dout = check_dout(dout, out.shape).astype(out.dtype, copy=False)
    dwin = np.empty(win.shape, dtype=out.dtype)

    def work(lo, hi):                              # images lo..hi-1
        v, o, d, dv = win[lo:hi], out[lo:hi], dout[lo:hi], dwin[lo:hi]
        not_found = np.ones(o.shape, dtype=bool)   # windows whose max is still to be found
        hit = np.empty(o.shape, dtype=bool)
        for a in range(kh):
            for b in range(kw):
                np.equal(v[:, :, :, a, :, b], o, out=hit)
                hit &= not_found                   # only the first max of each window
                np.multiply(d, hit, out=dv[:, :, :, a, :, b])
                not_found &= ~hit

    _by_halves(work, dwin)
    return dwin.reshape(n, c, oh * kh, ow * kw)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling: x (N, C, H, W) -> (N, C, OH, OW); stride None = kernel_size."""
    return max_pool2d_forward(x, kernel_size, stride, padding)[0]
