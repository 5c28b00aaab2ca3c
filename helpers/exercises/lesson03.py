"""Checkers for lessons 03 and 04 (padding, stride, dilation): output sizes, the padding that keeps the
size, and the strides that fit exactly.

Dilation follows PyTorch: d = 1 is an ordinary kernel; the kernel then covers
k_eff = d (k - 1) + 1 pixels. Solutions: ``helpers.exercises.solution("out_size")``,
``solution("same_padding")``, ``solution("fitting_strides")``.
"""
from __future__ import annotations

import math
import numbers

from helpers.exercises import call_learner, correct, is_unfinished, not_done, register_solution, wrong


def _k_eff(k, d):
    return d * (k - 1) + 1


def _as_number(value):
    """``value`` as a plain int or float when it is one real number (Python or NumPy scalar, or a
    0-d array); None for anything else (strings, lists, arrays, bools, None)."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _not_a_number(got, what: str) -> str:
    """Why ``got`` (which is no single number) cannot be the answer; ``what`` names the answer."""
    What = what[0].upper() + what[1:]
    if isinstance(got, str):
        text = got.strip()
        try:
            if not math.isfinite(float(text)):
                text = ""
        except ValueError:
            text = ""
        if text:
            return (f"you return the string {_short(got)}: text in quotes, not a number. {What} must be a "
                    f"number, so that it can size arrays and enter sums: return {text}, not \"{text}\" "
                    f"(leave out str() or the f-string).")
        return (f"you return the string {_short(got)}: text, not a number. {What} must be a number, "
                f"e.g. return 3, not \"3\".")
    if isinstance(got, bool) or str(getattr(got, "dtype", "")) == "bool":
        return f"you return {_short(got)}, a yes/no value (bool); {what} must be a number."
    if callable(got):
        return f"you return a function; {what} must be a number: call it, or return the result itself."
    if hasattr(got, "shape") or isinstance(got, (list, tuple, set, dict)):
        return (f"you return {type(got).__name__} {_short(got)}, not one number; {what} is a single number "
                f"(one axis at a time).")
    return f"you return {_short(got)} (of type {type(got).__name__}); {what} must be a number."


def _not_callable(fn, name: str):
    return wrong(f"pass your function itself, as in check_{name}({name}); you passed "
                 f"{type(fn).__name__} {_short(fn)}. Write `def {name}(...):` in the cell above the checker.")


# --- exercise 1: the output size -------------------------------------------------------------

@register_solution("out_size")
def out_size(n, k, s=1, p=0, d=1):
    """Output size along one axis: floor((n + 2p - k_eff) / s) + 1 with k_eff = d (k - 1) + 1."""
    k_eff = d * (k - 1) + 1
    return (n + 2 * p - k_eff) // s + 1


#: (n, k, s, p, d) cases: stride 1 and 2, padding, a stride that does not fit, dilation.
SIZE_CASES = [(5, 3, 1, 0, 1), (5, 3, 1, 1, 1), (5, 2, 1, 0, 1), (7, 3, 2, 0, 1), (7, 3, 3, 0, 1),
              (8, 3, 3, 0, 1), (32, 3, 2, 1, 1), (28, 5, 1, 0, 1), (224, 7, 2, 3, 1),
              (7, 3, 1, 0, 2), (10, 3, 1, 2, 2), (6, 4, 2, 1, 1), (15, 3, 4, 0, 1), (9, 3, 2, 1, 3)]

#: Typical slips, each as a function of (n, k, s, p, d), with what to say about it.
SIZE_SLIPS = [
    (lambda n, k, s, p, d: (n + 2 * p - _k_eff(k, d)) // s,
     "it looks like the +1 is missing: the window's first position (at 0) counts too. "
     "(N + 2p - k_eff) / s counts the steps between positions; positions = steps + 1"),
    (lambda n, k, s, p, d: (n + p - _k_eff(k, d)) // s + 1,
     "it looks like the padding is counted once: p zeros go on each side, so the padded input is N + 2p"),
    (lambda n, k, s, p, d: (n - _k_eff(k, d)) // s + 1,
     "the padding seems to be left out: the padded input is N + 2p wide"),
    (lambda n, k, s, p, d: math.ceil((n + 2 * p - _k_eff(k, d)) / s) + 1,
     "it looks like you round up (ceil): a window that would stick out past the padded input is "
     "not computed, so round down (floor, // in Python)"),
    (lambda n, k, s, p, d: (n + 2 * p - k) // s + 1,
     "the dilation seems to be ignored: a dilated kernel covers k_eff = d(k - 1) + 1 pixels, "
     "e.g. 5 for k = 3, d = 2"),
    (lambda n, k, s, p, d: (n + 2 * p - d * k) // s + 1,
     "the dilated size looks like d·k; it is d(k - 1) + 1: d - 1 gaps between each pair of the k taps, "
     "not after the last one (k = 3, d = 2 covers 5 pixels, not 6)"),
    (lambda n, k, s, p, d: (n + 2 * p - _k_eff(k, d) + 1) // s,
     "the +1 seems to be inside the division: floor((N + 2p - k_eff + 1) / s) agrees only when s = 1; "
     "it is floor((N + 2p - k_eff) / s) + 1"),
    (lambda n, k, s, p, d: round((n + 2 * p - _k_eff(k, d)) / s) + 1,
     "it looks like you round to the nearest integer; round down (floor, //) instead"),
]


def _fmt_case(case):
    n, k, s, p, d = case
    return f"N={n}, k={k}, s={s}, p={p}, d={d}"


def check_out_size(fn) -> "Feedback":
    """Check a learner's ``fn(n, k, s=1, p=0, d=1)`` against the output-size formula."""
    if is_unfinished(fn):
        return not_done("Write out_size(n, k, s=1, p=0, d=1) with the formula.")
    if not callable(fn):
        return _not_callable(fn, "out_size")
    answers = []
    for case in SIZE_CASES:
        got, fb = call_learner(fn, *case)
        if fb is not None:
            return fb
        if got is None:
            return wrong("your function returned None: end it with `return ...`.")
        value = _as_number(got)
        if value is None:
            return wrong(f"for {_fmt_case(case)} " + _not_a_number(got, "an output size"))
        if isinstance(value, float) and not math.isfinite(value):
            return wrong(f"for {_fmt_case(case)} you return {value}, not a number of positions. "
                         f"The formula is floor((N + 2p - k_eff) / s) + 1.")
        answers.append(value)
    expected = [out_size(*c) for c in SIZE_CASES]
    floats = [a for a in answers if isinstance(a, float)]
    for case, got, exp in zip(SIZE_CASES, answers, expected):
        if got != exp:
            break
    else:
        if floats:
            return wrong(f"the values are right, but some are floats (e.g. {floats[0]!r}); a size "
                         f"must be an int to make arrays: use // (floor division) instead of / and floor().")
        return correct(f"out_size agrees with the formula on all {len(SIZE_CASES)} cases, including a "
                       f"stride that does not fit (N=7, k=3, s=3 gives 2: the floor drops the last column) "
                       f"and dilation.")
    if any(isinstance(a, float) and not float(a).is_integer() for a in answers):
        bad = next((c, a) for c, a in zip(SIZE_CASES, answers) if isinstance(a, float) and not float(a).is_integer())
        return wrong(f"for {_fmt_case(bad[0])} you return {bad[1]!r}, a fraction: the number of window "
                     f"positions is whole. Use floor division: (N + 2p - k_eff) // s + 1.")
    for slip, advice in SIZE_SLIPS:
        if all(a == slip(*c) for a, c in zip(answers, SIZE_CASES)):
            case = next(c for c, a, e in zip(SIZE_CASES, answers, expected) if a != e)
            i = SIZE_CASES.index(case)
            return wrong(f"for {_fmt_case(case)} you return {answers[i]}, expected {expected[i]}: {advice}.")
    i = next(i for i, (a, e) in enumerate(zip(answers, expected)) if a != e)
    n, k, s, p, d = SIZE_CASES[i]
    ke = _k_eff(k, d)
    return wrong(f"for {_fmt_case(SIZE_CASES[i])} you return {answers[i]}, expected {expected[i]} = "
                 f"floor(({n} + 2·{p} - {ke}) / {s}) + 1, with k_eff = {d}·({k} - 1) + 1 = {ke}.")


# --- exercise 2: the padding that keeps the size ---------------------------------------------

@register_solution("same_padding")
def same_padding(k, d=1):
    """The padding p (the same on every side) that keeps the size at stride 1, or None.

    N + 2p - k_eff + 1 = N  <=>  2p = k_eff - 1, which has a whole solution only when k_eff is odd.
    """
    k_eff = d * (k - 1) + 1
    if k_eff % 2 == 0:
        return None
    return (k_eff - 1) // 2


SAME_CASES = [(1, 1), (3, 1), (5, 1), (7, 1), (2, 1), (4, 1), (6, 1), (3, 2), (5, 3), (2, 2),
              (4, 3), (3, 4), (2, 3)]


def check_same_padding(fn) -> "Feedback":
    """Check a learner's ``fn(k, d=1)``: the symmetric padding keeping the size, or None."""
    if is_unfinished(fn):
        return not_done("Write same_padding(k, d=1); return None when no padding works.")
    if not callable(fn):
        return _not_callable(fn, "same_padding")
    floats = []
    for k, d in SAME_CASES:
        got, fb = call_learner(fn, k, d)
        if fb is not None:
            return fb
        exp = same_padding(k, d)
        ke = _k_eff(k, d)
        if got is not None:
            value = _as_number(got)
            if value is None:
                return wrong(f"for k={k}, d={d} " + _not_a_number(got, "a padding (or None)"))
            if isinstance(value, float) and not math.isfinite(value):
                return wrong(f"for k={k}, d={d} you return {value}, not a number of pixels.")
            if isinstance(value, float) and not value.is_integer():
                what = (f"expected None: k_eff = {ke} is even, so no whole padding works" if exp is None
                        else f"expected {exp}")
                return wrong(f"for k={k}, d={d} you return {value:g}, a fraction of a pixel: padding "
                             f"comes in whole rows of zeros. {what[0].upper() + what[1:]}.")
            if isinstance(value, float):
                floats.append(got)
            got = value
        if got == exp and (got is None) == (exp is None):
            continue
        n = 10
        if exp is None:
            if isinstance(got, numbers.Integral):
                out = n + 2 * got - ke + 1
                return wrong(f"for k={k}, d={d} (k_eff = {ke}, even) you return {got}: an input of {n} "
                             f"then gives {out} outputs, not {n}. 2p = k_eff - 1 = {ke - 1} is odd, so no "
                             f"padding that is the same on both sides keeps the size: return None (libraries "
                             f"pad one more row at the bottom/right in this case).")
            return wrong(f"for k={k}, d={d} you return {_short(got)}; expected None (k_eff = {ke} is even).")
        if got is None:
            return wrong(f"for k={k}, d={d} you return None, but k_eff = {ke} is odd, so p = "
                         f"(k_eff - 1)/2 = {exp} keeps the size.")
        hint = ""
        if got == (k - 1) // 2 and d != 1:
            hint = (f" It looks like the dilation is left out: the kernel covers k_eff = d(k - 1) + 1 = {ke} "
                    f"pixels, so p = (k_eff - 1)/2.")
        elif got == ke - 1:
            hint = (f" That is 'full' padding (k_eff - 1 on each side), which makes the output larger: "
                    f"N + k_eff - 1.")
        elif got == exp + 1:
            hint = " One too many: N + 2p - k_eff + 1 = N needs 2p = k_eff - 1."
        out = n + 2 * got - ke + 1
        return wrong(f"for k={k}, d={d} you return {got:g}; an input of {n} then gives {out:g} outputs, "
                     f"not {n}. Expected {exp}.{hint}")
    if floats:
        return wrong(f"the values are right, but some are floats (e.g. {floats[0]!r}); a padding is a "
                     f"whole number of pixels, and np.pad wants an int: use // instead of /.")
    return correct("right on every case: p = (k_eff - 1)/2 when k_eff is odd, and None when it is even "
                   "(then no symmetric padding keeps the size).")


# --- exercise 3: strides that fit exactly ----------------------------------------------------

@register_solution("fitting_strides")
def fitting_strides(n, k, p=0, d=1):
    """All strides s >= 1 for which no row of the padded input is dropped by the floor.

    The last window ends exactly at the last row when (N + 2p - k_eff) is a multiple of s: the
    fitting strides are the divisors of N + 2p - k_eff (assumed > 0).
    """
    span = n + 2 * p - (d * (k - 1) + 1)
    return [s for s in range(1, span + 1) if span % s == 0]


STRIDE_CASES = [(15, 3, 0, 1), (224, 7, 3, 1), (32, 3, 1, 1), (28, 5, 0, 1), (9, 3, 0, 2), (10, 2, 0, 1),
                (14, 2, 0, 1)]


def check_fitting_strides(fn) -> "Feedback":
    """Check a learner's ``fn(n, k, p=0, d=1)`` listing the strides that fit exactly."""
    if is_unfinished(fn):
        return not_done("Write fitting_strides(n, k, p=0, d=1) returning a list of strides.")
    if not callable(fn):
        return _not_callable(fn, "fitting_strides")
    floats = []
    for n, k, p, d in STRIDE_CASES:
        got, fb = call_learner(fn, n, k, p, d)
        if fb is not None:
            return fb
        if got is None:
            return wrong("your function returned None: return a list of strides, e.g. [1, 2, 4].")
        if isinstance(got, (str, bytes, dict)) or getattr(got, "ndim", 1) == 0:
            return wrong(f"for N={n}, k={k}, p={p}, d={d} you return {_short(got)}; expected a list of whole "
                         f"numbers, e.g. [1, 2, 4]" + (" (numbers, not strings)." if isinstance(got, str) else "."))
        try:
            items = list(got)
        except TypeError:
            return wrong(f"for N={n}, k={k}, p={p}, d={d} you return {_short(got)}; expected a list of whole "
                         f"numbers, e.g. [1, 2, 4].")
        values = []
        for item in items:
            value = _as_number(item)
            if value is None or (isinstance(value, float) and not value.is_integer()):
                return wrong(f"for N={n}, k={k}, p={p}, d={d} your list holds {_short(item)}; a stride is a "
                             f"whole number (1, 2, 3, ...), so expected a list of whole numbers.")
            if isinstance(value, float):
                floats.append(item)
            values.append(int(value))
        got_set = sorted(set(values))
        exp = fitting_strides(n, k, p, d)
        if got_set == exp:
            continue
        ke = _k_eff(k, d)
        span = n + 2 * p - ke
        case = f"N={n}, k={k}, p={p}, d={d}"
        extra = [s for s in got_set if s not in exp]
        missing = [s for s in exp if s not in got_set]
        if extra:
            s = extra[0]
            if span > 0 and s > 0:
                drop = span % s
                return wrong(f"for {case} you list stride {s}, but (N + 2p - k_eff) = {n} + {2 * p} - {ke} = "
                             f"{span} is not a multiple of {s}: the windows start at 0, {s}, {2 * s}, ... and "
                             f"the last {drop} row(s) are never reached. The strides that fit divide {span}.")
            return wrong(f"for {case} you list stride {s}, which is not a positive stride that fits.")
        s = missing[-1] if span in missing else missing[0]
        if s == span:
            return wrong(f"for {case} stride {span} is missing: the windows then start at 0 and {span}, and "
                         f"the second one ends exactly on the last row of the padded input "
                         f"({n} + 2·{p} = {n + 2 * p} rows). Check the end of your range: range(1, {span} + 1).")
        return wrong(f"for {case} stride {s} is missing: N + 2p - k_eff = {n} + 2·{p} - {ke} = {span} is a "
                     f"multiple of {s}, so the windows (at 0, {s}, {2 * s}, ...) end exactly on the last row.")
    if floats:
        return wrong(f"the strides are right, but some are floats (e.g. {floats[0]!r}); a stride is a "
                     f"whole number: use // instead of /, or int().")
    return correct("right: the strides that fit are exactly the divisors of N + 2p - k_eff. For a "
                   "224-pixel image with a 7×7 kernel and padding 3 that number is 223, a prime, so "
                   "stride 2 (as in ResNet's first layer) drops the last padded row: harmless, it is "
                   "padding.")
