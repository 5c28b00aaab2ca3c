"""Convolution and pooling as pure NumPy functions on NCHW arrays.

Each operation comes twice, as in CS231n's ``fast_layers``:

* a **naive** version with plain Python loops (``conv2d_naive``, ``max_pool2d_naive``, ...):
  slow, but it reads like the definition, and the tests use it as the reference;
* a **fast** version (``conv2d``, ``conv2d_forward`` / ``conv2d_backward``, ``max_pool2d``, ...)
  built on im2col: a strided *view* of the input that lists every window (no copy), one copy
  of it into a matrix, and matrix multiplications, a few images at a time so the matrix stays in
  the CPU cache (the notes above ``GROUP_BYTES`` say how, and why it is fast). Pooling loops
  over the KH*KW kernel taps, never over pixels.

Conventions (the same as PyTorch):

* arrays are ``(N, C, H, W)``; weights are ``(F, C, KH, KW)``; biases ``(F,)``;
* "convolution" is cross-correlation (the kernel is not flipped), as in every library;
* ``kernel_size``, ``stride``, ``padding`` and ``dilation`` take an int or an ``(h, w)`` pair;
  ``padding`` also takes ``"valid"`` (no padding) and ``"same"`` (output as large as the input,
  stride 1 only; an even kernel puts the extra row/column at the bottom/right);
* ``dilation=1`` is an ordinary kernel; ``dilation=2`` leaves one pixel out between kernel taps,
  so a 3x3 kernel covers 5x5 (some course notes call the ordinary kernel "dilation 0"; here,
  as in PyTorch and Keras, it is dilation 1);
* the output size along one axis is ``floor((n + pad_total - dilation*(k-1) - 1) / stride) + 1``;
* dtype is kept: float32 in, float32 out; float64 in, float64 out.

All checks live in this module (``pair``, ``resolve_padding``, ``output_size`` and the
``_check_*`` helpers), so every entry point, here and in ``helpers.layers``, raises the same
``ValueError`` naming the parameter, the rule, and what was probably meant.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import numbers
import os
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = [
    "pair", "resolve_padding", "pad", "output_size", "pool_output_size",
    "conv2d_naive", "conv2d_backward_naive", "im2col", "col2im",
    "conv2d", "conv2d_forward", "conv2d_backward",
    "max_pool2d_naive", "max_pool2d_backward_naive", "max_pool2d",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_naive", "avg_pool2d_backward_naive", "avg_pool2d",
    "avg_pool2d_forward", "avg_pool2d_backward",
]


# ---------------------------------------------------------------------------------------------
# Validation: every rule, in one place
# ---------------------------------------------------------------------------------------------

def _as_int(v, name):
    """One integer entry of a parameter, or a ValueError that says what was wrong."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v.item()
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer, got the bool {v!r}")
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real) and float(v).is_integer():
        raise ValueError(f"{name} must be an integer, got the float {v!r}; use {int(v)}")
    raise ValueError(f"{name} must be an integer or an (h, w) pair of integers, got {v!r}")


def pair(v, name, minimum=None):
    """Turn an int or an (h, w) pair into a validated ``(int, int)`` tuple.

    name: the parameter name used in error messages ("kernel_size", "stride", ...).
    minimum: smallest allowed value; by default 0 for "padding" and 1 for everything else
    (kernel_size, stride and dilation must be positive integers).

    >>> pair(3, "kernel_size")
    (3, 3)
    >>> pair((3, 5), "kernel_size")
    (3, 5)
    """
    if minimum is None:
        minimum = 0 if name.startswith("padding") else 1
    if isinstance(v, (tuple, list, np.ndarray)) and np.ndim(v) == 1:
        if len(v) != 2:
            raise ValueError(
                f"{name} must be an int or an (h, w) pair, got {tuple(v)!r} with {len(v)} entries")
        h, w = _as_int(v[0], name), _as_int(v[1], name)
    else:
        h = w = _as_int(v, name)
    if min(h, w) < minimum:
        rule = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        hint = ""
        if name.startswith("stride") and min(h, w) == 0:
            hint = "; stride 1 moves the window one pixel at a time"
        elif name.startswith("dilation") and min(h, w) == 0:
            hint = "; dilation 1 is an ordinary kernel (PyTorch convention)"
        elif name.startswith("padding"):
            hint = ("; padding adds zeros around the input, to make the input smaller crop it "
                    "(x[:, :, top:bottom, left:right])")
        raise ValueError(f"{name} must be {rule}, got {v!r}{hint}")
    return (h, w)


def resolve_padding(padding, kernel_size, dilation=1, stride=1):
    """Padding as ``((top, bottom), (left, right))``.

    padding: int, (ph, pw), "valid" (no padding) or "same" (output size = input size; needs
    stride 1; an even (dilated) kernel puts the extra row/column at the bottom/right, as
    PyTorch does). kernel_size, dilation, stride: int or (h, w) pair.
    """
    kh, kw = pair(kernel_size, "kernel_size")
    dh, dw = pair(dilation, "dilation")
    sh, sw = pair(stride, "stride")
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            if (sh, sw) != (1, 1):
                p = [d * (k - 1) // 2 for k, d in ((kh, dh), (kw, dw))]
                p = p[0] if p[0] == p[1] else tuple(p)
                s_txt = sh if sh == sw else (sh, sw)
                raise ValueError(
                    f"padding='same' needs stride 1, got stride {s_txt} (PyTorch's rule: with a "
                    f"stride the output cannot match the input). For an output of ceil(H/stride) "
                    f"(Keras' 'same') use padding={p!r} with an odd kernel")
            total_h, total_w = dh * (kh - 1), dw * (kw - 1)
            return ((total_h // 2, total_h - total_h // 2), (total_w // 2, total_w - total_w // 2))
        hint = ""
        if padding.strip().lower() in ("same", "valid"):
            hint = f"; did you mean {padding.strip().lower()!r} (lower case)?"
        raise ValueError(
            f"padding must be an int, an (h, w) pair, 'valid' or 'same', got {padding!r}{hint}")
    ph, pw = pair(padding, "padding", minimum=0)
    return ((ph, ph), (pw, pw))


def pad(x, padding, value=0):
    """Pad the last two axes (H, W) of ``x`` with ``value``.

    x: (..., H, W). padding: int, (ph, pw), or ((top, bottom), (left, right)).
    Returns (..., H + top + bottom, W + left + right); ``x`` itself when the padding is zero.
    """
    x = np.asarray(x)
    if (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(p, (tuple, list)) for p in padding)):
        (top, bottom), (left, right) = (pair(p, "padding", minimum=0) for p in padding)
    else:
        (top, bottom), (left, right) = resolve_padding(padding, 1)
    if top == bottom == left == right == 0:
        return x
    h, w = x.shape[-2:]
    # same as np.pad(x, [(0, 0), ..., (top, bottom), (left, right)], constant_values=value),
    # several times faster on small arrays
    out = np.full(x.shape[:-2] + (h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[..., top:top + h, left:left + w] = x
    return out


def _axis_size(n, axis, k, s, p_lo, p_hi, d, exact):
    """Output size along one axis, or a ValueError explaining why there is none."""
    dk = d * (k - 1) + 1                       # extent of the dilated kernel
    padded = n + p_lo + p_hi
    pad_txt = f"2*padding {p_lo}" if p_lo == p_hi else f"padding {p_lo}+{p_hi}"
    if dk > padded:
        need = math.ceil((dk - n) / 2)         # symmetric padding that would make it fit
        hint = f"use padding >= {need} or a smaller kernel"
        if d > 1:
            hint = f"use padding >= {need}, a smaller kernel or a smaller dilation"
        dilated = f" (dilated: {dk})" if d > 1 else ""
        raise ValueError(
            f"kernel_size {k}{dilated} is larger than the padded input {padded} "
            f"({axis}={n} + {pad_txt}); {hint}")
    rest = (padded - dk) % s
    if exact and rest:
        fits = [q for q in range(p_lo, p_lo + s + 1) if (n + 2 * q - dk) % s == 0]
        alt = f"use padding {fits[0]}, or " if fits and p_lo == p_hi else "use "
        raise ValueError(
            f"exact=True: stride {s} does not fit {axis}={n} exactly: ({axis} + {pad_txt} - "
            f"dilated kernel {dk}) = {padded - dk} is not a multiple of stride {s}, so the last "
            f"{rest} row(s)/column(s) of the padded input would be dropped; {alt}an input of "
            f"{axis}={n - rest} or {n - rest + s}")
    return (padded - dk) // s + 1


def _geometry(hw, kernel_size, stride, padding, dilation, exact=False, labels=("H", "W")):
    """Validate everything and return (kernel, stride, pads, dilation, (OH, OW)) as pairs."""
    k = pair(kernel_size, "kernel_size")
    s = pair(stride, "stride")
    d = pair(dilation, "dilation")
    pads = resolve_padding(padding, k, d, s)
    out = tuple(_axis_size(hw[i], labels[i], k[i], s[i], *pads[i], d[i], exact) for i in range(2))
    return k, s, pads, d, out


def output_size(n, kernel_size, stride=1, padding=0, dilation=1, exact=False):
    """Output size of a convolution or pooling window along each spatial axis.

    n: input size, int or (H, W). kernel_size, stride, dilation: positive int or (h, w) pair.
    padding: non-negative int, (h, w) pair, "valid" or "same". dilation=1 is an ordinary kernel
    (PyTorch convention). exact=True raises when the stride does not fit exactly, i.e. when the
    floor below would silently drop rows or columns of the padded input.

        out = floor((n + pad_total - dilation*(kernel_size - 1) - 1) / stride) + 1

    Returns an int when n is an int, else an (OH, OW) tuple.

    >>> output_size(28, 5)
    24
    >>> output_size((32, 32), 3, stride=2, padding=1)
    (16, 16)
    """
    if isinstance(n, (tuple, list, np.ndarray)) and np.ndim(n) == 1:
        hw, labels = pair(n, "n (input size)"), ("H", "W")
        return _geometry(hw, kernel_size, stride, padding, dilation, exact, labels)[-1]
    size = _as_int(n, "n (input size)")
    if size < 1:
        raise ValueError(f"n (input size) must be a positive integer, got {n!r}")
    return _geometry((size, size), kernel_size, stride, padding, dilation, exact, ("n", "n"))[-1][0]


def _float_dtype(*arrays):
    """The dtype results are computed in: the inputs' float type, float32 for integers."""
    floats = [a.dtype for a in arrays if np.issubdtype(a.dtype, np.floating)]
    return np.result_type(*floats) if floats else np.dtype(np.float32)


def _check_x(x, name="x"):
    """x must be a 4-D (N, C, H, W) array; suggest the fix for the usual 2-D and 3-D cases."""
    x = np.asarray(x)
    if x.ndim == 4:
        return x
    msg = f"{name} must be 4-D (N, C, H, W), got a {x.ndim}-D array of shape {x.shape}"
    if x.ndim == 2:
        msg += f"; for one grayscale image use {name}[None, None]"
    elif x.ndim == 3:
        if x.shape[-1] in (1, 3, 4) and x.shape[0] not in (1, 3, 4):
            msg += (f"; it looks like one (H, W, C) image: use {name}.transpose(2, 0, 1)[None]")
        else:
            msg += (f"; for one (C, H, W) image use {name}[None], for a batch of (N, H, W) "
                    f"grayscale images use {name}[:, None]")
    raise ValueError(msg)


def _check_conv(x, w, b):
    """Check x (N, C, H, W), w (F, C, KH, KW), b (F,) or None against each other."""
    x = _check_x(x)
    w = np.asarray(w)
    if w.ndim != 4:
        raise ValueError(f"w must be 4-D (F, C, KH, KW) (filters, input channels, kernel height, "
                         f"kernel width), got shape {w.shape}"
                         + ("; for one single-channel kernel use w[None, None]"
                            if w.ndim == 2 else ""))
    if w.shape[1] != x.shape[1]:
        msg = (f"w has {w.shape[1]} input channels (w.shape[1]) but x has {x.shape[1]} "
               f"(x.shape[1]); the weight channels must match the input channels")
        if x.shape[3] == w.shape[1]:
            msg += "; x looks channels-last (N, H, W, C): use x.transpose(0, 3, 1, 2)"
        raise ValueError(msg)
    if b is not None:
        b = np.asarray(b)
        if b.shape != (w.shape[0],):
            msg = (f"b must have shape (F,) = ({w.shape[0]},), one bias per filter "
                   f"(F = w.shape[0]), got shape {b.shape}")
            if b.size == w.shape[0]:
                msg += "; use b.reshape(-1)"
            raise ValueError(msg)
    return x, w, b


# ---------------------------------------------------------------------------------------------
# Convolution, the naive way: the definition as loops
# ---------------------------------------------------------------------------------------------

def conv2d_naive(x, w, b=None, stride=1, padding=0, dilation=1):
    """Convolution (cross-correlation) with plain loops; the reference for the fast version.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW).
    stride, padding, dilation: int or (h, w); padding also "valid"/"same"; dilation=1 is an
    ordinary kernel (PyTorch convention).
    """
    x, w, b = _check_conv(x, w, b)
    (kh, kw), (sh, sw), pads, (dh, dw), (oh, ow) = _geometry(
        x.shape[2:], w.shape[2:], stride, padding, dilation)
    dtype = _float_dtype(x, w)
    xp = pad(x.astype(dtype, copy=False), pads)
    n_, f_ = x.shape[0], w.shape[0]
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
    x, w, b = _check_conv(x, w, b)
    (kh, kw), (sh, sw), pads, (dh, dw), (oh, ow) = _geometry(
        x.shape[2:], w.shape[2:], stride, padding, dilation)
    dtype = _float_dtype(x, w)
    xp = pad(x.astype(dtype, copy=False), pads)
    dout = _check_dout(dout, (x.shape[0], w.shape[0], oh, ow))
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


def _check_dout(dout, shape):
    dout = np.asarray(dout)
    if dout.shape != tuple(shape):
        raise ValueError(f"dout must have the shape of the forward output (N, F, OH, OW) = "
                         f"{tuple(shape)}, got {dout.shape}")
    return dout


# ---------------------------------------------------------------------------------------------
# im2col / col2im: the stride trick
# ---------------------------------------------------------------------------------------------

def _windows(xp, kernel, stride, dilation, out_hw):
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


def _scatter_windows(dwin, xp_shape, stride, dilation, out=None):
    """The adjoint of ``_windows``: add dwin (N, C, KH, KW, OH, OW) back into a zero (N, C, Hp, Wp)
    (a new array, or ``out``, which must already be zero).

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


def _unpad(xp, pads, hw):
    (top, _), (left, _) = pads
    return xp[:, :, top:top + hw[0], left:left + hw[1]]


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Every window of x as one row: x (N, C, H, W) -> cols (N*OH*OW, C*KH*KW).

    Rows are ordered (n, oh, ow), columns (c, kh, kw), so ``cols @ w.reshape(F, -1).T``
    is the convolution, as an (N*OH*OW, F) matrix. dilation=1 is an ordinary kernel.
    """
    x = _check_x(x)
    k, s, pads, d, out_hw = _geometry(x.shape[2:], kernel_size, stride, padding, dilation)
    win = _windows(pad(x, pads), k, s, d, out_hw)          # (N, C, KH, KW, OH, OW) view
    n, c = x.shape[:2]
    # (N, OH, OW, C, KH, KW): reshape of this transposed view is where the one copy happens
    return win.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_hw[0] * out_hw[1], c * k[0] * k[1])


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):
    """The exact adjoint of ``im2col``: cols (N*OH*OW, C*KH*KW) -> (N, C, H, W).

    Each row's values are added back where im2col read them; where windows overlap the
    contributions add up (so col2im(im2col(x)) is not x, unless windows never overlap).
    <im2col(x), cols> == <x, col2im(cols)> for every x and cols.
    """
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be 4-D (N, C, H, W), got {tuple(x_shape)}")
    n, c, h, w = (int(v) for v in x_shape)
    k, s, pads, d, (oh, ow) = _geometry((h, w), kernel_size, stride, padding, dilation)
    cols = np.asarray(cols)
    expected = (n * oh * ow, c * k[0] * k[1])
    if cols.shape != expected:
        raise ValueError(f"cols must have shape (N*OH*OW, C*KH*KW) = {expected} for x_shape "
                         f"{tuple(x_shape)}, got {cols.shape}")
    dwin = cols.reshape(n, oh, ow, c, k[0], k[1]).transpose(0, 3, 4, 5, 1, 2)
    (top, bottom), (left, right) = pads
    dxp = _scatter_windows(dwin, (n, c, h + top + bottom, w + left + right), s, d)
    return np.ascontiguousarray(_unpad(dxp, pads, (h, w)))


# ---------------------------------------------------------------------------------------------
# Convolution, the fast way
# ---------------------------------------------------------------------------------------------
#
# The fast path is im2col plus matrix products, organised so that NumPy moves long contiguous
# runs of memory and the matrices stay in the CPU cache:
#
# 1. Images go through in *groups* (``GROUP_BYTES``): one group's im2col matrix is a couple of
#    MB, so it is still in the cache when the matrix product reads it. Each group is padded into
#    a reused buffer whose border stays zero.
# 2. With stride 1 (most layers) each padded image is read as one long row of Hp*Wp pixels.
#    Output pixel (r, c) is computed on a grid of width Wp, at position r*Wp + c, and kernel tap
#    (i, j) reads one contiguous stretch of the row starting at i*dilation*Wp + j*dilation. The
#    last Wp - OW grid columns wrap around into the next image row: they are computed and thrown
#    away, for copies that run at memory speed. That is Wp / OW times the arithmetic: 6 % more
#    on bench_conv's shape (c), 17 % on (a), 40 % on (b)'s small images, and it still pays.
#    Measured on the reference machine, forward plus backward with the strided layout below
#    instead (median of 96 calls, 2026-12-04): (b) 1.66-1.88 -> 2.47-2.64 ms in three runs,
#    (a) 2.00 -> 2.26 ms. The forward pass alone of (a) was faster strided (0.65 -> 0.53 ms:
#    its products are then NCHW already, note 3), that of (b) was not (0.54-0.59 -> 0.63-0.67
#    ms). With a stride, the grid is (OH, OW) and the taps are read through the strided view
#    ``_windows``.
# 3. An image with many grid points gets its own product, (F, C*KH*KW) @ (C*KH*KW, pixels),
#    whose result is already in NCHW order. For small images (fewer than ``BY_IMAGE_PIXELS``
#    grid points) such products are too small for the BLAS to run at speed, so the im2col
#    matrix holds the whole group side by side, (C*KH*KW, images * pixels): one product for the
#    group, and one transposed copy to put the result in NCHW order.

# Largest im2col matrix of one group of images, in bytes, and the smallest image (in grid
# points) that gets a matrix product of its own; both measured on the course's 2-core reference
# machine (1 MB of L2 cache per core) with benchmarks/bench_conv.py and bench_train.py.
# Nothing else depends on these numbers: every choice gives the same result.
GROUP_BYTES = 2 << 20
BY_IMAGE_PIXELS = 512
# Smallest convolution, in multiply-adds of its forward products, that is shared between two
# threads (note 8); measured the same way.
SHARE_MACS = 12 << 20
PIN_THREADS = True                   # note 9


def _view(a, shape):
    """a.reshape(shape), but never a copy: the fast path writes through these views."""
    v = a.reshape(shape)
    assert np.may_share_memory(v, a), "internal error: reshape made a copy"
    return v


def _take(buf, shape):
    """The first prod(shape) entries of the 1-D buffer ``buf``, as an array of that shape."""
    return buf[:math.prod(shape)].reshape(shape)


class _Plan:
    """What the fast convolution works out once per call: sizes, grid, layout and groups.

    x_shape (N, C, H, W), w_shape (F, C, KH, KW). ``flat``: stride 1, the long-row layout;
    ``grid``: (OH, grid width) on which the output is computed (Wp when flat, else OW);
    ``pixels``: grid points per image; ``by_image``: one matrix product per image (else one per
    group); ``shared``: the groups are shared between two threads (note 8); ``group``: images
    per group.
    """

    def __init__(self, x_shape, w_shape, stride, padding, dilation, dtype, bias=False):
        self.k, self.s, self.pads, self.d, self.out_hw = _geometry(
            x_shape[2:], w_shape[2:], stride, padding, dilation)
        (top, bottom), (left, right) = self.pads
        self.n, self.c, self.h, self.w = x_shape
        self.hp, self.wp = self.h + top + bottom, self.w + left + right
        self.f = w_shape[0]
        self.taps = self.c * self.k[0] * self.k[1]            # C*KH*KW
        self.rows = self.taps + bool(bias)                    # rows of im2col: + ones for b
        self.flat = self.s == (1, 1)
        oh, ow = self.out_hw
        self.grid = (oh, self.wp if self.flat else ow)
        self.pixels = oh * self.grid[1]
        self.tail = (self.pixels,) if self.flat else self.out_hw  # a grid row's axes in cols
        self.by_image = self.pixels >= BY_IMAGE_PIXELS
        self.direct = self.by_image and not self.flat         # the product's result is NCHW
        self.dtype = dtype
        # the flat row is read up to dilation*(KW - 1) pixels past its end: a zero tail
        self.area = self.hp * self.wp                          # pixels of a padded image
        # how far past a grid point its farthest kernel tap reads, in the flat row
        self.reach = (self.d[0] * (self.k[0] - 1) * self.wp + self.d[1] * (self.k[1] - 1)
                      if self.flat else 0)
        self.row = self.area + (self.d[1] * (self.k[1] - 1) if self.flat else 0)
        # the side-by-side layout computes dx on grids of the padded images' size (note 5)
        self.side = self.flat and not self.by_image
        # multiply-adds of the forward products, wrapped-around grid columns included
        self.macs = self.n * self.f * self.rows * self.pixels
        self.shared = THREADS > 1 and self.n > 1 and self.macs >= SHARE_MACS
        largest = max(1, GROUP_BYTES // (self.rows * self.pixels * dtype.itemsize))
        groups = -(-self.n // largest)                        # ceil: as few groups as fit,
        if self.shared:                                       # an even number, for 2 threads
            groups = min(self.n, groups + groups % 2 if groups > 1 else 2)
        self.group = -(-self.n // groups)                     # then balanced in size

    def buffer(self, rows):
        """A 1-D work buffer for a (rows, pixels) matrix per image of a group."""
        return np.empty(self.group * rows * self.pixels, dtype=self.dtype)

    def matrix(self, buf, m, rows):
        """A group's matrix in ``buf``: (m, rows, pixels) by image, else (rows, m * pixels)."""
        if self.by_image:
            return _take(buf, (m, rows, self.pixels))
        return _take(buf, (rows, m * self.pixels))

    def unfold(self, mat, m, lead, tail):
        """View a group's matrix with axes (image, *lead, *tail), whatever its layout;
        lead * tail = rows * pixels, e.g. lead (C, KH, KW) and tail (OH, OW)."""
        if self.by_image:
            return _view(mat, (m, *lead, *tail))
        v = _view(mat, (*lead, m, *tail))
        k = len(lead)
        return v.transpose(k, *range(k), *range(k + 1, v.ndim))

    def groups(self, x, lo=0, hi=None):
        """Yield (start, m, xbuf) for each group of m images from lo (a group's start) to hi:
        xbuf (m, C, row), padded."""
        buf = np.zeros(self.group * self.c * self.row, dtype=self.dtype)
        hi = self.n if hi is None else hi
        for a in range(lo, hi, self.group):
            xg = x[a:min(a + self.group, hi)]
            m = xg.shape[0]
            # a last, smaller group is the first m images of a full one: the same border
            xbuf = _take(buf, (m, self.c, self.row))
            self.crop(xbuf)[...] = xg                         # the border stays zero
            yield a, m, xbuf

    def padded(self, xbuf):
        """The padded images inside xbuf (m, C, row) -> (m, C, Hp, Wp) view (without the tail)."""
        return xbuf[:, :, :self.area].reshape(-1, self.c, self.hp, self.wp)

    def crop(self, xbuf):
        """The un-padded images inside xbuf (m, C, row) -> (m, C, H, W) view."""
        return _unpad(self.padded(xbuf), self.pads, (self.h, self.w))

    def im2col(self, xbuf, cols_buf):
        """A group's im2col matrix (see ``matrix``): row (c, i, j) holds tap (i, j) of channel
        c at every grid point, and with a bias a last row of ones (CS231n's "bias trick": the
        bias is one more weight, b * 1). One copy, from a strided view of the padded images."""
        m = xbuf.shape[0]
        (kh, kw), (dh, dw) = self.k, self.d
        cols = self.matrix(cols_buf, m, self.rows)
        if self.rows > self.taps:
            cols[..., self.taps, :] = 1
        taps = cols[..., :self.taps, :]
        if self.flat:     # tap (i, j): the contiguous stretch that starts at i*dh*Wp + j*dw
            s_n, s_c, s_px = xbuf.strides
            view = as_strided(xbuf, (m, self.c, kh, kw, self.pixels),
                              (s_n, s_c, dh * self.wp * s_px, dw * s_px, s_px), writeable=False)
        else:             # tap (i, j) of output (r, q): row r*sh + i*dh, column q*sw + j*dw
            view = _windows(self.padded(xbuf), self.k, self.s, self.d, self.out_hw)
        np.copyto(self.unfold(taps, m, (self.c, kh, kw), self.tail), view)
        return cols

    def col2im(self, dcols, dbuf):
        """Adjoint of ``im2col`` with a stride: add a group's dcols back into dbuf
        (m, C, Hp*Wp), zeroed first; one strided ``+=`` per kernel tap. Windows overlap, so it
        must be +=, never =."""
        m = dbuf.shape[0]
        dbuf[...] = 0
        _scatter_windows(self.unfold(dcols, m, (self.c, *self.k), self.tail), None, self.s,
                         self.d, out=self.padded(dbuf))

    def spaced(self, buf, rows, length):
        """A (rows, length) matrix in the 1-D ``buf`` whose rows lie ``reach`` numbers further
        apart than their length, with zeros in between: the layout ``add_taps`` reads."""
        full = _take(buf, (rows, length + self.reach))
        full[:, length:] = 0
        return full[:, :length]

    def add_taps(self, dcols, dbuf):
        """The col2im of the flat layout (stride 1), in one NumPy call: dbuf (..., C, span) =
        the sum over the kernel taps (i, j) of dcols' row (..., c, i, j) shifted right by the
        tap's offset in the flat row, i*dilation*Wp + j*dilation (at most ``reach``).

        dcols: (rows, length) from ``spaced``, rows ordered (image, c, i, j); dbuf (m, C, span)
        by image, or (C, span) side by side. Output position q takes element q - offset of tap
        (i, j)'s row: for q < offset that is up to ``reach`` numbers before the row's start,
        for q >= length + offset past its end, and both are the zeros that ``spaced`` put
        between the rows (span <= length + reach keeps every read in the row's own slot or the
        gap before it). So all the shifted rows are one strided view of dcols, and one sum
        over the taps adds them (note 7)."""
        (kh, kw), (dh, dw) = self.k, self.d
        e = dcols.itemsize
        step = dcols.strides[0] // e                        # length + reach
        assert dbuf.shape[-1] <= step, "internal error: the shifted rows leave their slots"
        lead = dbuf.shape[:-2]                              # (m,) by image, else ()
        strides = (self.taps * step,) * len(lead) + (kh * kw * step, kw * step - dh * self.wp,
                                                     step - dw, 1)
        shifted = as_strided(dcols, (*lead, self.c, kh, kw, dbuf.shape[-1]),
                             tuple(v * e for v in strides), writeable=False)
        np.sum(shifted, axis=(-3, -2), out=dbuf)


# 4. With two cores or more the groups are shared between two threads (``THREADS``; an even
#    number of groups, so both get the same work). NumPy lets go of Python's lock inside its
#    copies and matrix products, so both cores work. Meanwhile the BLAS is held to one thread
#    per call (``threadpoolctl``): its own threading splits each small product in two and runs
#    it at about one core's speed. Measured on the reference machine, forward plus backward,
#    one thread -> two, in A/B runs: 73-82 -> 55-62 ms on bench_conv's shape (c) (in a fast
#    phase of the machine; bench_conv's later runs of the two-thread code gave 60-72 ms); on
#    (a) 5.6-6.0 -> 4.9-6.2 ms in one run (within the noise), 6.4 -> 5.0 ms (best of 8 rounds)
#    in another.
#    Small images (one product per group) were first left to the BLAS's own threads. Their
#    products then take one of two speeds, seemingly at random: bench_train's second
#    convolution, forward alone, took 2.1-2.9 ms or 4.6-6.4 ms in 40 samples 0.3 s apart, where
#    one thread took 2.6-4.1 ms every time. Shared here, its forward plus backward took 6.9-10.5
#    ms (10th to 90th percentile; BLAS held to one thread throughout), against 9.1-12.1 ms in
#    one thread and 7.9-16.3 ms (median 8.5) with the BLAS's threads.
#    A process started with OPENBLAS_NUM_THREADS or OMP_NUM_THREADS set to 1 (to run on one
#    core, as the benchmarks' --threads 1 does) gets one thread here too.

# 5. The gradient of the images in the side-by-side layout (small images, stride 1): col2im
#    adds each kernel tap's gradient back where it was read, but an image's grid (OH rows of
#    Wp) is shorter than its padded image (Hp*Wp), so the images would not line up. Instead
#    dout is also laid out on grids of the padded images' full size, zero outside the outputs,
#    and dcols = w.T @ dout is computed on those: more arithmetic (40 % more for this product
#    on bench_conv's shape (b)), after which each channel's images are one long row and every
#    tap is one shift of it across all the images (``add_taps``). The zero grid points add
#    exact zeros, some of them into the next image, where nothing changes. Measured, forward
#    plus backward, best of 10 rounds, when col2im was still one += per tap (per image and
#    channel without this layout): (b) 4.4 -> 4.0 ms (6.1 -> 5.1 ms in a slower phase of the
#    machine); the training network's second convolution 5.8 -> 5.7 ms and 5.8 -> 5.5 ms.


# 6. A training step calls the BLAS outside the convolutions too (Dense layers, the loss).
#    With two BLAS threads there, OpenBLAS's second thread goes on spinning on the other core
#    after each call (for about 0.1 s), and competes there with the next convolution's second
#    thread. ``helpers.train.fit`` therefore holds the BLAS to one thread for its epochs
#    (``one_blas_thread``): the second core then runs helpers' own thread only. Measured on the
#    reference machine, bench_train's network, mean training step in interleaved blocks of 20
#    steps, three runs: 21.3-23.0 ms with the BLAS's threads for small images and outside the
#    convolutions, 18.1-19.0 ms with both changes (20.8-21.9 with only the BLAS held, 22.4-23.8
#    with only the small images shared).


# 7. The flat col2im was one ``+=`` per kernel tap (25 NumPy calls per group for a 5x5
#    kernel). ``add_taps`` does the same sum in one call, on a strided view of dcols whose rows
#    were written ``reach`` numbers apart (``spaced``). Fewer calls matter most with two
#    threads: between NumPy calls a thread needs Python's lock, and waiting for it (and
#    waking up) costs more than the small calls themselves. Measured on the reference
#    machine, backward only, median of 50 calls in blocks of 5, A/B in three runs, two
#    threads: shape (a) 6.1-6.5 -> 4.9-5.6 ms, (b) 4.4-5.2 -> 4.3-4.8, (c) 48-52 -> 45-48;
#    one thread, two runs: (a) 4.8-5.4 -> 3.7-4.6 ms, (b) 4.4 -> 4.3. Two threads each running
#    their own backward on 50 images of (b) took 2.4 and 3.2 ms with the loop of += (1.9 ms
#    alone), 1.8 ms each with the one sum (1.6 ms alone). Forward plus backward of (b) back
#    to back, median: 3.5-4.3 -> 2.9 ms.

# 8. Handing half of a call to the second thread costs a wake-up on each side (a bare round
#    trip to the pool thread, when it has slept for 1-5 ms: 0.09-0.11 ms median on the
#    reference machine), and then both threads wait for each other at Python's lock: more than
#    a small convolution takes on one thread. So a
#    convolution is shared only from ``SHARE_MACS`` multiply-adds of its forward products on
#    (``_Plan.macs``, 12.6 million); smaller ones, such as a gradient check's or a lesson's
#    few images, run in the calling thread. Measured, forward plus backward, one thread against
#    two, median of 10 rounds of 10 calls (float32, 2026-12-04): (b)'s layer on 4 images
#    (1.3 million) 0.18 against 0.39 ms, on 16 (5.4 million) 0.47 against 0.51, on 32 (10.8
#    million) 0.91 against 0.74; (a)'s layer on 16 images (8.1 million) 0.58 against 0.69, on
#    24 (12.1 million) 0.75 against 0.88, on 32 (16.1 million) 1.14 against 1.03. The break-even
#    lies between 8 and 16 million, for float32 and float64 alike, depending on the layer.
#    Every benchmark shape and bench_train's convolutions (23 and 66 million at its batch of
#    64) are above it and shared as before. Holding the BLAS to one thread around the small
#    calls too (outside ``fit`` it may use two) was no faster: lesson 7's SimpleConvNet, 250
#    steps of 8 images, 0.84 against 0.77 s (median of 5).


# 9. The scheduler may wake the second thread on the core the first one runs on, and leave it
#    there: the two halves then take turns on one core while the other idles. On the reference
#    machine (a virtual machine whose kernel packs threads onto few cores) this happened in most
#    calls of a phase: traced on shape (b), the second thread's half took 0.45 ms of CPU and of
#    wall time, the first thread's also 0.45 ms of CPU but 0.85 ms of wall time (forward;
#    backward 1.03 against 2.03 ms), so a call took as long as in one thread. Only for the call
#    itself, ``_apart`` therefore holds the calling thread on its own core and the pool thread
#    on another (``os.sched_setaffinity`` of each thread), then gives both back the cores they
#    had: 4 sched_setaffinity calls, about 10 us more per call (median of 7,000 bare round
#    trips: 74 against 64 us). Forward plus backward, float32, median of 96 calls in interleaved
#    rounds of 8 after a 0.3 s pause (2026-12-04): (a) 5.65 -> 3.33 ms, (b) 4.87 -> 3.01 ms, (c)
#    35.7 -> 34.8 ms (within the noise); best of the 96: (a) 3.18 -> 2.60, (b) 3.11 -> 1.93, (c)
#    28.7 -> 29.1. In a training step, where the two threads are busy all the time, it made no
#    difference: bench_train's step, medians of 16 blocks of 20 steps in three A/B runs, 7.85 /
#    8.05 / 7.97 ms pinned against 8.16 / 7.75 / 7.98. ``PIN_THREADS = False`` leaves the cores
#    to the scheduler.


def _usable_cores():
    """The cores this process may run on (its CPU affinity where the system has one)."""
    return (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1)


def _thread_count():
    """2, or fewer when the process may use fewer cores or asked the BLAS for fewer threads."""
    cores = _usable_cores()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            cores = min(cores, int(value))
    return min(2, cores)


THREADS = _thread_count()
_share_state = {"pool": None, "tid": None, "blas": None}
_share_lock = threading.Lock()
if hasattr(os, "register_at_fork"):     # a forked child has no pool thread: start a new one
    os.register_at_fork(after_in_child=lambda: _share_state.update(pool=None, tid=None))


def _blas():
    """threadpoolctl's handle on the BLAS libraries, made once; False without threadpoolctl
    (then helpers runs in one thread: the BLAS threads and ours would compete for the cores)."""
    if _share_state["blas"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _share_state["blas"] = False
        else:
            _share_state["blas"] = ThreadpoolController().select(user_api="blas")
    return _share_state["blas"]


def one_blas_thread():
    """A context manager that holds the BLAS to one thread while helpers' own two threads are
    on (``THREADS``), e.g. around ``helpers.train.fit``'s epochs (note 6); else it does nothing.

    >>> with one_blas_thread():
    ...     pass
    """
    blas = _blas() if THREADS > 1 else False
    return blas.limit(limits=1) if blas else contextlib.nullcontext()


def share_images(work, n, half=None):
    """Run ``work(lo, hi)`` over the images [0, n) and return its results as a list: work(0,
    half) in this thread and work(half, n) in helpers' second thread when helpers uses two
    (``THREADS``, note 4; each on a core of its own for the call, note 9), else work(0, n)
    here. half: where the second thread starts, by default n // 2. work must write only to
    its own images' part of a result. Calls from several threads at once run one at a time in
    two threads, the others in their own thread. Used by the convolutions (half their groups
    each) and by MaxPool2D."""
    half = n // 2 if half is None else half
    if (THREADS < 2 or not 0 < half < n or not _blas()
            or not _share_lock.acquire(blocking=False)):
        return [work(0, n)]
    try:
        if _share_state["pool"] is None:
            from concurrent.futures import ThreadPoolExecutor
            pool = ThreadPoolExecutor(1, thread_name_prefix="helpers.conv")
            _share_state["tid"] = pool.submit(threading.get_native_id).result()
            _share_state["pool"] = pool
        with _blas().limit(limits=1), _apart(_share_state["tid"]):
            other = _share_state["pool"].submit(work, half, n)
            try:
                mine = work(0, half)
            finally:
                theirs = other.result()         # wait for it even when this half failed
        return [mine, theirs]
    finally:
        _share_lock.release()


try:                                   # glibc's sched_getcpu: the core a thread runs on now
    _sched_getcpu = ctypes.CDLL(None).sched_getcpu
except (OSError, AttributeError, TypeError):   # not glibc
    _sched_getcpu = None


def _this_cpu(cores):
    """The core this thread runs on now, or (without sched_getcpu) the first of ``cores``."""
    cpu = _sched_getcpu() if _sched_getcpu else -1
    return cpu if cpu in cores else min(cores)


@contextlib.contextmanager
def _apart(tid):
    """Hold this thread and the pool thread ``tid`` on two different cores for one shared call,
    then give both back the cores they had (note 9). Does nothing where the system cannot (no
    ``os.sched_setaffinity``), with fewer than two cores, or when ``PIN_THREADS`` is off."""
    try:
        cores = os.sched_getaffinity(0) if PIN_THREADS else ()
    except (AttributeError, OSError):
        cores = ()
    if len(cores) < 2:
        yield
        return
    here = _this_cpu(cores)
    pinned = []
    try:
        for who, cpu in ((tid, min(cores - {here})), (0, here)):    # 0: this thread
            os.sched_setaffinity(who, {cpu})
            pinned.append(who)
    except OSError:                        # e.g. a policy that forbids it: run unpinned
        pass
    try:
        yield
    finally:
        for who in pinned:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(who, cores)


def _share(work, plan):
    """``share_images`` for a convolution: each thread gets half of ``plan``'s groups; a small
    one (``plan.shared`` false, note 8) runs in this thread alone."""
    if not plan.shared:
        return [work(0, plan.n)]
    starts = range(0, plan.n, plan.group)               # shared: 2 groups or more (_Plan)
    return share_images(work, plan.n, starts[len(starts) // 2])


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Fast convolution that also returns what the backward pass needs.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (out (N, F, OH, OW), cache).
    Same arguments and result as ``conv2d_naive``; dilation=1 is an ordinary kernel.

    How (see the notes above ``GROUP_BYTES``): for each group of images, im2col copies the
    windows once into a (C*KH*KW [+ 1], pixels) matrix, and the product with the weights as an
    (F, C*KH*KW [+ 1]) matrix, b as the last column, gives the outputs on the grid; in the
    long-row layout, or with one product for the whole group, a last copy puts them in NCHW
    order without the thrown-away grid columns. The cache keeps x itself (not a copy): do not
    change x in place before the backward pass.
    """
    x, w, b = _check_conv(x, w, b)
    dtype = _float_dtype(x, w)
    plan = _Plan(x.shape, w.shape, stride, padding, dilation, dtype, bias=b is not None)
    w2 = w.astype(dtype, copy=False).reshape(plan.f, plan.taps)          # (F, C*KH*KW)
    if b is not None:                                                    # (F, C*KH*KW + 1)
        w2 = np.concatenate([w2, b.astype(dtype, copy=False)[:, None]], axis=1)
    (oh, ow), grid = plan.out_hw, plan.grid
    out = np.empty((plan.n, plan.f, oh, ow), dtype=dtype)

    def work(lo, hi):             # images lo..hi-1, group by group
        cols_buf, res_buf = plan.buffer(plan.rows), plan.buffer(plan.f)
        for a, m, xbuf in plan.groups(x, lo, hi):
            cols = plan.im2col(xbuf, cols_buf)
            if plan.direct:           # per image (F, rows) @ (rows, OH*OW): already NCHW
                np.matmul(w2, cols, out=out[a:a + m].reshape(m, plan.f, plan.pixels))
                continue
            # per image (m, F, pixels), or for the group (F, m * pixels); then to NCHW
            res = np.matmul(w2, cols, out=plan.matrix(res_buf, m, plan.f))
            out[a:a + m] = plan.unfold(res, m, (plan.f,), grid)[:, :, :, :ow]  # no wrap-around

    _share(work, plan)
    cache = {"x": x, "w": w2, "w_shape": w.shape, "has_bias": b is not None, "plan": plan}
    return out, cache


def conv2d_backward(dout, cache, need_dx=True):
    """Backward pass of ``conv2d_forward``: dout (N, F, OH, OW) -> (dx, dw, db).

    dx: (N, C, H, W), or None with need_dx=False (the first layer of a network: nobody needs
    the gradient of the images, and it is a third of the work); dw: (F, C, KH, KW);
    db: (F,), or None when the forward had no bias.
    Per group of images, with cols its im2col matrix (recomputed: measured as fast as keeping
    the forward pass's, and it saves the memory) and dout on the same grid as an (F, pixels)
    matrix, zero in the thrown-away columns:

        dw    += dout @ cols.T                       (F, C*KH*KW), summed over the images
                                                     (with the row of ones: db, its last column)
        dcols  = w.T @ dout                          (C*KH*KW, pixels)
        dx     = col2im(dcols): every window's gradient added back where it was read
    """
    x, w2, plan = cache["x"], cache["w"], cache["plan"]
    (oh, ow), grid = plan.out_hw, plan.grid
    dout = _check_dout(dout, (plan.n, plan.f, oh, ow)).astype(plan.dtype, copy=False)
    w2t = np.ascontiguousarray(w2[:, :plan.taps].T)                      # (C*KH*KW, F)
    dx = np.empty(x.shape, dtype=plan.dtype) if need_dx else None
    side = need_dx and plan.side                                         # note 5
    area = plan.area

    def work(lo, hi):             # images lo..hi-1, group by group -> their [dw; db], transposed
        dw_t = np.zeros((plan.rows, plan.f), dtype=plan.dtype)
        cols_buf = plan.buffer(plan.rows)
        # Zeroed once: a grid point's place in these buffers, counted modulo the grid width
        # (Wp, or Hp*Wp in dfull), is its column (and row), whatever the group's size m, so the
        # thrown-away points are the same places in every group and are never written.
        dgrid_buf = np.zeros(plan.group * plan.f * plan.pixels, dtype=plan.dtype)
        if side:      # grids of the padded images' full size (Hp*Wp), side by side: note 5
            dfull_buf = np.zeros(plan.group * plan.f * area, dtype=plan.dtype)
            dcols_buf = np.empty(plan.taps * (plan.group * area + plan.reach), dtype=plan.dtype)
            dbuf = np.empty(plan.c * plan.group * area, dtype=plan.dtype)
        else:
            dcols_buf = np.empty(plan.group * plan.taps * (plan.pixels + plan.reach),
                                 dtype=plan.dtype)
            dbuf = np.empty(plan.group * plan.c * area, dtype=plan.dtype)
        for a, m, xbuf in plan.groups(x, lo, hi):
            cols = plan.im2col(xbuf, cols_buf)
            if plan.direct:                               # dout is already the matrix
                dgrid = dout[a:a + m].reshape(m, plan.f, plan.pixels)
            else:                                         # dout on the grid, 0 where thrown away
                dgrid = plan.matrix(dgrid_buf, m, plan.f)
                plan.unfold(dgrid, m, (plan.f,), grid)[:, :, :, :ow] = dout[a:a + m]
            if plan.by_image:                             # one product per image, summed
                dw_t += np.matmul(dgrid, cols.transpose(0, 2, 1)).sum(axis=0).T
            else:
                dw_t += cols @ dgrid.T
            if not need_dx:
                continue
            if side:                                      # note 5
                dfull = _take(dfull_buf, (plan.f, m * area))
                _view(dfull, (plan.f, m, plan.hp, plan.wp))[:, :, :oh, :ow] = \
                    dout[a:a + m].transpose(1, 0, 2, 3)
                dcols = np.matmul(w2t, dfull, out=plan.spaced(dcols_buf, plan.taps, m * area))
                dxbuf = _take(dbuf, (plan.c, m * area))
                plan.add_taps(dcols, dxbuf)
                full = _view(dxbuf, (plan.c, m, plan.hp, plan.wp))
                dx[a:a + m] = _unpad(full, plan.pads, (plan.h, plan.w)).transpose(1, 0, 2, 3)
                continue
            dxbuf = _take(dbuf, (m, plan.c, area))
            if plan.flat:             # one product per image, into rows spaced for add_taps
                dcols = plan.spaced(dcols_buf, m * plan.taps, plan.pixels)
                np.matmul(w2t, dgrid, out=_view(dcols, (m, plan.taps, plan.pixels)))
                plan.add_taps(dcols, dxbuf)
            else:
                plan.col2im(np.matmul(w2t, dgrid, out=plan.matrix(dcols_buf, m, plan.taps)),
                            dxbuf)
            dx[a:a + m] = plan.crop(dxbuf)
        return dw_t

    dw_t = sum(_share(work, plan))
    db = dw_t[plan.taps].copy() if cache["has_bias"] else None
    return dx, dw_t[:plan.taps].T.reshape(cache["w_shape"]), db


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """Fast convolution (cross-correlation): x (N, C, H, W), w (F, C, KH, KW), b (F,) or None
    -> (N, F, OH, OW). Same arguments and result as ``conv2d_naive``; dilation=1 is an
    ordinary kernel (PyTorch convention)."""
    return conv2d_forward(x, w, b, stride, padding, dilation)[0]

# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------

def _pool_params(hw, kernel_size, stride, padding, labels=("H", "W")):
    """Validate pooling arguments for an (H, W) input: (kernel, stride, pads, (OH, OW))."""
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None else pair(stride, "stride")
    k, s, pads, _, out_hw = _geometry(hw, k, s, padding, 1, labels=labels)
    for (lo, hi), kk, axis in zip(pads, k, labels):
        if max(lo, hi) * 2 > kk:
            raise ValueError(
                f"padding {max(lo, hi)} is more than half of kernel_size {kk} (along {axis}); a "
                f"pooling window could then lie entirely in the padding (PyTorch's rule: padding "
                f"<= kernel_size // 2); use padding <= {kk // 2}")
    return k, s, pads, out_hw


def _pool_geometry(x, kernel_size, stride, padding):
    """Validate a pooling call: (x, kernel, stride, pads, (OH, OW)); stride None = kernel_size."""
    x = _check_x(x)
    return (x,) + _pool_params(x.shape[2:], kernel_size, stride, padding)


def pool_output_size(n, kernel_size, stride=None, padding=0):
    """Output size of max or average pooling; like ``output_size`` but stride None means
    stride = kernel_size, and padding may be at most kernel_size // 2 (PyTorch's rule).
    n: int or (H, W) -> int or (OH, OW)."""
    if isinstance(n, (tuple, list, np.ndarray)) and np.ndim(n) == 1:
        return _pool_params(pair(n, "n (input size)"), kernel_size, stride, padding)[-1]
    size = _as_int(n, "n (input size)")
    if size < 1:
        raise ValueError(f"n (input size) must be a positive integer, got {n!r}")
    return _pool_params((size, size), kernel_size, stride, padding, ("n", "n"))[-1][0]


def max_pool2d_naive(x, kernel_size, stride=None, padding=0):
    """Max pooling with loops: x (N, C, H, W) -> (N, C, OH, OW). stride None = kernel_size;
    the padding is -inf, so it never wins."""
    x, (kh, kw), (sh, sw), pads, (oh, ow) = _pool_geometry(x, kernel_size, stride, padding)
    xp = pad(x.astype(_float_dtype(x), copy=False), pads, value=-np.inf)
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
    x, (kh, kw), (sh, sw), pads, (oh, ow) = _pool_geometry(x, kernel_size, stride, padding)
    xp = pad(x.astype(_float_dtype(x), copy=False), pads, value=-np.inf)
    dout = _check_dout(dout, x.shape[:2] + (oh, ow))
    dxp = np.zeros_like(xp)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    window = xp[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    a, bb = np.unravel_index(np.argmax(window), window.shape)
                    dxp[n, c, i * sh + a, j * sw + bb] += dout[n, c, i, j]
    return np.ascontiguousarray(_unpad(dxp, pads, x.shape[2:]))


def avg_pool2d_naive(x, kernel_size, stride=None, padding=0):
    """Average pooling with loops: x (N, C, H, W) -> (N, C, OH, OW). stride None = kernel_size;
    zero padding counts in the average (divide by KH*KW always), as PyTorch's default."""
    x, (kh, kw), (sh, sw), pads, (oh, ow) = _pool_geometry(x, kernel_size, stride, padding)
    xp = pad(x.astype(_float_dtype(x), copy=False), pads)
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
    x, (kh, kw), (sh, sw), pads, (oh, ow) = _pool_geometry(x, kernel_size, stride, padding)
    dtype = _float_dtype(x)
    dout = _check_dout(dout, x.shape[:2] + (oh, ow))
    (top, bottom), (left, right) = pads
    dxp = np.zeros(x.shape[:2] + (x.shape[2] + top + bottom, x.shape[3] + left + right), dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    share = dout[n, c, i, j] / (kh * kw)
                    dxp[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw] += share
    return np.ascontiguousarray(_unpad(dxp, pads, x.shape[2:]))


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Fast max pooling: x (N, C, H, W) -> (out (N, C, OH, OW), cache).

    stride None means stride = kernel_size; padding is -inf. Loops over the KH*KW kernel taps
    (not over pixels): each tap is one strided slice of all windows at once; we keep the
    running max and which tap gave it (the first one, on ties), for the backward pass.
    """
    x, k, s, pads, (oh, ow) = _pool_geometry(x, kernel_size, stride, padding)
    xp = pad(x.astype(_float_dtype(x), copy=False), pads, value=-np.inf)
    win = _windows(xp, k, s, (1, 1), (oh, ow))            # (N, C, KH, KW, OH, OW) view
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
    dout = _check_dout(dout, arg.shape).astype(cache["dtype"], copy=False)
    (kh, kw), (sh, sw) = cache["kernel"], cache["stride"]
    oh, ow = arg.shape[2:]
    dxp = np.zeros(cache["xp_shape"], dtype=cache["dtype"])
    for t in range(kh * kw):                                 # one strided slice per tap
        i, j = divmod(t, kw)
        dxp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += np.where(
            arg == t, dout, 0)
    return np.ascontiguousarray(_unpad(dxp, cache["pads"], cache["x_shape"][2:]))


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Fast max pooling: x (N, C, H, W) -> (N, C, OH, OW); stride None = kernel_size."""
    return max_pool2d_forward(x, kernel_size, stride, padding)[0]


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Fast average pooling: x (N, C, H, W) -> (out (N, C, OH, OW), cache).

    stride None means stride = kernel_size; zero padding counts in the average (divide by
    KH*KW), as PyTorch's default count_include_pad=True.
    """
    x, k, s, pads, (oh, ow) = _pool_geometry(x, kernel_size, stride, padding)
    xp = pad(x.astype(_float_dtype(x), copy=False), pads)
    win = _windows(xp, k, s, (1, 1), (oh, ow))
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
    dout = _check_dout(dout, cache["out_shape"]).astype(cache["dtype"], copy=False)
    (kh, kw), (sh, sw) = cache["kernel"], cache["stride"]
    oh, ow = dout.shape[2:]
    share = dout / (kh * kw)
    dxp = np.zeros(cache["xp_shape"], dtype=cache["dtype"])
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += share
    return np.ascontiguousarray(_unpad(dxp, cache["pads"], cache["x_shape"][2:]))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Fast average pooling: x (N, C, H, W) -> (N, C, OH, OW); stride None = kernel_size."""
    return avg_pool2d_forward(x, kernel_size, stride, padding)[0]
