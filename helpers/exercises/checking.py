"""Tools the checkers of lessons 11 and 13 share: call a learner's function safely, compare
arrays, describe a value briefly, and name near misses (float32, a small constant added)."""
from __future__ import annotations

import warnings

import numpy as np

from . import call_learner, not_done, wrong

#: Relative tolerance: a right float64 answer agrees to about 1e-15 (one rounded to float32 at the
#: end, to about 1e-7); the usual mistakes differ by 1e-5 or more on some test input (eps in the
#: wrong place), most by far more.
RTOL = 1e-6


def close(a, b, equal_nan=False):
    """True when the arrays a and b have the same shape and the same values (to RTOL)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=RTOL, atol=1e-12, equal_nan=equal_nan))


def call(fn, *args):
    """call_learner with NumPy's overflow warnings silenced: the checker reports NaN itself."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call_learner(fn, *args)


def short(value, limit=40):
    try:
        text = repr(value)
    except Exception:                 # a learner's object whose repr fails
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def not_a_function(fn, example):
    """None when fn can be called; else a Feedback asking for the function itself."""
    if callable(fn):
        return None
    return wrong(f"pass your function itself, as in {example}. You passed "
                 f"{type(fn).__name__} {short(fn)}.")


def raised(fb, case, hint=""):
    """The learner's function raised: keep a not_done as it is; else say on which input."""
    if not fb.done:
        return fb
    message = f"{case}, {fb.message}."
    if hint and "broadcast" in fb.message:
        message += " " + hint
    return wrong(message)


def as_numbers(result, what="your function"):
    """(float64 array, None), or (None, Feedback) when result is not an array of numbers."""
    if result is None:
        return None, not_done(f"{what} returned None. End it with a return statement.")
    not_numbers = wrong(f"{what} returned {type(result).__name__} {short(result)}, "
                        f"not an array of numbers.")
    if isinstance(result, (str, bytes, dict)) or callable(result):
        return None, not_numbers
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = np.asarray(result)              # ragged lists and bytes fail here
            if raw.dtype.kind not in "biuf":        # complex, strings, dates, objects (None)
                return None, not_numbers
            return raw.astype(np.float64), None
    except Exception:
        return None, not_numbers


def first_difference(got, expected, verb="you have"):
    """Where got and expected (same shape, not empty) differ most, in words."""
    gap = np.abs(got - expected)
    gap[np.isnan(gap)] = np.inf
    index = np.unravel_index(int(np.argmax(gap)), got.shape)
    where = f"at [{', '.join(str(int(i)) for i in index)}] " if got.ndim else ""
    return f"{where}{verb} {got[index]:.6g}, expected {expected[index]:.6g}"


def close_loosely(a, b):
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-4, atol=1e-7))


def near_miss(got, expected):
    """A message when got is close to expected but not exact (float32, or an added 1e-7)."""
    if close(got, expected) or not close_loosely(got, expected):
        return None
    gap = float(np.max(np.abs(got - expected)))
    return (f"your values are close, but not exact (largest difference {gap:.1e}). Do you compute "
            f"in float32, or add a small number such as 1e-7? Keep the input's float64 and add nothing.")


def changed_input(before, after, name):
    """A Feedback when the learner's function changed its input array in place, else None."""
    if np.array_equal(before, after, equal_nan=True):
        return None
    return wrong(f"your function changed {name} in place, so the caller's {name} changed too. "
                 f"Build a new array ({name} = {name} - m) instead of changing {name} ({name} -= m).")
