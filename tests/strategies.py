"""Hypothesis strategies shared by the tests of helpers.conv and helpers.fast: random but
always valid configurations."""

import numpy as np
from hypothesis import settings, strategies as st

from helpers import conv

SETTINGS = settings(max_examples=50, deadline=None)


@st.composite
def conv_configs(draw):
    """x, w, b and the keyword arguments of one valid convolution (float64)."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))          # non-square kernels
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.one_of(st.just("same"), st.just("valid"), st.integers(0, 2),
                             st.tuples(st.integers(0, 2), st.integers(0, 2))))
    if padding == "same":
        stride = 1
    else:
        stride = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    (top, bottom), (left, right) = conv.resolve_padding(padding, (kh, kw), (dh, dw))
    # the smallest input the dilated kernel fits in, plus something
    h = max(1, dh * (kh - 1) + 1 - top - bottom) + draw(st.integers(0, 5))
    w_ = max(1, dw * (kw - 1) + 1 - left - right) + draw(st.integers(0, 5))
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w_))
    w = rng.standard_normal((f, c, kh, kw))
    b = rng.standard_normal(f) if draw(st.booleans()) else None
    return x, w, b, dict(stride=stride, padding=padding, dilation=(dh, dw))


@st.composite
def pool_configs(draw):
    """x and the keyword arguments of one valid pooling, often with overlapping windows
    (stride < kernel) and windows that do not tile the input."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.integers(1, 3),
                            st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(st.one_of(st.integers(0, min(kh, kw) // 2),
                             st.tuples(st.integers(0, kh // 2), st.integers(0, kw // 2))))
    ph, pw = conv.pair(padding, "padding")
    h = max(1, kh - 2 * ph) + draw(st.integers(0, 6))
    w = max(1, kw - 2 * pw) + draw(st.integers(0, 6))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((n, c, h, w))
    return x, dict(kernel_size=(kh, kw), stride=stride, padding=padding)


# ---------------------------------------------------------------------------------------------
# Fuzzing (tests/test_fuzz_helpers.py, tests/test_fuzz_checkers.py): anything a learner types
# ---------------------------------------------------------------------------------------------
import os  # noqa: E402

from hypothesis import HealthCheck  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

#: Examples per fuzz test: FUZZ_FACTOR times the count each test names. The "ci" profile (the
#: default) keeps the whole suite within its time; "thorough" runs 20 times as many, for a local
#: run: `HYPOTHESIS_PROFILE=thorough python3 course.py test tests/test_fuzz_helpers.py` (an
#: environment variable, because pytest's --hypothesis-profile is read before this module loads).
_FACTORS = {"ci": 1, "thorough": 20}
for _name in _FACTORS:
    settings.register_profile(_name, deadline=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large,
                                                     HealthCheck.filter_too_much])
if os.environ.get("HYPOTHESIS_PROFILE") in _FACTORS:
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


def fuzz_settings(n):
    """Settings for a fuzz test that runs n examples in CI (20 * n with "thorough")."""
    factor = _FACTORS.get(settings.get_current_profile_name(), 1)
    return settings(max_examples=n * factor, deadline=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


def dtypes():
    """Every kind of dtype: bool, integers, floats, complex, strings, bytes, dates, object."""
    return st.one_of(hnp.scalar_dtypes(), hnp.unicode_string_dtypes(max_len=3),
                     hnp.byte_string_dtypes(max_len=3), st.just(np.dtype(object)))


def scalars():
    """None, Ellipsis, numbers of every kind (NaN, inf, huge, bool, complex), strings, bytes."""
    return st.one_of(
        st.none(), st.just(...), st.booleans(), st.integers(-10**20, 10**20),
        st.integers(-3, 30), st.floats(allow_nan=True, allow_infinity=True),
        st.complex_numbers(max_magnitude=1e6), st.text(max_size=6), st.binary(max_size=4),
        st.sampled_from([np.float32(2.5), np.int8(-3), np.uint8(255), np.bool_(True),
                         np.float64("nan"), np.array(3.0), np.array(7), 1e308 * 10]))


@st.composite
def arrays(draw, max_dims=4, max_side=4):
    """Arrays of every dtype and shape (0-d to max_dims-d, empty axes too), small."""
    dtype = draw(dtypes())
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side))
    if dtype == object:
        flat = draw(st.lists(st.one_of(st.none(), st.integers(-5, 5), st.floats(), st.text(max_size=2)),
                             min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        a = np.empty(len(flat), dtype=object)
        a[:] = flat
        return a.reshape(shape)
    return draw(hnp.arrays(dtype, shape))


def values():
    """Anything a learner might pass as an answer or an argument: None, numbers, strings, lists
    (nested, ragged), tuples, dicts, arrays of every shape and dtype."""
    return st.recursive(
        st.one_of(scalars(), arrays()),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                                st.dictionaries(st.text(max_size=4), inner, max_size=3)),
        max_leaves=8)


class LearnerBug(Exception):
    """An exception a learner's function raises."""


EXCEPTIONS = [ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, AttributeError,
              RuntimeError, AssertionError, NameError, OverflowError, MemoryError, LearnerBug,
              NotImplementedError, StopIteration, RecursionError, FloatingPointError]


def _mutate(args):
    """What a buggy function does to its input arrays in place: fill, scale, or NaN."""
    for a in args:
        if isinstance(a, np.ndarray) and a.flags.writeable and a.size:
            if np.issubdtype(a.dtype, np.floating):
                a[...] = np.nan
            elif np.issubdtype(a.dtype, np.number):
                a *= 2
        elif isinstance(a, list):
            a.clear()
        elif isinstance(a, dict):
            for k in list(a):
                a[k] = None


class Learner:
    """A learner's function (tests/strategies.py ``functions``); its repr says what it does."""

    def __init__(self, kind, value=None, exc=None):
        self.kind, self.value, self.exc = kind, value, exc
        self.__name__ = f"learner_{kind}"

    def __call__(self, *args, **kwargs):
        if self.kind == "raises":
            raise self.exc("a learner's bug")
        if self.kind == "loops":
            while True:
                pass
        if self.kind == "echo":
            return args[0] if args else None
        if self.kind == "mutates":
            _mutate(list(args) + list(kwargs.values()))
        return self.value

    def __repr__(self):
        what = {"raises": getattr(self.exc, "__name__", ""), "loops": "", "echo": ""}.get(
            self.kind, None)
        if what is None:
            what = repr(self.value)
            what = what if len(what) <= 300 else what[:297] + "..."
        return f"<function that {self.kind} {what}>"


@st.composite
def functions(draw):
    """A learner's function: it returns a value, returns its input, raises, modifies its
    input in place (then returns a value), or runs too long (a loop that never ends)."""
    kind = draw(st.sampled_from(["returns", "returns", "returns", "echo", "raises", "mutates",
                                 "loops"]))
    if kind in ("returns", "mutates"):
        return Learner(kind, value=draw(values()))
    if kind == "raises":
        return Learner(kind, exc=draw(st.sampled_from(EXCEPTIONS)))
    return Learner(kind)


def answers():
    """An answer for any exercise checker: a value or a function (values())."""
    return st.one_of(values(), functions())
