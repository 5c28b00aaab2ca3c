"""Lesson 07 (im2col): implement im2col; the checker names the mistake, not just the failure.

The test inputs hold distinct positive numbers (1, 2, 3, ...), so every entry of the learner's
matrix tells which pixel it copied (0 means padding). That is how the checker can say "your
row 1 holds the window of output position (0, 1, 0); it belongs in row 2".
"""
from __future__ import annotations

import numpy as np

from helpers import conv

from . import Feedback, call_learner, correct, is_unfinished, not_done, register_solution, wrong

# (x shape, kernel_size, stride, padding): from the lesson's tiny example to stride and padding
IM2COL_CASES = [
    ((1, 2, 4, 4), 3, 1, 0),
    ((2, 2, 4, 5), 3, 1, 0),
    ((1, 2, 5, 5), 3, 2, 0),
    ((2, 3, 4, 4), 3, 1, 1),
    ((2, 2, 5, 6), 3, 2, 1),
]


@register_solution("im2col")
def im2col_solution(x, kernel_size, stride=1, padding=0):
    n, c, h, w = x.shape
    k, s, p = kernel_size, stride, padding
    oh = (h + 2 * p - k) // s + 1
    ow = (w + 2 * p - k) // s + 1
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])     # zeros around H and W only
    cols = np.empty((n * oh * ow, c * k * k), dtype=x.dtype)
    row = 0
    for i in range(n):                  # rows go (n, oh, ow): image, output row, output column
        for a in range(oh):
            for b in range(ow):
                window = xp[i, :, a * s:a * s + k, b * s:b * s + k]    # (C, K, K)
                cols[row] = window.reshape(-1)                       # columns go (c, kh, kw)
                row += 1
    return cols


def _case_text(shape, k, s, p):
    return f"x of shape {shape}, kernel_size={k}, stride={s}, padding={p}"


def _labels(shape, k, s, p):
    """Names of the expected rows (n, oh, ow) and columns (c, kh, kw), and (OH, OW)."""
    n, c, h, w = shape
    oh, ow = conv.output_size((h, w), k, s, p)
    rows = [(i, a, b) for i in range(n) for a in range(oh) for b in range(ow)]
    cols = [(ch, a, b) for ch in range(c) for a in range(k) for b in range(k)]
    return rows, cols, (oh, ow)


def _pixel(x, value):
    """Which pixel of x holds ``value`` (x holds 1, 2, 3, ...); 0 is padding."""
    if value == 0:
        return "0 (padding)"
    idx = np.argwhere(x == value)
    if len(idx) == 0:
        return f"{value:g}, which is no pixel of x"
    n, c, h, w = idx[0]
    return f"{value:g} = x[{n}, {c}, {h}, {w}]"


def _match(got_lines, exp_lines):
    """For each line of got (rows of a 2-D array as tuples), the index of the equal expected
    line, or None when some line is not found."""
    where = {tuple(v): i for i, v in enumerate(exp_lines)}
    perm = [where.get(tuple(v)) for v in got_lines]
    return None if any(p is None for p in perm) or len(set(perm)) != len(perm) else perm


def _padded_but_unpadded_size(x, k, s, p):
    """What a learner gets who pads x but takes OH, OW from the unpadded H, W: the top-left
    (H - K)//S + 1 by (W - K)//S + 1 windows of the padded input (None if there are none)."""
    n, c, h, w = x.shape
    oh0, ow0 = (h - k) // s + 1, (w - k) // s + 1
    if p == 0 or oh0 < 1 or ow0 < 1:
        return None
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    return conv.im2col(xp[:, :, :(oh0 - 1) * s + k, :(ow0 - 1) * s + k], k, s, 0)


def _shape_feedback(got, expected, shape, k, s, p, x=None):
    """Feedback on a result of the wrong shape. With the input ``x`` the values are compared too,
    to tell "padding missing" from "padded, but OH, OW taken from the unpadded image"."""
    n, c, h, w = shape
    oh, ow = conv.output_size((h, w), k, s, p)
    case = _case_text(shape, k, s, p)
    base = (f"For {case} the result must have shape (N*OH*OW, C*KH*KW) = "
            f"({n}*{oh}*{ow}, {c}*{k}*{k}) = {expected.shape}; yours has shape {got.shape}.")
    if got.shape == expected.shape[::-1]:
        return wrong(base + " That is the transpose: one row per window (output position), "
                     "one column per (channel, kernel offset). Return cols.T, or fill rows "
                     "instead of columns.")
    if got.ndim != 2:
        return wrong(base + " im2col returns a 2-D matrix: reshape each window to one row "
                     "(window.reshape(-1)) and stack the rows.")
    formula = (f"OH = (H + 2P - KH)//S + 1 = ({h} + 2*{p} - {k})//{s} + 1 = {oh}, and OW likewise "
               f"= ({w} + 2*{p} - {k})//{s} + 1 = {ow}")
    if x is not None and p > 0:
        padded = _padded_but_unpadded_size(x, k, s, p)
        if padded is not None and padded.shape == got.shape and np.allclose(got, padded):
            oh0, ow0 = (h - k) // s + 1, (w - k) // s + 1
            return wrong(base + f" You padded x, but took the number of windows from the unpadded "
                         f"image: (H - KH)//S + 1 = ({h} - {k})//{s} + 1 = {oh0}, so you have "
                         f"{oh0}x{ow0} windows per image instead of {oh}x{ow}, the top-left ones of the "
                         f"padded input. With padding, {formula}: compute OH and OW with the padding "
                         f"(or from the padded array's shape, xp.shape).")
    shapes = {}
    for s2, p2 in ((s, 0), (1, p), (1, 0)):
        if (s2, p2) != (s, p):
            try:
                o = conv.output_size((h, w), k, s2, p2)
                shapes.setdefault((n * o[0] * o[1], c * k * k), (s2, p2))
            except ValueError:
                pass
    if got.shape in shapes:
        s2, p2 = shapes[got.shape]
        o = conv.output_size((h, w), k, s2, p2)
        # the values tell whether the windows are those of the unpadded x (padding missing)
        same_values = x is not None and np.allclose(got, conv.im2col(x, k, s2, p2))
        missing = []
        if p2 != p and (same_values or x is None):
            missing.append(f"padding missing: pad x with {p} zero{'s' if p > 1 else ''} on every side of H and W "
                           f"first, np.pad(x, [(0, 0), (0, 0), ({p}, {p}), ({p}, {p})])")
        elif p2 != p:
            missing.append(f"the windows that padding adds are missing: pad x with {p} "
                           f"zero{'s' if p > 1 else ''} on every side of H and W, and count the windows "
                           f"of the padded input, {formula}")
        if s2 != s:
            missing.append(f"stride ignored: step the window {s} pixels at a time "
                           f"(x[..., oh*{s}:oh*{s}+{k}, ...]), which gives OH = (H + 2P - K)//S + 1")
        return wrong(base + f" You have {o[0]}x{o[1]} windows per image instead of {oh}x{ow}: "
                     + "; and ".join(missing) + ".")
    if got.shape[1] == expected.shape[1]:
        return wrong(base + f" The number of windows is off: each image has OH x OW = {oh} x {ow} "
                     f"of them, OH = (H + 2*padding - kernel_size)//stride + 1.")
    return wrong(base + f" Each row holds one window: C*KH*KW = {c}*{k}*{k} = {c * k * k} values.")


def _value_feedback(got, expected, x, shape, k, s, p):
    case = _case_text(shape, k, s, p)
    row_names, col_names, (oh, ow) = _labels(shape, k, s, p)
    problems = []
    # 1. rows: each row is one window; sorted values identify the window whatever the column order
    row_perm = _match(np.sort(got, axis=1), np.sort(expected, axis=1))
    if row_perm is not None and row_perm != list(range(len(row_perm))):
        i = next(r for r, e in enumerate(row_perm) if r != e)
        j = row_perm[i]
        hint = ""
        order = [row_names[e] for e in row_perm]
        if order == sorted(row_names, key=lambda t: (t[0], t[2], t[1])):
            hint = " Your loops over the output rows (oh) and columns (ow) are swapped."
        elif order == sorted(row_names, key=lambda t: (t[1], t[2], t[0])):
            hint = " The image index n must be the outermost (slowest) loop."
        problems.append(
            f"rows in the wrong order: your row {i} holds the window of output position "
            f"(n, oh, ow) = {row_names[j]}, which belongs in row {j}; row {i} should hold "
            f"{row_names[i]}. Rows go image by image, then output row by output row, then "
            f"output column: row = (n*OH + oh)*OW + ow with OH, OW = {oh}, {ow}.{hint}")
        inverse = np.argsort(row_perm)
        got = got[inverse]                      # put the rows where they belong, then go on
    # 2. columns: each column is one (channel, kernel offset)
    col_perm = _match(got.T, expected.T)
    if col_perm is not None and col_perm != list(range(len(col_perm))):
        i = next(r for r, e in enumerate(col_perm) if r != e)
        j = col_perm[i]
        order = [col_names[e] for e in col_perm]
        if order == sorted(col_names, key=lambda t: (t[1], t[2], t[0])):
            problems.append(
                f"channels and kernel offsets swapped: your columns go (kh, kw, c) (all channels "
                f"of one kernel offset next to each other, like a channels-last window); they must "
                f"go (c, kh, kw), the order of w.reshape(F, -1), so that cols @ w.reshape(F, -1).T "
                f"is the convolution. Your column {i} holds (c, kh, kw) = {col_names[j]}; it "
                f"belongs in column {j}. Take the window as x[n, :, rows, cols] (C, KH, KW) and "
                f"reshape it, without moving the channel axis.")
        elif order == sorted(col_names, key=lambda t: (t[0], t[2], t[1])):
            problems.append(
                f"kernel rows and columns swapped: your columns go (c, kw, kh); they must go "
                f"(c, kh, kw). Your column {i} holds (c, kh, kw) = {col_names[j]}; it belongs "
                f"in column {j}. Did you transpose the window?")
        else:
            problems.append(
                f"columns in the wrong order: your column {i} holds (c, kh, kw) = {col_names[j]}, "
                f"which belongs in column {j}. Columns go (c, kh, kw): channel, then kernel row, "
                f"then kernel column, the order of w.reshape(F, -1).")
        got = got[:, np.argsort(col_perm)]
    if problems:
        return wrong(f"For {case}: " + "\n".join(problems))
    # 3. the padding: where the answer holds padding (0), is there something else?
    pad_cells = (expected == 0) & (got != 0)
    if p > 0 and pad_cells.any() and np.array_equal(got[expected != 0], expected[expected != 0]):
        r, cidx = np.argwhere(pad_cells)[0]
        return wrong(f"For {case}: your padding is not zeros. Row {r} (n, oh, ow) = {row_names[r]}, "
                     f"column {cidx} (c, kh, kw) = {col_names[cidx]} lies in the padding and must "
                     f"be 0; yours is {got[r, cidx]:g}. Pad with zeros: np.pad's default mode "
                     f"'constant' does that.")
    # 4. anything else: the first wrong entry, in words
    r, cidx = np.argwhere(~np.isclose(got, expected))[0]
    return wrong(f"For {case}: row {r} (n, oh, ow) = {row_names[r]}, column {cidx} "
                 f"(c, kh, kw) = {col_names[cidx]} should be {_pixel(x, expected[r, cidx])}; "
                 f"yours is {_pixel(x, got[r, cidx])}. The window of output position (oh, ow) "
                 f"starts at row oh*stride, column ow*stride of the padded input.")


def check_im2col(fn) -> Feedback:
    """Check a learner's ``im2col(x, kernel_size, stride=1, padding=0)`` against
    ``helpers.conv.im2col`` on a few inputs; name the mistake when there is one."""
    hint = ("Hint: start with the first window, x[0, :, 0:3, 0:3].reshape(-1), which is row 0; "
            "then loop over the images, output rows and output columns.")
    if is_unfinished(fn):
        return not_done(hint)
    if not callable(fn):
        return wrong(f"pass your function itself, as in check_im2col(my_im2col); you passed "
                     f"{type(fn).__name__} {repr(fn)[:40]}.")
    for shape, k, s, p in IM2COL_CASES:
        x = np.arange(1, np.prod(shape) + 1, dtype=np.float64).reshape(shape)
        x_before = x.copy()
        got, problem = call_learner(fn, x, k, stride=s, padding=p)
        if problem is not None:
            if not problem.done:
                return not_done(hint)
            hint = ""
            if p > 0:
                hint = (f" This input uses padding={p}: did you pad x before slicing the "
                        f"windows?")
            elif s > 1:
                hint = f" This input uses stride={s}: OH = (H + 2P - K)//S + 1."
            return wrong(f"For {_case_text(shape, k, s, p)}: {problem.message}.{hint}")
        if not np.array_equal(x, x_before):
            return wrong(f"For {_case_text(shape, k, s, p)}: your function changed x in place; "
                         f"im2col must only read it (copy, or pad into a new array).")
        if got is None:
            return wrong(f"For {_case_text(shape, k, s, p)}: your function returned None: end it "
                         f"with `return cols`.")
        if isinstance(got, (str, bytes)) or callable(got):
            return wrong(f"For {_case_text(shape, k, s, p)}: your function returned "
                         f"{type(got).__name__}, which is not an array of numbers.")
        try:
            got = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            return wrong(f"For {_case_text(shape, k, s, p)}: your function returned "
                         f"{type(got).__name__}, which is not an array of numbers.")
        expected = conv.im2col(x, k, s, p)
        if got.shape != expected.shape:
            return _shape_feedback(got, expected, shape, k, s, p, x)
        if not np.allclose(got, expected):
            return _value_feedback(got, expected, x, shape, k, s, p)
    return correct(f"your im2col matches helpers.conv.im2col on all {len(IM2COL_CASES)} test "
                   f"inputs: several images and channels, a non-square input, stride 2 and "
                   f"padding 1. Rows (n, oh, ow), columns (c, kh, kw): ready for one matrix product.")
