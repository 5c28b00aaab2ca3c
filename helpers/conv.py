"""Convolution and pooling as plain NumPy functions on NCHW arrays: the reference.

This is the code lessons 01-10 derive, and the code a learner reads:

* the definition as loops (``conv2d_naive``, ``max_pool2d_naive``, ... and their backward
  passes): slow, but each line is the formula;
* ``im2col`` / ``col2im``: every window of the input as one row of a matrix, and back;
* ``conv2d_forward`` / ``conv2d_backward``: convolution as im2col plus one matrix product
  (lesson 07), and its gradients (lesson 10);
* pooling that loops over the KH*KW kernel taps, never over pixels (lessons 08 and 09).

No threads and no module state. The layers (``helpers.layers``) run on a tuned engine with the
same functions and results, ``helpers.fast``; it is tested against this module, and
``helpers.layers.use_engine("reference")`` runs every layer on this module instead.

Conventions (the same as PyTorch): arrays are ``(N, C, H, W)``; weights ``(F, C, KH, KW)``;
biases ``(F,)``. "Convolution" is cross-correlation (the kernel is not flipped), as in every
library. ``dilation=1`` is an ordinary kernel. float32 in, float32 out; float64 in, float64
out. The argument checks and output sizes live in ``helpers.shapes`` (re-exported here).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from helpers.shapes import (check_array, check_conv, check_dout, check_images, check_memory,
                            check_shape, conv_geometry, output_size, pair, pool_geometry,
                            pool_output_size, resolve_padding, result_dtype)

# what to do when an array would not fit in memory (helpers.shapes.check_memory says how much)
SMALLER = ("use fewer images at a time (a smaller batch), fewer filters, a larger stride or "
           "less padding")

__all__ = [
    "pair", "resolve_padding", "output_size", "pool_output_size", "pad", "unpad",
    "conv2d_naive", "conv2d_backward_naive", "windows", "scatter_windows", "im2col", "col2im",
    "conv2d", "conv2d_forward", "conv2d_backward",
    "max_pool2d_naive", "max_pool2d_backward_naive", "max_pool2d",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_naive", "avg_pool2d_backward_naive", "avg_pool2d",
    "avg_pool2d_forward", "avg_pool2d_backward",
]


def pad(x, padding, value=0):
    """Pad the last two axes (H, W) of ``x`` with ``value``.

    x: (..., H, W). padding: int, (ph, pw), or ((top, bottom), (left, right)).
    Returns (..., H + top + bottom, W + left + right); ``x`` itself when the padding is zero.
    """
    x = check_array(x)
    if (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(p, (tuple, list)) for p in padding)):
        (top, bottom), (left, right) = (pair(p, "padding", minimum=0) for p in padding)
    else:
        (top, bottom), (left, right) = resolve_padding(padding, 1)
    if top == bottom == left == right == 0:
        return x
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 axes (..., H, W), got shape {x.shape}")
    h, w = x.shape[-2:]
    shape = x.shape[:-2] + (h + top + bottom, w + left + right)
    check_memory(shape, x.dtype, "the padded input", "use a smaller padding, or fewer images at "
                 "a time (a smaller batch)")
    # same as np.pad(x, [(0, 0), ..., (top, bottom), (left, right)], constant_values=value),
    # several times faster on small arrays
    out = np.full(shape, value, dtype=x.dtype)
    out[..., top:top + h, left:left + w] = x
    return out


def unpad(xp, pads, hw):
    """The inside of a padded array: xp (N, C, Hp, Wp) -> (N, C, H, W) view, where
    pads = ((top, bottom), (left, right)) and hw = (H, W)."""
    (top, _), (left, _) = pads
    return xp[:, :, top:top + hw[0], left:left + hw[1]]


# ---------------------------------------------------------------------------------------------
# Convolution, the definition as loops
# ---------------------------------------------------------------------------------------------

def conv2d_naive(x, w, b=None, stride=1, padding=0, dilation=1):
    """Convolution (cross-correlation) with plain loops; the reference for the fast version.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW).
    stride, padding, dilation: int or (h, w); padding also "valid"/"same"; dilation=1 is an
    ordinary kernel (PyTorch convention).
    """
    x, w, b = check_conv(x, w, b)
    (kh, kw), (sh, sw), pads, (dh, dw), (oh, ow) = conv_geometry(
        x.shape[2:], w.shape[2:], stride, padding, dilation)
    dtype = result_dtype(x, w)
    n_, f_ = x.shape[0], w.shape[0]
    check_memory((n_, f_, oh, ow), dtype, "the output (N, F, OH, OW)", SMALLER)
    xp = pad(x.astype(dtype, copy=False), pads)
    out = np.zeros((n_, f_, oh, ow), dtype=dtype)
    for n in range(n_):
        for f in range(f_):
            for i in range(oh):
                for j in range(ow):
                    # the window under the kernel: every dh-th row from i*sh, kh rows
                    window = xp[n, :, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                                j * sw:j * sw + dw * (kw - 1) + 1:dw]
                    out[n, f, i, j] = np.sum(window * w[f])
            if b is not None:
                out[n, f] += b[f]
    return out


def conv2d_backward_naive(dout, x, w, b=None, stride=1, padding=0, dilation=1):
    """Gradients of ``conv2d_naive`` with plain loops: returns (dx, dw, db).

    dout: (N, F, OH, OW), x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None (then db is None).
    Each output pixel sends dout * w back to the window it read (+=: windows overlap), and
    dout * window to the kernel.
    """
    x, w, b = check_conv(x, w, b)
    (kh, kw), (sh, sw), pads, (dh, dw), (oh, ow) = conv_geometry(
        x.shape[2:], w.shape[2:], stride, padding, dilation)
    dtype = result_dtype(x, w)
    xp = pad(x.astype(dtype, copy=False), pads)
    dout = check_dout(dout, (x.shape[0], w.shape[0], oh, ow))
    dxp = np.zeros_like(xp)
    dw_ = np.zeros(w.shape, dtype=dtype)
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            for i in range(oh):
                for j in range(ow):
                    rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                    g = dout[n, f, i, j]
                    dxp[n, :, rows, cols] += g * w[f]
                    dw_[f] += g * xp[n, :, rows, cols]
    (top, bottom), (left, right) = pads
    dx = dxp[:, :, top:top + x.shape[2], left:left + x.shape[3]]
    db = None if b is None else dout.sum(axis=(0, 2, 3)).astype(dtype)
    return np.ascontiguousarray(dx), dw_, db


# ---------------------------------------------------------------------------------------------
# im2col / col2im: the stride trick
# ---------------------------------------------------------------------------------------------

def windows(xp, kernel, stride, dilation, out_hw):
    """A read-only *view* of every window of xp, shape (N, C, KH, KW, OH, OW); no copy.

    NumPy finds element [n, c, h, w] of xp at byte offset n*sN + c*sC + h*sH + w*sW (its
    ``strides``). The window element (kernel tap i, j) of the output pixel (oh, ow) is
    xp[n, c, oh*stride + i*dilation, ow*stride + j*dilation], so the view only needs new strides:
    moving one kernel tap down is dilation rows (dilation*sH bytes), moving one output pixel
    down is stride rows (stride*sH bytes). ``as_strided`` builds that view without copying;
    the copy happens only when we ask for a contiguous array (``np.ascontiguousarray``).
    """
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(xp, shape=(xp.shape[0], xp.shape[1], kh, kw, oh, ow),
                      strides=(s_n, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w),
                      writeable=False)


def scatter_windows(dwin, xp_shape, stride, dilation, out=None):
    """The adjoint of ``windows``: add dwin (N, C, KH, KW, OH, OW) back into a zero
    (N, C, Hp, Wp) (a new array, or ``out``, which must already be zero).

    One strided slice per kernel tap (KH*KW of them, e.g. 9 or 25): all the output pixels'
    contributions for that tap land on a regular grid of xp, so one vectorised ``+=`` does
    them. Windows overlap (stride < kernel), which is why it must be ``+=``, never ``=``.
    """
    _, _, kh, kw, oh, ow = dwin.shape
    (sh, sw), (dh, dw) = stride, dilation
    dxp = np.zeros(xp_shape, dtype=dwin.dtype) if out is None else out
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                j * dw:j * dw + sw * (ow - 1) + 1:sw] += dwin[:, :, i, j]
    return dxp


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Every window of x as one row: x (N, C, H, W) -> cols (N*OH*OW, C*KH*KW).

    Rows are ordered (n, oh, ow), columns (c, kh, kw), so ``cols @ w.reshape(F, -1).T``
    is the convolution, as an (N*OH*OW, F) matrix. dilation=1 is an ordinary kernel.
    """
    x = check_images(x)
    k, s, pads, d, out_hw = conv_geometry(x.shape[2:], kernel_size, stride, padding, dilation)
    n, c = x.shape[:2]
    check_memory((n * out_hw[0] * out_hw[1], c * k[0] * k[1]), x.dtype,
                 "im2col's matrix (N*OH*OW, C*KH*KW)", SMALLER + " (helpers.fast builds it a "
                 "group of images at a time)")
    win = windows(pad(x, pads), k, s, d, out_hw)          # (N, C, KH, KW, OH, OW) view
    # (N, OH, OW, C, KH, KW): reshape of this transposed view is where the one copy happens
    return win.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_hw[0] * out_hw[1], c * k[0] * k[1])


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):
    """The exact adjoint of ``im2col``: cols (N*OH*OW, C*KH*KW) -> (N, C, H, W).

    Each row's values are added back where im2col read them; where windows overlap the
    contributions add up (so col2im(im2col(x)) is not x, unless windows never overlap).
    <im2col(x), cols> == <x, col2im(cols)> for every x and cols.
    """
    x_shape = check_shape(x_shape)
    n, c, h, w = x_shape
    k, s, pads, d, (oh, ow) = conv_geometry((h, w), kernel_size, stride, padding, dilation)
    cols = check_array(cols, "cols")
    expected = (n * oh * ow, c * k[0] * k[1])
    if cols.shape != expected:
        raise ValueError(f"cols must have shape (N*OH*OW, C*KH*KW) = {expected} for x_shape "
                         f"{tuple(x_shape)}, got {cols.shape}")
    dwin = cols.reshape(n, oh, ow, c, k[0], k[1]).transpose(0, 3, 4, 5, 1, 2)
    (top, bottom), (left, right) = pads
    check_memory((n, c, h + top + bottom, w + left + right), cols.dtype, "the padded image",
                 "use a smaller padding, or fewer images at a time (a smaller batch)")
    dxp = scatter_windows(dwin, (n, c, h + top + bottom, w + left + right), s, d)
    return np.ascontiguousarray(unpad(dxp, pads, (h, w)))


# ---------------------------------------------------------------------------------------------
# Convolution as im2col plus one matrix product (lessons 07 and 10)
# ---------------------------------------------------------------------------------------------

def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Convolution as one matrix product, and what the backward pass needs.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (out (N, F, OH, OW), cache).
    Same arguments and result as ``conv2d_naive``.

        cols = im2col(x)                 (N*OH*OW, C*KH*KW): one window a row
        out  = cols @ w_rows.T + b       (N*OH*OW, F), w_rows = w.reshape(F, C*KH*KW)

    then the rows (n, oh, ow) go back to NCHW order.
    """
    x, w, b = check_conv(x, w, b)
    kernel, s, _, d, (oh, ow) = conv_geometry(x.shape[2:], w.shape[2:], stride, padding,
                                              dilation)
    dtype = result_dtype(x, w)
    n, f = x.shape[0], w.shape[0]
    check_memory((n, f, oh, ow), dtype, "the output (N, F, OH, OW)", SMALLER)
    cols = im2col(x.astype(dtype, copy=False), kernel, s, padding, d)
    w_rows = w.astype(dtype, copy=False).reshape(f, -1)
    out = cols @ w_rows.T                                       # (N*OH*OW, F)
    if b is not None:
        out += b.astype(dtype, copy=False)
    out = out.reshape(n, oh, ow, f).transpose(0, 3, 1, 2)       # -> (N, F, OH, OW)
    cache = {"cols": cols, "w_rows": w_rows, "x_shape": x.shape, "w_shape": w.shape,
             "out_shape": out.shape, "has_bias": b is not None, "args": (kernel, s, padding, d)}
    return np.ascontiguousarray(out), cache


def conv2d_backward(dout, cache, need_dx=True):
    """Backward pass of ``conv2d_forward``: dout (N, F, OH, OW) -> (dx, dw, db).

    dx: (N, C, H, W), or None with need_dx=False (nobody needs the images' gradient in a
    network's first layer); dw: (F, C, KH, KW); db: (F,), or None when there was no bias.
    With dout as a matrix d (N*OH*OW, F), one row per window, like cols:

        dw   = d.T @ cols                each window's pixels, weighted by its gradient
        db   = d summed over the rows    every window added b once
        dx   = col2im(d @ w_rows)        each window's gradient added back where it was read
    """
    cols, w_rows = cache["cols"], cache["w_rows"]
    d = check_dout(dout, cache["out_shape"]).astype(cols.dtype, copy=False)
    d = d.transpose(0, 2, 3, 1).reshape(cols.shape[0], w_rows.shape[0])   # rows (n, oh, ow)
    dw = (d.T @ cols).reshape(cache["w_shape"])
    db = d.sum(axis=0) if cache["has_bias"] else None
    dx = col2im(d @ w_rows, cache["x_shape"], *cache["args"]) if need_dx else None
    return dx, dw, db


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """Convolution (cross-correlation): x (N, C, H, W), w (F, C, KH, KW), b (F,) or None
    -> (N, F, OH, OW). Same result as ``conv2d_naive``, as im2col plus one matrix product."""
    return conv2d_forward(x, w, b, stride, padding, dilation)[0]


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------

def max_pool2d_naive(x, kernel_size, stride=None, padding=0):
    """Max pooling with loops: x (N, C, H, W) -> (N, C, OH, OW). stride None = kernel_size;
    the padding is -inf, so it never wins."""
    x, (kh, kw), (sh, sw), pads, (oh, ow) = pool_geometry(x, kernel_size, stride, padding)
    xp = pad(x.astype(result_dtype(x), copy=False), pads, value=-np.inf)
    out = np.empty(x.shape[:2] + (oh, ow), dtype=xp.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    out[n, c, i, j] = xp[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw].max()
    return out


def max_pool2d_backward_naive(dout, x, kernel_size, stride=None, padding=0):
    """Gradient of max pooling with loops: each dout goes to the (first) max of its window;
    overlapping windows add (+=). dout: (N, C, OH, OW), x: (N, C, H, W) -> dx (N, C, H, W)."""
    x, (kh, kw), (sh, sw), pads, (oh, ow) = pool_geometry(x, kernel_size, stride, padding)
    xp = pad(x.astype(result_dtype(x), copy=False), pads, value=-np.inf)
    dout = check_dout(dout, x.shape[:2] + (oh, ow))
    dxp = np.zeros_like(xp)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    window = xp[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    a, bb = np.unravel_index(np.argmax(window), window.shape)
                    dxp[n, c, i * sh + a, j * sw + bb] += dout[n, c, i, j]
    return np.ascontiguousarray(unpad(dxp, pads, x.shape[2:]))


def avg_pool2d_naive(x, kernel_size, stride=None, padding=0):
    """Average pooling with loops: x (N, C, H, W) -> (N, C, OH, OW). stride None = kernel_size;
    zero padding counts in the average (divide by KH*KW always), as PyTorch's default."""
    x, (kh, kw), (sh, sw), pads, (oh, ow) = pool_geometry(x, kernel_size, stride, padding)
    xp = pad(x.astype(result_dtype(x), copy=False), pads)
    out = np.empty(x.shape[:2] + (oh, ow), dtype=xp.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    out[n, c, i, j] = xp[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw].mean()
    return out


def avg_pool2d_backward_naive(dout, x, kernel_size, stride=None, padding=0):
    """Gradient of average pooling with loops: each dout is shared equally by the KH*KW
    pixels of its window (+= where windows overlap). -> dx (N, C, H, W)."""
    x, (kh, kw), (sh, sw), pads, (oh, ow) = pool_geometry(x, kernel_size, stride, padding)
    dtype = result_dtype(x)
    dout = check_dout(dout, x.shape[:2] + (oh, ow))
    (top, bottom), (left, right) = pads
    dxp = np.zeros(x.shape[:2] + (x.shape[2] + top + bottom, x.shape[3] + left + right), dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    share = dout[n, c, i, j] / (kh * kw)
                    dxp[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw] += share
    return np.ascontiguousarray(unpad(dxp, pads, x.shape[2:]))


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Max pooling: x (N, C, H, W) -> (out (N, C, OH, OW), cache).

    stride None means stride = kernel_size; padding is -inf. Loops over the KH*KW kernel taps
    (not over pixels): each tap is one strided slice of all windows at once; we keep the
    running max and which tap gave it (the first one, on ties), for the backward pass.
    """
    x, k, s, pads, (oh, ow) = pool_geometry(x, kernel_size, stride, padding)
    xp = pad(x.astype(result_dtype(x), copy=False), pads, value=-np.inf)
    win = windows(xp, k, s, (1, 1), (oh, ow))            # (N, C, KH, KW, OH, OW) view
    out = win[:, :, 0, 0].copy()                          # running max, starts at tap 0
    # which tap (i*KW + j) holds the max, in the smallest integer type that fits
    arg = np.zeros(out.shape, dtype=np.min_scalar_type(k[0] * k[1] - 1))
    better = np.empty(out.shape, dtype=bool)
    for t in range(1, k[0] * k[1]):
        tap = win[:, :, t // k[1], t % k[1]]              # (N, C, OH, OW) strided view
        np.greater(tap, out, out=better)                  # strictly: ties keep the first tap
        np.maximum(out, tap, out=out)
        np.putmask(arg, better, t)
    cache = {"x_shape": x.shape, "xp_shape": xp.shape, "arg": arg, "kernel": k, "stride": s,
             "pads": pads, "dtype": xp.dtype}
    return out, cache


def max_pool2d_backward(dout, cache):
    """Backward of ``max_pool2d_forward``: dout (N, C, OH, OW) -> dx (N, C, H, W).

    Each dout goes to the max of its window; where windows overlap (stride < kernel) one
    pixel can be the max of several windows, and its gradients add up (+=, never =).
    """
    arg = cache["arg"]
    dout = check_dout(dout, arg.shape).astype(cache["dtype"], copy=False)
    (kh, kw), (sh, sw) = cache["kernel"], cache["stride"]
    oh, ow = arg.shape[2:]
    dxp = np.zeros(cache["xp_shape"], dtype=cache["dtype"])
    for t in range(kh * kw):                                 # one strided slice per tap
        i, j = divmod(t, kw)
        dxp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += np.where(
            arg == t, dout, 0)
    return np.ascontiguousarray(unpad(dxp, cache["pads"], cache["x_shape"][2:]))


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling: x (N, C, H, W) -> (N, C, OH, OW); stride None = kernel_size."""
    return max_pool2d_forward(x, kernel_size, stride, padding)[0]


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Average pooling: x (N, C, H, W) -> (out (N, C, OH, OW), cache).

    stride None means stride = kernel_size; zero padding counts in the average (divide by
    KH*KW), as PyTorch's default count_include_pad=True.
    """
    x, k, s, pads, (oh, ow) = pool_geometry(x, kernel_size, stride, padding)
    xp = pad(x.astype(result_dtype(x), copy=False), pads)
    win = windows(xp, k, s, (1, 1), (oh, ow))
    out = np.zeros(x.shape[:2] + (oh, ow), dtype=xp.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            out += win[:, :, i, j]
    out /= k[0] * k[1]
    cache = {"x_shape": x.shape, "xp_shape": xp.shape, "kernel": k, "stride": s, "pads": pads,
             "dtype": xp.dtype, "out_shape": out.shape}
    return out, cache


def avg_pool2d_backward(dout, cache):
    """Backward of ``avg_pool2d_forward``: dout (N, C, OH, OW) -> dx (N, C, H, W).
    Every pixel of a window gets dout / (KH*KW); overlapping windows add (+=)."""
    dout = check_dout(dout, cache["out_shape"]).astype(cache["dtype"], copy=False)
    (kh, kw), (sh, sw) = cache["kernel"], cache["stride"]
    oh, ow = dout.shape[2:]
    share = dout / (kh * kw)
    dxp = np.zeros(cache["xp_shape"], dtype=cache["dtype"])
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += share
    return np.ascontiguousarray(unpad(dxp, cache["pads"], cache["x_shape"][2:]))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling: x (N, C, H, W) -> (N, C, OH, OW); stride None = kernel_size."""
    return avg_pool2d_forward(x, kernel_size, stride, padding)[0]
