"""Lessons 08 and 09 (pooling): pool by hand, the pooled output size, and the backward of max pooling.

Each checker recognises the usual slips (average instead of max, stride 1 instead of 2, the
floor or the +1 forgotten, ``=`` where overlapping windows need ``+=``) and names them.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import Feedback, call_learner, correct, is_unfinished, not_done, register_solution, wrong

# ---------------------------------------------------------------------------------------------
# Exercise "max_pool_by_hand": 2x2 max pooling with stride 2 of a 4x4 array, by hand
# ---------------------------------------------------------------------------------------------

#: The array the learner pools by hand (distinct maxima, so every slip shows).
POOL_X = np.array([[1, 3, 2, 9],
                   [7, 4, 1, 5],
                   [8, 2, 6, 0],
                   [3, 5, 4, 5]])


def _windows_2d(x, k, s):
    """All k x k windows of a 2-D array with stride s: array (OH, OW, k, k)."""
    x = np.asarray(x)
    oh, ow = (x.shape[0] - k) // s + 1, (x.shape[1] - k) // s + 1
    return np.array([[x[i * s:i * s + k, j * s:j * s + k] for j in range(ow)] for i in range(oh)])


@register_solution("max_pool_by_hand")
def max_pool_by_hand_solution():
    # the four 2x2 windows (stride 2: they do not overlap) and the largest value of each
    #   [[1, 3],   [[2, 9],      [[8, 2],   [[6, 0],
    #    [7, 4]]    [1, 5]]       [3, 5]]    [4, 5]]
    #   max 7      max 9         max 8      max 6
    return [[7, 9],
            [8, 6]]


def _as_array(answer):
    try:
        a = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return None
    return a


def check_max_pool_by_hand(answer) -> Feedback:
    """Check the learner's 2x2 result of max pooling ``POOL_X`` (2x2 windows, stride 2)."""
    if is_unfinished(answer):
        return not_done("Hint: the first window is the top-left 2x2 block, [[1, 3], [7, 4]].")
    a = _as_array(answer)
    if a is None or a.dtype == object:
        return wrong("give the result as a nested list of numbers, like [[a, b], [c, d]].")
    if np.isnan(a).any():
        return not_done("Some entries are still missing.")
    expected = _windows_2d(POOL_X, 2, 2).max(axis=(2, 3))
    if a.shape == (3, 3) and np.array_equal(a, _windows_2d(POOL_X, 2, 1).max(axis=(2, 3))):
        return wrong("that is max pooling with stride 1 (the window moved one pixel at a time, "
                     "so windows overlap and the result is 3x3). With stride 2 the window jumps "
                     "two pixels: four windows that do not overlap, a 2x2 result.")
    if a.shape != expected.shape:
        return wrong(f"the result should be 2x2 (a 4x4 input, 2x2 windows, stride 2: "
                     f"(4 - 2)//2 + 1 = 2 along each side); yours has shape {a.shape}.")
    if np.array_equal(a, expected):
        return correct("each output is the largest value of its 2x2 window: [[7, 9], [8, 6]]. "
                       "Three of every four values are dropped.")
    win = _windows_2d(POOL_X, 2, 2)
    for name, value in (("the average of each window: that is average pooling", win.mean(axis=(2, 3))),
                        ("the smallest value of each window; max pooling keeps the largest", win.min(axis=(2, 3))),
                        ("the sum of each window; max pooling keeps the largest value", win.sum(axis=(2, 3))),
                        ("the right maxima but transposed: output row i comes from input rows "
                         "2i and 2i+1", expected.T)):
        if np.allclose(a, value):
            return wrong(f"you took {name}.")
    bad = [(i, j) for i in range(2) for j in range(2) if not np.isclose(a[i, j], expected[i, j])]
    lines = []
    for i, j in bad:
        w = win[i, j]
        lines.append(f"output [{i}, {j}] is {a[i, j]:g}: its window x[{2 * i}:{2 * i + 2}, "
                     f"{2 * j}:{2 * j + 2}] = {w.tolist()} has maximum {w.max()}")
    return wrong("; ".join(lines) + ".")


# ---------------------------------------------------------------------------------------------
# Exercise "pool_output_size": the output size of pooling along one axis
# ---------------------------------------------------------------------------------------------

#: (n, kernel_size, stride): non-overlapping, a size that does not tile (29 -> 14, the source's
#: model), AlexNet's overlapping 3x3/2 (55 -> 27), and cases that catch n // stride
SIZE_CASES = [(4, 2, 2), (29, 2, 2), (55, 3, 2), (8, 3, 2), (10, 4, 2), (6, 2, 1)]


@register_solution("pool_output_size")
def pool_output_size_solution(n, kernel_size, stride):
    # windows start at 0, stride, 2*stride, ... as long as the whole window fits: the last
    # start is at most n - kernel_size; the floor drops a leftover strip that fits no window
    return (n - kernel_size) // stride + 1


_SIZE_SLIPS = [
    (lambda n, k, s: n // s,
     "n // stride is right only when the windows tile the input (kernel = stride); with "
     "overlapping windows count the window starts: (n - kernel_size) // stride + 1."),
    (lambda n, k, s: n // k,
     "n // kernel_size ignores the stride; count the window starts: "
     "(n - kernel_size) // stride + 1."),
    (lambda n, k, s: (n - k) // s,
     "you forgot the + 1: the first window at position 0 counts too."),
    (lambda n, k, s: -(-(n - k) // s) + 1,
     "you rounded up (ceil); PyTorch and Keras round down by default: a last window that "
     "would stick out of the input is dropped."),
    (lambda n, k, s: (n - k + 1) // s,
     "count the window starts 0, s, 2s, ... up to n - kernel_size: (n - kernel_size) // stride + 1."),
]


def check_pool_output_size(fn) -> Feedback:
    """Check ``pool_output_size(n, kernel_size, stride)`` (no padding) on several cases."""
    if is_unfinished(fn):
        return not_done("Hint: it is the convolution's formula without padding.")
    results = {}
    for case in SIZE_CASES:
        got, problem = call_learner(fn, *case)
        if problem is not None:
            if not problem.done:
                return problem
            return wrong(f"pool_output_size{case}: {problem.message}")
        if got is None:
            return wrong(f"pool_output_size{case} returned None: did you forget the `return`?")
        if isinstance(got, np.ndarray) and got.ndim == 0 or isinstance(got, np.generic):
            got = got.item()                          # a NumPy number: its Python value
        if isinstance(got, bool) or not isinstance(got, numbers.Real):
            shown = repr(got) if len(repr(got)) <= 40 else repr(got)[:37] + "..."
            return wrong(f"pool_output_size{case} returned {type(got).__name__} {shown}; return "
                         f"one whole number, the output size along one axis.")
        if not math.isfinite(got) or not float(got).is_integer():
            return wrong(f"pool_output_size{case} returned {got!r}, not a whole number: use the "
                         f"floor division // (a window that does not fit is dropped).")
        results[case] = int(got)
    expected = {case: pool_output_size_solution(*case) for case in SIZE_CASES}
    if all(results[c] == expected[c] for c in SIZE_CASES):
        return correct("(n - kernel_size) // stride + 1, e.g. AlexNet's overlapping 3x3 windows "
                       "with stride 2 take 55 to 27, and 2x2 pooling takes 29 to 14.")
    for formula, message in _SIZE_SLIPS:
        if all(results[c] == formula(*c) for c in SIZE_CASES):
            case = next(c for c in SIZE_CASES if results[c] != expected[c])
            return wrong(f"pool_output_size{case} gave {results[case]}, expected "
                         f"{expected[case]}: {message}")
    case = next(c for c in SIZE_CASES if results[c] != expected[c])
    n, k, s = case
    return wrong(f"pool_output_size{case} gave {results[case]}, expected {expected[case]} = "
                 f"({n} - {k}) // {s} + 1.")


# ---------------------------------------------------------------------------------------------
# Exercise "max_pool_backward": route the gradient to each window's maximum
# ---------------------------------------------------------------------------------------------

@register_solution("max_pool_backward")
def max_pool_backward_solution(x, dout, kernel_size, stride):
    # x: (H, W), dout: (OH, OW) -> dx: (H, W)
    k, s = kernel_size, stride
    dx = np.zeros(x.shape)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            window = x[i * s:i * s + k, j * s:j * s + k]
            a, b = np.unravel_index(np.argmax(window), window.shape)   # where the max sits
            dx[i * s + a, j * s + b] += dout[i, j]    # += : overlapping windows can share it
    return dx


def _backward_cases():
    """(description, x, dout, kernel_size, stride), with distinct values (no ties)."""
    rng = np.random.default_rng(5)
    x1 = rng.permutation(16).reshape(4, 4).astype(float)
    x2 = rng.permutation(25).reshape(5, 5).astype(float)
    x2[2, 2] = 30.0                               # the centre is the max of all four windows
    x3 = rng.permutation(16).reshape(4, 4).astype(float)
    x4 = rng.permutation(25).reshape(5, 5).astype(float)
    return [("2x2 windows, stride 2 (no overlap)", x1, np.array([[1., 2], [3, 4]]), 2, 2),
            ("3x3 windows, stride 2 (overlapping)", x2, np.array([[1., 2], [3, 4]]), 3, 2),
            ("2x2 windows, stride 1 (overlapping)", x3, np.arange(1., 10).reshape(3, 3), 2, 1),
            ("2x2 windows, stride 2 on a 5x5 input (the last row and column are in no window)",
             x4, np.array([[1., 2], [3, 4]]), 2, 2)]


def _overwrite(x, dout, k, s):
    dx = np.zeros(x.shape)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            w = x[i * s:i * s + k, j * s:j * s + k]
            a, b = np.unravel_index(np.argmax(w), w.shape)
            dx[i * s + a, j * s + b] = dout[i, j]
    return dx


def _spread(x, dout, k, s):
    dx = np.zeros(x.shape)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            dx[i * s:i * s + k, j * s:j * s + k] += dout[i, j] / (k * k)
    return dx


def _ones(x, dout, k, s):
    return max_pool_backward_solution(x, np.ones_like(dout), k, s)


def _corner(x, dout, k, s):
    dx = np.zeros(x.shape)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            dx[i * s, j * s] += dout[i, j]
    return dx


_BACKWARD_SLIPS = [
    (_overwrite, "where windows overlap, one pixel can be the maximum of several windows, and "
                 "it then receives the gradient of each: add with +=, do not overwrite with =."),
    (_spread, "you spread each gradient evenly over its window: that is the backward of "
              "*average* pooling. Max pooling's output depends only on the maximum, so the "
              "whole gradient goes there and the other pixels get 0."),
    (_ones, "you put 1 at each maximum; put the gradient that arrives, dout[i, j]."),
    (_corner, "you sent the gradient to the top-left corner of each window; it goes to the "
              "position of the window's maximum (np.argmax, then np.unravel_index)."),
]


def check_max_pool_backward(fn) -> Feedback:
    """Check ``max_pool_backward(x, dout, kernel_size, stride)`` on 2-D arrays, with and
    without overlapping windows."""
    if is_unfinished(fn):
        return not_done("Hint: loop over the output positions; find where each window's max is.")
    for desc, x, dout, k, s in _backward_cases():
        got, problem = call_learner(fn, x.copy(), dout.copy(), k, s)
        if problem is not None:
            if not problem.done:
                return problem
            return wrong(f"with {desc}: {problem.message}")
        if got is None:
            return wrong(f"with {desc} your function returned None: did you forget the `return`?")
        expected = max_pool_backward_solution(x, dout, k, s)
        try:
            got = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return wrong(f"with {desc}: return a NumPy array of numbers shaped like x.")
        if got.shape != x.shape:
            hint = " (that is dout's shape)" if got.shape == dout.shape else ""
            return wrong(f"with {desc}: dx must have the shape of x, {x.shape}; yours is "
                         f"{got.shape}{hint}. Every input pixel gets a gradient (most of them 0).")
        if np.allclose(got, expected):
            continue
        for slip, message in _BACKWARD_SLIPS:
            if np.allclose(got, slip(x, dout, k, s)):
                return wrong(f"with {desc}: {message}")
        r, c = np.argwhere(~np.isclose(got, expected))[0]
        return wrong(f"with {desc}: dx[{r}, {c}] is {got[r, c]:g}, expected {expected[r, c]:g}. "
                     f"Each dout[i, j] goes to the maximum of window (i, j) of x, which starts at "
                     f"row i*stride, column j*stride; all other pixels get 0.")
    return correct("the gradient goes to each window's maximum and adds up where windows "
                   "overlap, exactly what helpers.conv.max_pool2d_backward does.")
