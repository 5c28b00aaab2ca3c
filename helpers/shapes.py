"""Argument checks and output sizes: every rule of convolution and pooling, in one place.

Every entry point (``helpers.conv``, the engine in ``helpers.fast``, the layers) validates its
arguments here, so each gives the same clear ``ValueError``: it names the parameter, the rule,
and what was probably meant. ``helpers.conv`` re-exports ``pair``, ``resolve_padding``,
``output_size`` and ``pool_output_size``, the names the lessons use.

Conventions (the same as PyTorch):

* arrays are ``(N, C, H, W)``; weights are ``(F, C, KH, KW)``; biases ``(F,)``;
* ``kernel_size``, ``stride``, ``padding`` and ``dilation`` take an int or an ``(h, w)`` pair;
  ``padding`` also takes ``"valid"`` (no padding) and ``"same"`` (output as large as the input,
  stride 1 only; an even kernel puts the extra row/column at the bottom/right);
* ``dilation=1`` is an ordinary kernel; ``dilation=2`` leaves one pixel out between kernel taps
  (some course notes call the ordinary kernel "dilation 0"; here, as in PyTorch and Keras, it is
  dilation 1);
* the output size along one axis is ``floor((n + pad_total - dilation*(k-1) - 1) / stride) + 1``.

Arrays must hold real numbers (``check_array``): bool, complex, object (None inside), text and
date arrays raise a TypeError instead of being cast silently. NaN and inf are allowed inside
data arrays (they propagate, and the loss reports them), not in settings (``check_number``).

Memory: ``check_memory`` refuses, before allocating, an array larger than ``memory_limit()``
(half of the machine's memory unless ``set_memory_limit`` or HELPERS_MEMORY_LIMIT says
otherwise), with a ValueError that says how much it would need and how to make it smaller.
"""

from __future__ import annotations

import functools
import math
import numbers
import os

import numpy as np

__all__ = [
    "pair", "resolve_padding", "output_size", "pool_output_size", "conv_geometry",
    "pool_geometry", "check_array", "check_shape", "check_images", "check_conv", "check_dout",
    "result_dtype", "check_number", "memory_limit", "set_memory_limit", "check_memory",
]

# ---------------------------------------------------------------------------------------------
# Arrays: numbers only
# ---------------------------------------------------------------------------------------------
_KINDS = {"b": "bool (True/False)", "c": "complex", "O": "object (Python objects such as None)",
          "U": "string", "S": "bytes", "M": "datetime", "m": "timedelta", "V": "structured"}


def check_array(x, name="x", ndim=None, axes=None):
    """x as a NumPy array of real numbers (integers or floats), or an error that names ``name``:
    TypeError for bool, complex, object (None inside), string and date arrays, which would
    otherwise be cast silently (complex to its real part, None to NaN); ValueError for ragged
    nested lists. With ``ndim``: x must have that many axes, none of them empty; ``axes``
    names them in the message, e.g. "(C, H, W)"."""
    a = _numbers(x, name)
    if ndim is not None:
        axes = axes or f"{ndim}-D"
        if a.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D {axes}, got a {a.ndim}-D array of shape "
                             f"{a.shape}")
        if 0 in a.shape:
            raise ValueError(f"{name} of shape {axes} = {a.shape} has an empty axis; each axis "
                             f"must be at least 1")
    return a


def _numbers(x, name):
    if isinstance(x, (str, bytes)) or x is None or callable(x):
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__} "
                        f"{_short(x)}")
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a rectangular array of numbers; the nested lists "
                         f"have different lengths ({exc})") from None
    if a.dtype.kind not in "iuf":
        hint = {"b": f"; use {name}.astype(np.float32)",
                "c": f"; keep the real part ({name}.real) or the magnitude (np.abs({name})) "
                     f"yourself",
                "O": "; every entry must be a number: look for None or a list inside",
                "U": "; convert the text to numbers first (np.asarray(..., dtype=float))"}
        raise TypeError(f"{name} must hold real numbers (integers or floats), got an array of "
                        f"dtype {a.dtype} ({_KINDS.get(a.dtype.kind, a.dtype.kind)})"
                        f"{hint.get(a.dtype.kind, '')}")
    return a


def check_number(v, name, low=None, high=None, low_open=False, high_open=False, integer=False):
    """A finite real number (an int with integer=True) within [low, high] (an open end with
    low_open / high_open), else a ValueError naming ``name`` and the rule; returns it."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v.item()
    kind = "an integer" if integer else "a number"
    if low is not None and high is not None:
        bounds = (" in " + ("(" if low_open else "[") + f"{low}, {high}"
                  + (")" if high_open else "]"))
    elif low == 0 and low_open:
        kind, bounds = f"a positive {kind[kind.index(' ') + 1:]}", ""
    elif low is not None:
        bounds = f" > {low}" if low_open else f" >= {low}"
    elif high is not None:
        bounds = f" < {high}" if high_open else f" <= {high}"
    else:
        bounds = ""
    is_number = (isinstance(v, numbers.Integral if integer else numbers.Real)
                 and not isinstance(v, (bool, np.bool_)))
    ok = is_number and math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        hint = ""
        if is_number and not math.isfinite(v):
            hint = " (NaN and inf are not allowed)"
        elif (integer and isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral)
              and not isinstance(v, (bool, np.bool_))):
            hint = " (a whole number such as 3, not 3.0)" if float(v).is_integer() else ""
        raise ValueError(f"{name} must be {kind}{bounds}, got {_short(v)}{hint}")
    return v


def _short(v, limit=60):
    try:
        text = repr(v)
    except Exception:
        text = f"<{type(v).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Memory: refuse an array that would not fit, before allocating it
# ---------------------------------------------------------------------------------------------
#: The fraction of the machine's memory one array may take (HELPERS_MEMORY_LIMIT or
#: ``set_memory_limit`` override it).
MEMORY_FRACTION = 0.5
_limit = [None]


@functools.lru_cache(maxsize=None)
def _machine_memory():
    """Bytes of memory this process may use: the machine's, or its container's (cgroup) limit.
    Read once: check_memory runs before every large array, and reading the files each time
    cost 3 % of a training step."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
            if text.isdigit() and 0 < int(text) < total:
                total = int(text)
        except OSError:
            pass
    return total


def _parse_bytes(text):
    text = str(text).strip().upper().replace("IB", "B")
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "B": 1}
    for unit, factor in units.items():
        if text.endswith(unit):
            text, scale = text[:-len(unit)], factor
            break
    else:
        scale = 1
    try:
        n = int(float(text) * scale)
    except OverflowError:                     # inf
        raise ValueError(text) from None
    if n < 1:
        raise ValueError(text)
    return n


def memory_limit():
    """The largest array, in bytes, that helpers.conv, the engine and the layers allocate:
    ``set_memory_limit``'s, else the environment variable HELPERS_MEMORY_LIMIT (bytes, or
    e.g. "2GB"), else MEMORY_FRACTION (half) of the machine's memory."""
    if _limit[0] is not None:
        return _limit[0]
    env = os.environ.get("HELPERS_MEMORY_LIMIT", "").strip()
    if env:
        try:
            return _parse_bytes(env)
        except ValueError:
            raise ValueError(f"HELPERS_MEMORY_LIMIT must be a number of bytes such as 2000000000 "
                             f"or 2GB, got {env!r}") from None
    return int(_machine_memory() * MEMORY_FRACTION)


class set_memory_limit:
    """Set the largest array (bytes, or a text such as "2GB"; None: the default) that an
    operation may allocate; as a ``with`` block it lasts for the block. Returns the object
    whose ``previous`` is the limit before."""

    def __init__(self, nbytes):
        if nbytes is not None:
            if isinstance(nbytes, str):
                try:
                    nbytes = _parse_bytes(nbytes)
                except ValueError:
                    raise ValueError(f"nbytes (the memory limit) must be a number of bytes or "
                                     f"a text such as '2GB', got {nbytes!r}") from None
            nbytes = check_number(nbytes, "nbytes (the memory limit)", low=1, integer=True)
        self.previous = _limit[0]
        _limit[0] = nbytes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _limit[0] = self.previous


def _fmt_bytes(n):
    for unit, factor in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} bytes"


def check_memory(shape, dtype, what, hint=""):
    """Raise a ValueError, before anything is allocated, when an array of ``shape`` and
    ``dtype`` would be larger than ``memory_limit()``: it says how much it would need and how
    to make it smaller (``hint``)."""
    need = math.prod(int(v) for v in shape) * np.dtype(dtype).itemsize
    limit = memory_limit()
    if need > limit:
        if _limit[0] is not None:
            source = "set by helpers.shapes.set_memory_limit"
        elif os.environ.get("HELPERS_MEMORY_LIMIT", "").strip():
            source = "set by the environment variable HELPERS_MEMORY_LIMIT"
        else:
            source = ("half of this machine's memory; helpers.shapes.set_memory_limit or the "
                      "environment variable HELPERS_MEMORY_LIMIT change it")
        raise ValueError(
            f"{what} {tuple(int(v) for v in shape)} ({np.dtype(dtype)}) would need "
            f"{_fmt_bytes(need)}, more than the memory limit of {_fmt_bytes(limit)} "
            f"({source})" + (f"; {hint}" if hint else ""))


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
    if type(v) is int and v >= minimum:      # the usual case, quickly (type: a bool is no int here)
        return (v, v)
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


def conv_geometry(hw, kernel_size, stride, padding, dilation, exact=False, labels=("H", "W")):
    """Validate a convolution's arguments for an (H, W) input.

    Returns (kernel, stride, pads, dilation, (OH, OW)): pairs, and pads as
    ((top, bottom), (left, right)). labels name the axes in error messages."""
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
        return conv_geometry(hw, kernel_size, stride, padding, dilation, exact, labels)[-1]
    size = _as_int(n, "n (input size)")
    if size < 1:
        raise ValueError(f"n (input size) must be a positive integer, got {n!r}")
    return conv_geometry((size, size), kernel_size, stride, padding, dilation, exact,
                         ("n", "n"))[-1][0]


def result_dtype(*arrays):
    """The dtype results are computed in: the inputs' float type, float32 for integers."""
    floats = [a.dtype for a in arrays if np.issubdtype(a.dtype, np.floating)]
    return np.result_type(*floats) if floats else np.dtype(np.float32)


def check_images(x, name="x"):
    """x must be a 4-D (N, C, H, W) array of real numbers with C, H, W > 0 (N = 0, an empty
    batch, is fine); suggest the fix for the usual 2-D and 3-D cases."""
    x = check_array(x, name)
    if x.ndim == 4:
        empty = [f"{a}={v}" for a, v in zip("CHW", x.shape[1:]) if v == 0]
        if empty:
            raise ValueError(f"{name} of shape (N, C, H, W) = {x.shape} has an empty axis "
                             f"({', '.join(empty)}); channels, height and width must be at least 1")
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


def check_shape(shape, name="x_shape"):
    """An (N, C, H, W) shape as a tuple of ints (N >= 0; C, H, W >= 1), else a ValueError."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W), got {_short(shape)}")
    n, c, h, w = (_as_int(v, name) for v in shape)
    if n < 0 or min(c, h, w) < 1:
        raise ValueError(f"{name} (N, C, H, W) must have N >= 0 and C, H, W >= 1, got "
                         f"{(n, c, h, w)}")
    return (n, c, h, w)


def check_conv(x, w, b):
    """Check x (N, C, H, W), w (F, C, KH, KW), b (F,) or None against each other."""
    x = check_images(x)
    w = check_array(w, "w")
    if w.ndim != 4:
        raise ValueError(f"w must be 4-D (F, C, KH, KW) (filters, input channels, kernel height, "
                         f"kernel width), got shape {w.shape}"
                         + ("; for one single-channel kernel use w[None, None]"
                            if w.ndim == 2 else ""))
    if 0 in w.shape:
        raise ValueError(f"w of shape (F, C, KH, KW) = {w.shape} has an empty axis; every "
                         f"axis of the weights must be at least 1")
    if w.shape[1] != x.shape[1]:
        msg = (f"w has {w.shape[1]} input channels (w.shape[1]) but x has {x.shape[1]} "
               f"(x.shape[1]); the weight channels must match the input channels")
        if x.shape[3] == w.shape[1]:
            msg += "; x looks channels-last (N, H, W, C): use x.transpose(0, 3, 1, 2)"
        raise ValueError(msg)
    if b is not None:
        b = check_array(b, "b")
        if b.shape != (w.shape[0],):
            msg = (f"b must have shape (F,) = ({w.shape[0]},), one bias per filter "
                   f"(F = w.shape[0]), got shape {b.shape}")
            if b.size == w.shape[0]:
                msg += "; use b.reshape(-1)"
            raise ValueError(msg)
    return x, w, b


def check_dout(dout, shape):
    """dout must have the forward output's shape, e.g. (N, F, OH, OW); returns it as an array."""
    dout = check_array(dout, "dout")
    if dout.shape != tuple(shape):
        raise ValueError(f"dout must have the shape of the forward output (N, F, OH, OW) = "
                         f"{tuple(shape)}, got {dout.shape}")
    return dout


def _pool_params(hw, kernel_size, stride, padding, labels=("H", "W")):
    """Validate pooling arguments for an (H, W) input: (kernel, stride, pads, (OH, OW))."""
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None else pair(stride, "stride")
    k, s, pads, _, out_hw = conv_geometry(hw, k, s, padding, 1, labels=labels)
    for (lo, hi), kk, axis in zip(pads, k, labels):
        if max(lo, hi) * 2 > kk:
            raise ValueError(
                f"padding {max(lo, hi)} is more than half of kernel_size {kk} (along {axis}); a "
                f"pooling window could then lie entirely in the padding (PyTorch's rule: padding "
                f"<= kernel_size // 2); use padding <= {kk // 2}")
    return k, s, pads, out_hw


def pool_geometry(x, kernel_size, stride, padding):
    """Validate a pooling call on x (N, C, H, W): returns (x, kernel, stride, pads, (OH, OW)).
    stride None means stride = kernel_size; padding at most kernel_size // 2."""
    x = check_images(x)
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

