"""Fuzz the public functions and layers of helpers (issue 29).

1. Arrays: every entry point gets generated arrays of every dtype (bool, complex, object holding
   None, strings, dates), every number of axes, empty axes, mismatched channels, kernels larger
   than the input, and things that are no arrays (None, text, ragged lists). An invalid one must
   raise ValueError or TypeError (exactly those types) whose message names the argument; a valid
   one must give a result.
2. Settings: kernel_size, stride, padding, dilation, channels, probabilities, learning rates,
   batch sizes ... get generated invalid values (zero, negative, non-integer, NaN, inf, bool,
   text, None, tuples of the wrong length); each must raise ValueError or TypeError naming it.
3. Memory: shapes whose output or im2col matrix needs more than the memory limit raise a
   ValueError saying how much, before allocating (stand-in arrays of any size cost nothing).
4. Valid edge cases (an empty batch N = 0, 1x1 images, a kernel as large as the padded input)
   give the loop reference's results, forward and backward, in helpers.conv and the engine.

Example counts: tests/strategies.py ``fuzz_settings`` (small in CI, 20 times more with the
"thorough" profile).
"""
import math
import re
import warnings

import matplotlib
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from helpers import conv, data, fast, gradcheck, interpret, layers, plots, shapes, surfaces
from helpers.layers import (AvgPool2D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten,
                            GlobalAvgPool2D, MaxPool2D, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh)
from helpers.model import Sequential
from helpers.optim import SGD, Adam, Momentum
from helpers.train import evaluate, fit
from strategies import fuzz_settings

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RNG = np.random.default_rng(29)
X = RNG.standard_normal((2, 3, 6, 6))
W = RNG.standard_normal((4, 3, 3, 3))
B = RNG.standard_normal(4)
OUT, REF_CACHE = conv.conv2d_forward(X, W, B)
_, FAST_CACHE = fast.conv2d_forward(X, W, B)
_, MAXP_CACHE = conv.max_pool2d_forward(X, 2)
_, FAST_MAXP_CACHE = fast.max_pool2d_forward(X, 2)
_, AVGP_CACHE = conv.avg_pool2d_forward(X, 2)


def _model():
    layers.seed(0)
    return Sequential(Conv2D(1, 2, 3), ReLU(), Flatten(), Dense(2 * 4 * 4, 3))


MODEL = _model()
LOSS = SoftmaxCrossEntropy()


def _ran(layer, x):
    """The layer after a forward pass on x (so backward can run)."""
    layer.forward(x)
    return layer


# ---------------------------------------------------------------------------------------------
# 1. Arrays
# ---------------------------------------------------------------------------------------------

def four_d(c=None, min_hw=1):
    """Valid when the array is 4-D (N >= 0), with c channels (any when None), H, W >= min_hw."""
    def ok(a):
        return (a.ndim == 4 and min(a.shape[1:]) >= 1 and (c is None or a.shape[1] == c)
                and min(a.shape[2:]) >= min_hw)
    return ok


def exactly(shape):
    return lambda a: a.shape == tuple(shape)


def anything(a):
    return True


#: (id, the call with the fuzzed array a, the argument's name, valid(a) for real-number arrays,
#:  the shape of a valid array, and True when only floats are valid, "no run" when a valid
#:  array is not run (a figure: slow), else False)
ARRAY_TARGETS = [
    ("conv.conv2d x", lambda a: conv.conv2d(a, W, B), "x", four_d(3, 3), X.shape, False),
    ("conv.conv2d w", lambda a: conv.conv2d(X, a, B), "w",
     lambda a: a.ndim == 4 and a.shape[1] == 3 and a.shape[0] == 4 and 0 < min(a.shape)
     and max(a.shape[2:]) <= 6, W.shape, False),
    ("conv.conv2d b", lambda a: conv.conv2d(X, W, a), "b", exactly(B.shape), B.shape, False),
    ("conv.conv2d_naive x", lambda a: conv.conv2d_naive(a, W, B), "x", four_d(3, 3), X.shape, False),
    ("fast.conv2d x", lambda a: fast.conv2d(a, W, B), "x", four_d(3, 3), X.shape, False),
    ("fast.conv2d w", lambda a: fast.conv2d(X, a), "w",
     lambda a: a.ndim == 4 and a.shape[1] == 3 and 0 < min(a.shape) and max(a.shape[2:]) <= 6,
     W.shape, False),
    ("conv.im2col x", lambda a: conv.im2col(a, 3), "x", four_d(None, 3), X.shape, False),
    ("conv.col2im cols", lambda a: conv.col2im(a, X.shape, 3), "cols", exactly((32, 27)),
     (32, 27), False),
    ("conv.pad x", lambda a: conv.pad(a, 1), "x", lambda a: a.ndim >= 2, (3, 3), False),
    ("conv.max_pool2d x", lambda a: conv.max_pool2d(a, 2), "x", four_d(None, 2), X.shape, False),
    ("fast.max_pool2d x", lambda a: fast.max_pool2d(a, 2), "x", four_d(None, 2), X.shape, False),
    ("conv.avg_pool2d x", lambda a: conv.avg_pool2d(a, 2, 1, 1), "x", four_d(None, 1), X.shape,
     False),
    ("conv.max_pool2d_naive x", lambda a: conv.max_pool2d_naive(a, 2), "x", four_d(None, 2),
     X.shape, False),
    ("conv.conv2d_backward dout", lambda a: conv.conv2d_backward(a, REF_CACHE), "dout",
     exactly(OUT.shape), OUT.shape, False),
    ("fast.conv2d_backward dout", lambda a: fast.conv2d_backward(a, FAST_CACHE), "dout",
     exactly(OUT.shape), OUT.shape, False),
    ("conv.conv2d_backward_naive dout",
     lambda a: conv.conv2d_backward_naive(a, X, W, B), "dout", exactly(OUT.shape), OUT.shape, False),
    ("conv.max_pool2d_backward dout", lambda a: conv.max_pool2d_backward(a, MAXP_CACHE), "dout",
     exactly((2, 3, 3, 3)), (2, 3, 3, 3), False),
    ("fast.max_pool2d_backward dout", lambda a: fast.max_pool2d_backward(a, FAST_MAXP_CACHE),
     "dout", exactly((2, 3, 3, 3)), (2, 3, 3, 3), False),
    ("conv.avg_pool2d_backward dout", lambda a: conv.avg_pool2d_backward(a, AVGP_CACHE), "dout",
     exactly((2, 3, 3, 3)), (2, 3, 3, 3), False),
    ("Conv2D.forward", lambda a: Conv2D(3, 4, 3).forward(a), "x", four_d(3, 3), X.shape, False),
    ("MaxPool2D.forward", lambda a: MaxPool2D(2).forward(a), "x", four_d(None, 2), X.shape, False),
    ("AvgPool2D.forward", lambda a: AvgPool2D(3, 1).forward(a), "x", four_d(None, 3), X.shape,
     False),
    ("GlobalAvgPool2D.forward", lambda a: GlobalAvgPool2D().forward(a), "x", four_d(), X.shape,
     False),
    ("ReLU.forward", lambda a: ReLU().forward(a), "x", anything, (2, 5), False),
    ("Sigmoid.forward", lambda a: Sigmoid().forward(a), "x", anything, (2, 5), False),
    ("Tanh.forward", lambda a: Tanh().forward(a), "x", anything, (2, 5), False),
    ("Dropout.forward", lambda a: Dropout(0.5, rng=0).forward(a), "x", anything, (2, 5), False),
    ("Flatten.forward", lambda a: Flatten().forward(a), "x", lambda a: a.ndim >= 1, X.shape, False),
    ("Dense.forward", lambda a: Dense(5, 4, rng=0).forward(a), "x",
     lambda a: a.ndim == 2 and a.shape[1] == 5, (3, 5), False),
    ("BatchNorm2D.forward", lambda a: BatchNorm2D(3).forward(a), "x",
     lambda a: four_d(3)(a) and a.shape[0] * a.shape[2] * a.shape[3] > 1, X.shape, False),
    ("SoftmaxCrossEntropy logits", lambda a: SoftmaxCrossEntropy().forward(a, np.array([0, 1])),
     "logits", lambda a: a.ndim == 2 and a.shape[0] == 2 and a.shape[1] >= 2, (2, 3), False),
    ("ReLU.backward", lambda a: _ran(ReLU(), np.ones((2, 5))).backward(a), "dout",
     exactly((2, 5)), (2, 5), False),
    ("Sigmoid.backward", lambda a: _ran(Sigmoid(), np.ones((2, 5))).backward(a), "dout",
     exactly((2, 5)), (2, 5), False),
    ("Dense.backward", lambda a: _ran(Dense(5, 4, rng=0), np.ones((3, 5))).backward(a), "dout",
     exactly((3, 4)), (3, 4), False),
    ("Flatten.backward", lambda a: _ran(Flatten(), X).backward(a), "dout", exactly((2, 108)),
     (2, 108), False),
    ("Dropout.backward", lambda a: _ran(Dropout(0.5, rng=0), np.ones((2, 5))).backward(a), "dout",
     exactly((2, 5)), (2, 5), False),
    ("BatchNorm2D.backward", lambda a: _ran(BatchNorm2D(3), X).backward(a), "dout",
     exactly(X.shape), X.shape, False),
    ("GlobalAvgPool2D.backward", lambda a: _ran(GlobalAvgPool2D(), X).backward(a), "dout",
     exactly((2, 3)), (2, 3), False),
    ("Conv2D.backward", lambda a: _ran(Conv2D(3, 4, 3), X).backward(a), "dout",
     exactly(OUT.shape), OUT.shape, False),
    ("Sequential.predict", lambda a: MODEL.predict(a), "x",
     lambda a: a.ndim == 4 and a.shape[1:] == (1, 6, 6), (2, 1, 6, 6), True),
    ("Sequential.predict_proba", lambda a: MODEL.predict_proba(a), "x",
     lambda a: a.ndim == 4 and a.shape[1:] == (1, 6, 6), (2, 1, 6, 6), True),
    ("train.evaluate x", lambda a: evaluate(MODEL, LOSS, a, np.array([0, 1])), "x",
     lambda a: a.shape == (2, 1, 6, 6), (2, 1, 6, 6), True),
    ("train.evaluate y", lambda a: evaluate(MODEL, LOSS, np.zeros((2, 1, 6, 6)), a), "y",
     lambda a: a.dtype.kind in "iu" and a.shape == (2,) and 0 <= a.min() and a.max() < 3, (2,),
     False),
    ("train.fit x", lambda a: fit(MODEL, LOSS, SGD(MODEL.parameters()), a, np.array([0, 1]),
                                  epochs=0, progress=False, tune=False), "x",
     lambda a: a.shape == (2, 1, 6, 6), (2, 1, 6, 6), True),
    ("gradcheck.rel_error a", lambda a: gradcheck.rel_error(a, np.ones(3)), "a", exactly((3,)),
     (3,), False),
    ("gradcheck.check_layer x", lambda a: gradcheck.check_layer(Dense(2, 2, rng=0), a), "x",
     lambda a: a.ndim == 2 and a.shape[1] == 2, (2, 2), False),
    ("interpret.softmax z", lambda a: interpret.softmax(a), "z",
     lambda a: a.ndim >= 1 and 0 not in a.shape, (2, 3), False),
    ("interpret.activations x", lambda a: interpret.activations(MODEL, a, 0), "x",
     lambda a: (a.ndim == 2 or a.ndim in (3, 4) and a.shape[-3] == 1) and min(a.shape[-2:]) >= 3,
     (2, 1, 6, 6), False),                                 # layer 0: Conv2D(1, 2, 3) alone
    ("interpret.occlusion_map image", lambda a: interpret.occlusion_map(MODEL, a, 0, 2, 2), "image",
     lambda a: a.shape in ((6, 6), (1, 6, 6), (1, 1, 6, 6)), (1, 6, 6), False),
    ("interpret.gradient_saliency image",
     lambda a: interpret.gradient_saliency(MODEL, a, 0), "image",
     lambda a: a.shape in ((6, 6), (1, 6, 6), (1, 1, 6, 6)), (1, 6, 6), False),
    ("plots.show_filters w", lambda a: plots.show_filters(a), "w",
     lambda a: a.ndim == 4 and 0 not in a.shape, W.shape, "no run"),
    ("plots.feature_maps maps", lambda a: plots.feature_maps(a), "maps",
     lambda a: a.ndim == 3 and 0 not in a.shape, (3, 4, 4), "no run"),
    ("plots.image_grid images", lambda a: plots.image_grid(a), "images",
     lambda a: a.ndim in (3, 4) and 0 not in a.shape, (2, 4, 4), "no run"),
    ("plots.im2col_diagram x", lambda a: plots.im2col_diagram(a, 2), "x",
     lambda a: four_d(None, 2)(a) and a.shape[0] > 0, (1, 1, 3, 3), "no run"),
    ("plots.pooling_diagram x", lambda a: plots.pooling_diagram(a, 2), "x",
     lambda a: a.ndim == 2 and min(a.shape) >= 2, (4, 4), "no run"),
    ("plots.channel_sum x", lambda a: plots.channel_sum(a, np.ones((1, 2, 2))), "x",
     lambda a: a.ndim == 3 and a.shape[0] == 1 and min(a.shape[1:]) >= 2, (1, 4, 4), "no run"),
]

#: dtypes that are never valid input: bool, complex, object, text, dates
BAD_DTYPES = [np.bool_, np.complex64, np.complex128, object, "U3", "S2", "datetime64[s]",
              "timedelta64[ms]"]
GOOD_DTYPES = [np.float64, np.float32, np.int64, np.uint8, np.float16]
NOT_ARRAYS = [None, "x", b"\x00", [[1.0, 2.0], [3.0]], [[[1.0]], [2.0]], {"a": 1}, print, ...,
              [None, 1.0], 1j]


@st.composite
def fuzzed_arrays(draw, good_shape):
    """An array near a valid one (one axis changed, added or removed) or of any shape, of a
    good or a bad dtype; or something that is no array at all."""
    kind = draw(st.sampled_from(["near", "near", "any", "bad dtype", "not an array"]))
    if kind == "not an array":
        return draw(st.sampled_from(NOT_ARRAYS))
    shape = list(good_shape)
    if kind == "any":
        shape = list(draw(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=7)))
    elif shape:
        change = draw(st.sampled_from(["axis", "add", "drop", "same"]))
        i = draw(st.integers(0, len(shape) - 1))
        if change == "axis":
            shape[i] = draw(st.integers(0, 8))
        elif change == "add":
            shape.insert(i, draw(st.integers(0, 3)))
        elif change == "drop":
            del shape[i]
    dtype = np.dtype(draw(st.sampled_from(BAD_DTYPES if kind == "bad dtype" else
                                          GOOD_DTYPES + BAD_DTYPES[:3])))
    values = np.asarray(np.random.default_rng(draw(st.integers(0, 99))).standard_normal(shape) * 3)
    if dtype.kind in "fiu":
        return values.astype(dtype)
    if dtype.kind == "O":
        a = values.astype(object)
        if a.size:
            a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([None, "1", [1]]))
        return a
    if dtype.kind == "c":
        return (values + 1j).astype(dtype)
    return np.zeros(shape, dtype=dtype)


def _names(message, name):
    return re.search(rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])", message) is not None


#: "kernel_size 3 is larger than the padded input 1 (H=1 + 2*padding 0)": the one message every
#: entry point gives (tests/test_conv.py) when the input is too small for the kernel, or the
#: kernel (w) too large for the input
ALIASES = {"w": ("w", "kernel_size"), "x": ("x", "kernel_size"), "image": ("image", "kernel_size")}


def _expect_clear_error(call, name, *aliases):
    """call() must raise exactly ValueError or TypeError, with ``name`` (or an alias) in its
    message."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # a ComplexWarning, say, is no clear error
        try:
            result = call()
        except (ValueError, TypeError) as exc:
            assert type(exc) in (ValueError, TypeError), f"{type(exc).__name__}: {exc}"
            assert any(_names(str(exc), n) for n in (name, *aliases)), \
                f"the message does not name {name!r}: {exc}"
            return exc
        finally:
            plt.close("all")
    raise AssertionError(f"invalid {name} gave a result instead of an error: {type(result)}")


@pytest.mark.parametrize("target", ARRAY_TARGETS, ids=[t[0] for t in ARRAY_TARGETS])
@fuzz_settings(30)
@given(data=st.data())
def test_an_invalid_array_raises_a_clear_error_and_a_valid_one_works(target, data):
    _, call, name, valid, good_shape, floats_only = target
    a = data.draw(fuzzed_arrays(good_shape), label=name)
    if a is None and name == "b":
        return                                # no bias: valid
    arr = np.asarray(a) if isinstance(a, (np.ndarray, np.generic)) else None
    is_valid = (arr is not None and arr.dtype.kind in ("f" if floats_only is True else "fiu")
                and valid(arr))
    if not is_valid:
        _expect_clear_error(lambda: call(a), *ALIASES.get(name, (name,)))
        return
    if floats_only == "no run":
        return
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # float16 overflow in a valid input
        try:
            call(a)
        finally:
            plt.close("all")


# ---------------------------------------------------------------------------------------------
# 2. Settings
# ---------------------------------------------------------------------------------------------

def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v):
    return (isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_)) and math.isfinite(v))


def _pair(v, low, high=math.inf, none_ok=False, words=()):
    """An int, or an (h, w) pair of ints, each in [low, high]; or None, or one of words."""
    if v is None:
        return none_ok
    if isinstance(v, str):
        return v in words
    entries = (list(v) if isinstance(v, (tuple, list, np.ndarray)) and np.ndim(v) == 1
               and len(v) == 2 else [v])
    return all(_is_int(e) and low <= e <= high for e in entries)


RULES = {   # the rule a setting follows, as an independent oracle
    "positive int": lambda v: _is_int(v) and v >= 1,
    "positive int or None": lambda v: v is None or _is_int(v) and v >= 1,
    # a number of bytes, None (the default) or a text such as "2GB" (tests/test_conv.py)
    "memory limit": lambda v: v is None or isinstance(v, str) or _is_int(v) and v >= 1,
    "non-negative int": lambda v: _is_int(v) and v >= 0,
    "probability [0, 1)": lambda v: _is_real(v) and 0 <= v < 1,
    "fraction [0, 1]": lambda v: _is_real(v) and 0 <= v <= 1,
    "positive number": lambda v: _is_real(v) and v > 0,
    "non-negative number": lambda v: _is_real(v) and v >= 0,
    "class index < 3": lambda v: _is_int(v) and 0 <= v < 3,
    "bool": lambda v: isinstance(v, (bool, np.bool_)),
    "int in [1, 6]": lambda v: _is_int(v) and 1 <= v <= 6,
    "int in [1, 2]": lambda v: _is_int(v) and 1 <= v <= 2,
    # kernel_size, stride, padding, dilation: an int or an (h, w) pair
    "kernel <= 6": lambda v: _pair(v, 1, 6),
    "stride": lambda v: _pair(v, 1),
    "stride or None": lambda v: _pair(v, 1, none_ok=True),
    "dilation <= 2": lambda v: _pair(v, 1, 2),
    "dilation": lambda v: _pair(v, 1),
    "padding": lambda v: _pair(v, 0, words=("same", "valid")),
    "pool padding <= 1": lambda v: _pair(v, 0, 1, words=("same", "valid")),
    "size": lambda v: _pair(v, 1),
    "dtype float32/64": lambda v: False,
    "point": lambda v: (isinstance(v, (tuple, list, np.ndarray)) and np.ndim(v) == 1
                        and len(v) == 2 and all(_is_real(e) for e in v)),
    "never": lambda v: False,
}

#: (id, call with the fuzzed value v, the name the message must give, rule)
SETTING_TARGETS = [
    ("conv.conv2d stride", lambda v: conv.conv2d(X, np.ones((1, 3, 2, 2)), stride=v), "stride",
     "stride"),
    ("conv.conv2d dilation", lambda v: conv.conv2d(X, W, dilation=v), "dilation", "dilation <= 2"),
    ("conv.conv2d padding", lambda v: conv.conv2d(X, W, padding=v), "padding", "padding"),
    ("fast.conv2d stride", lambda v: fast.conv2d(X, W, stride=v), "stride", "stride"),
    ("fast.conv2d padding", lambda v: fast.conv2d(X, W, padding=v), "padding", "padding"),
    ("conv.im2col kernel_size", lambda v: conv.im2col(X, v), "kernel_size", "kernel <= 6"),
    ("conv.output_size kernel_size", lambda v: conv.output_size(6, v), "kernel_size", "kernel <= 6"),
    ("conv.output_size n", lambda v: conv.output_size(v, 1), "n", "size"),
    ("conv.pool_output_size stride", lambda v: conv.pool_output_size(8, 2, v), "stride",
     "stride or None"),
    ("conv.max_pool2d kernel_size", lambda v: conv.max_pool2d(X, v), "kernel_size", "kernel <= 6"),
    ("fast.max_pool2d padding", lambda v: fast.max_pool2d(X, 3, 1, v), "padding", "pool padding <= 1"),
    ("conv.avg_pool2d stride", lambda v: conv.avg_pool2d(X, 2, v), "stride", "stride or None"),
    ("Conv2D in_channels", lambda v: Conv2D(v, 2, 3), "in_channels", "positive int"),
    ("Conv2D out_channels", lambda v: Conv2D(1, v, 3), "out_channels", "positive int"),
    ("Conv2D kernel_size", lambda v: Conv2D(3, 2, v).forward(X), "kernel_size", "kernel <= 6"),
    ("Conv2D stride", lambda v: Conv2D(1, 2, 3, stride=v), "stride", "stride"),
    ("Conv2D dilation", lambda v: Conv2D(1, 2, 3, dilation=v), "dilation", "dilation"),
    ("Conv2D padding", lambda v: Conv2D(3, 2, 3, padding=v).forward(X), "padding",
     "padding"),
    ("Conv2D bias", lambda v: Conv2D(1, 2, 3, bias=v), "bias", "bool"),
    ("Conv2D dtype", lambda v: Conv2D(1, 2, 3, dtype=v), "dtype", "dtype float32/64"),
    ("MaxPool2D kernel_size", lambda v: MaxPool2D(v).forward(X), "kernel_size", "kernel <= 6"),
    ("AvgPool2D stride", lambda v: AvgPool2D(2, v), "stride", "stride or None"),
    ("MaxPool2D padding", lambda v: MaxPool2D(2, 1, v), "padding", "pool padding <= 1"),
    ("Dense in_features", lambda v: Dense(v, 2), "in_features", "positive int"),
    ("Dense out_features", lambda v: Dense(2, v), "out_features", "positive int"),
    ("Dropout p", lambda v: Dropout(v), "p", "probability [0, 1)"),
    ("BatchNorm2D num_features", lambda v: BatchNorm2D(v), "num_features", "positive int"),
    ("BatchNorm2D momentum", lambda v: BatchNorm2D(2, momentum=v), "momentum", "fraction [0, 1]"),
    ("BatchNorm2D eps", lambda v: BatchNorm2D(2, eps=v), "eps", "positive number"),
    ("SGD lr", lambda v: SGD(MODEL.parameters(), lr=v), "lr", "positive number"),
    ("SGD weight_decay", lambda v: SGD(MODEL.parameters(), weight_decay=v), "weight_decay",
     "non-negative number"),
    ("Momentum momentum", lambda v: Momentum(MODEL.parameters(), momentum=v), "momentum",
     "probability [0, 1)"),
    ("Adam eps", lambda v: Adam(MODEL.parameters(), eps=v), "eps", "positive number"),
    ("Adam betas", lambda v: Adam(MODEL.parameters(), betas=(0.9, v)), "betas",
     "probability [0, 1)"),
    ("SGD params", lambda v: SGD(v).step() if isinstance(v, (list, tuple)) else SGD(v), "params", "never"),
    ("fit epochs", lambda v: fit(MODEL, LOSS, SGD(MODEL.parameters()), np.zeros((2, 1, 6, 6)),
                                 np.array([0, 1]), epochs=v, progress=False, tune=False),
     "epochs", "non-negative int"),
    ("fit batch_size", lambda v: fit(MODEL, LOSS, SGD(MODEL.parameters()),
                                     np.zeros((2, 1, 6, 6)), np.array([0, 1]), epochs=0,
                                     batch_size=v, progress=False, tune=False),
     "batch_size", "positive int"),
    ("evaluate batch_size", lambda v: evaluate(MODEL, LOSS, np.zeros((2, 1, 6, 6)),
                                               np.array([0, 1]), batch_size=v),
     "batch_size", "positive int"),
    ("predict batch_size", lambda v: MODEL.predict(np.zeros((2, 1, 6, 6)), batch_size=v),
     "batch_size", "positive int"),
    ("occlusion_map patch_size", lambda v: interpret.occlusion_map(MODEL, np.zeros((1, 6, 6)), 0,
                                                                   patch_size=v), "patch_size",
     "int in [1, 6]"),
    ("occlusion_map target", lambda v: interpret.occlusion_map(MODEL, np.zeros((1, 6, 6)), v, 2),
     "target", "class index < 3"),
    ("gradient_saliency n_samples", lambda v: interpret.gradient_saliency(
        MODEL, np.zeros((1, 6, 6)), 0, n_samples=v), "n_samples", "positive int"),
    ("gradient_saliency noise", lambda v: interpret.gradient_saliency(
        MODEL, np.zeros((1, 6, 6)), 0, noise=v), "noise", "non-negative number"),
    ("top_activating_patches k", lambda v: interpret.top_activating_patches(
        MODEL, np.zeros((2, 1, 6, 6)), 0, k=v), "k", "int in [1, 2]"),
    ("numerical_gradient h", lambda v: gradcheck.numerical_gradient(
        lambda x: float(x.sum()), np.ones(2), h=v), "h", "positive number"),
    ("data.sample_image downsample", lambda v: data.sample_image(downsample=v), "downsample",
     "positive int"),
    ("data.sample_image gray", lambda v: data.sample_image(gray=v, downsample=64), "gray", "bool"),
    ("surfaces.run steps", lambda v: surfaces.run(surfaces.Bowl(), "SGD", (1.0, 1.0), v, 0.1),
     "steps", "non-negative int"),
    ("surfaces.run start", lambda v: surfaces.run(surfaces.Bowl(), "Adam", v, 2, 0.1), "start",
     "point"),
    ("surfaces.run optimizer", lambda v: surfaces.run(surfaces.Bowl(), v, (1.0, 1.0), 2, 0.1),
     "optimizer", "never"),
    ("surfaces.Valley c", lambda v: surfaces.Valley(v), "c", "positive number"),
    ("set_memory_limit nbytes", lambda v: shapes.set_memory_limit(v).__exit__(), "nbytes",
     "memory limit"),
]


def settings_values():
    """Values a setting may be given by mistake: zero, negative, huge, non-integer, NaN, inf,
    bool, text, None, complex, arrays, tuples of the wrong length or with a bad entry."""
    bad_entry = st.one_of(st.integers(-3, 0), st.floats(allow_nan=True, allow_infinity=True),
                          st.booleans(), st.text(max_size=3), st.none())
    return st.one_of(
        st.integers(-5, 0), st.integers(10**3, 10**30), st.integers(1, 4),
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([2.0, 0.5, -0.0, 1e300]),
        st.booleans(), st.none(), st.text(max_size=6), st.sampled_from(["same ", "VALID", "full"]),
        st.complex_numbers(max_magnitude=5), st.sampled_from([np.float64("nan"), np.int8(-1),
                                                              np.bool_(True), np.array([1, 2, 3])]),
        st.tuples(st.integers(1, 3)), st.tuples(st.integers(1, 3), st.integers(1, 3),
                                                st.integers(1, 3)),
        st.tuples(st.integers(1, 3), bad_entry), st.lists(bad_entry, min_size=2, max_size=2))


@pytest.mark.parametrize("target", SETTING_TARGETS, ids=[t[0] for t in SETTING_TARGETS])
@fuzz_settings(30)
@given(v=settings_values())
def test_an_invalid_setting_raises_a_clear_error(target, v):
    """(Under a 256 MB memory limit, so that a huge setting is refused, never computed.)"""
    _, call, name, rule = target
    if RULES[rule](v):
        return                            # a valid value: not this test's business
    with shapes.set_memory_limit(256 << 20):
        _expect_clear_error(lambda: call(v), name)


# ---------------------------------------------------------------------------------------------
# 3. Memory: refused before allocating, with the size it would need
# ---------------------------------------------------------------------------------------------

def _stand_in(shape, dtype=np.float32):
    """An array of any shape that costs no memory (every element is the same one)."""
    return np.broadcast_to(np.zeros((), dtype), shape)


#: (id, call, which of its arrays it allocates: the output, im2col's matrix, the padded input;
#:  the engine (fast, Conv2D) builds im2col a group of images at a time, so it may refuse or not)
MEMORY_TARGETS = [
    ("conv.conv2d", lambda x, w, p: conv.conv2d(x, w, padding=p), ("out", "cols", "padded")),
    ("conv.conv2d_naive", lambda x, w, p: conv.conv2d_naive(x, w, padding=p), ("out", "padded")),
    ("fast.conv2d", lambda x, w, p: fast.conv2d(x, w, padding=p), ("out",)),
    ("conv.im2col", lambda x, w, p: conv.im2col(x, w.shape[2:], padding=p), ("cols", "padded")),
    ("Conv2D.forward", lambda x, w, p: Conv2D(x.shape[1], w.shape[0], w.shape[2:],
                                                padding=p).forward(x), ("out",)),
]


@pytest.mark.parametrize("target", MEMORY_TARGETS, ids=[t[0] for t in MEMORY_TARGETS])
@fuzz_settings(15)
@given(n=st.integers(1, 10**5), c=st.integers(1, 64), hw=st.integers(1, 10**4),
       f=st.integers(1, 128), k=st.integers(1, 7), p=st.integers(0, 10**5))
def test_an_operation_too_large_for_memory_raises_before_allocating(target, n, c, hw, f, k, p):
    """Stand-in inputs of any size cost nothing; what the operation would allocate beyond them
    is refused with a ValueError (how much, and how to make it smaller) whenever it is larger
    than the limit, here 64 MB."""
    _, call, allocates = target
    k = min(k, hw + 2 * p)
    x, w = _stand_in((n, c, hw, hw)), _stand_in((f, c, k, k))
    out_hw = hw + 2 * p - k + 1
    sizes = {"out": n * f * out_hw ** 2 * 4, "cols": n * out_hw ** 2 * c * k * k * 4,
             "padded": n * c * (hw + 2 * p) ** 2 * 4 if p else 0}
    limit = 64 << 20
    if max(sizes[a] for a in allocates) <= limit:
        return                            # it would run (slowly, for the loops): not tested here
    with shapes.set_memory_limit(limit), pytest.raises(ValueError) as exc:
        call(x, w, p)
    message = str(exc.value)
    assert "would need" in message and "more than the memory limit of 64.0 MB" in message, message
    assert re.search(r"; use (a smaller|fewer|smaller)", message), message


def test_the_default_limit_refuses_a_terabyte_output_with_a_value_error():
    """With the default limit (half of the machine's memory): a ValueError, not MemoryError."""
    x = _stand_in((10**5, 64, 1000, 1000))
    w = _stand_in((64, 64, 3, 3))
    for call in (lambda: conv.conv2d(x, w), lambda: fast.conv2d(x, w),
                 lambda: conv.conv2d_naive(x, w), lambda: Conv2D(64, 64, 3).forward(x),
                 lambda: conv.im2col(x, 3), lambda: conv.max_pool2d(x, 3, 1, 1)):
        with pytest.raises(ValueError, match=r"would need [0-9.]+ TB, more than the memory limit "
                                             r"of [0-9.]+ [MGT]B \(half of this machine's memory"):
            call()


def test_memory_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("HELPERS_MEMORY_LIMIT", "1MB")
    assert shapes.memory_limit() == 1 << 20
    with pytest.raises(ValueError, match=r"the output \(N, F, OH, OW\) \(4, 64, 62, 62\) \(float32\) "
                                         r"would need 3.8 MB, more than the memory limit of 1.0 MB"):
        conv.conv2d(_stand_in((4, 3, 64, 64)), _stand_in((64, 3, 3, 3)))
    with shapes.set_memory_limit("10GB"):
        assert shapes.memory_limit() == 10 << 30
    monkeypatch.setenv("HELPERS_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="HELPERS_MEMORY_LIMIT must be a number of bytes"):
        shapes.memory_limit()
    monkeypatch.delenv("HELPERS_MEMORY_LIMIT")
    assert 0 < shapes.memory_limit() <= shapes._machine_memory()


# ---------------------------------------------------------------------------------------------
# 4. Valid edge cases against the loop reference
# ---------------------------------------------------------------------------------------------

@st.composite
def edge_configs(draw):
    """Small convolutions at the edges: N = 0, 1x1 images and kernels, a kernel exactly as
    large as the padded input, stride larger than the input."""
    n = draw(st.sampled_from([0, 1, 2]))
    c, f = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    p = draw(st.integers(0, 2))
    d = draw(st.integers(1, 2))
    whole = draw(st.booleans())                           # kernel == the padded input
    kh = (h + 2 * p - 1) // d + 1 if whole else draw(st.integers(1, (h + 2 * p - 1) // d + 1))
    kw = (w + 2 * p - 1) // d + 1 if whole else draw(st.integers(1, (w + 2 * p - 1) // d + 1))
    s = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 999)))
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((f, c, kh, kw))
    b = rng.standard_normal(f) if draw(st.booleans()) else None
    return x, wt, b, dict(stride=s, padding=p, dilation=d)


@fuzz_settings(60)
@given(cfg=edge_configs())
def test_edge_cases_of_convolution_match_the_loop_reference(cfg):
    x, w, b, kw = cfg
    expected = conv.conv2d_naive(x, w, b, **kw)
    dout = np.random.default_rng(1).standard_normal(expected.shape)
    dx_ref, dw_ref, db_ref = conv.conv2d_backward_naive(dout, x, w, b, **kw)
    for engine in (conv, fast):
        out, cache = engine.conv2d_forward(x, w, b, **kw)
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
        dx, dw, db = engine.conv2d_backward(dout, cache)
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dw, dw_ref, rtol=1e-10, atol=1e-12)
        assert (db is None) == (b is None)
        if b is not None:
            np.testing.assert_allclose(db, db_ref, rtol=1e-10, atol=1e-12)


@fuzz_settings(60)
@given(n=st.sampled_from([0, 1, 2]), c=st.integers(1, 2), h=st.integers(1, 4), w=st.integers(1, 4),
       k=st.integers(1, 4), s=st.one_of(st.none(), st.integers(1, 3)), whole=st.booleans(),
       seed=st.integers(0, 99))
def test_edge_cases_of_pooling_match_the_loop_reference(n, c, h, w, k, s, whole, seed):
    k = (h, w) if whole else (min(k, h), min(k, w))
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    for name, naive, naive_back in (("max", conv.max_pool2d_naive, conv.max_pool2d_backward_naive),
                                    ("avg", conv.avg_pool2d_naive, conv.avg_pool2d_backward_naive)):
        expected = naive(x, k, s)
        dout = np.random.default_rng(seed + 1).standard_normal(expected.shape)
        dx_ref = naive_back(dout, x, k, s)
        for engine in (conv, fast):
            out, cache = getattr(engine, f"{name}_pool2d_forward")(x, k, s)
            np.testing.assert_allclose(out, expected, rtol=1e-12)
            dx = getattr(engine, f"{name}_pool2d_backward")(dout, cache)
            np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_layers_run_an_empty_batch(engine):
    """N = 0 where it makes sense: every layer gives an empty batch of the right shape, and
    backward an empty gradient."""
    x = np.zeros((0, 1, 6, 6), np.float32)
    model = Sequential(Conv2D(1, 2, 3), ReLU(), MaxPool2D(2), AvgPool2D(1), Dropout(0.5),
                       Flatten(), Dense(8, 3), Tanh(), Sigmoid())
    with layers.use_engine(engine):
        out = model.forward(x)
        assert out.shape == (0, 3) and out.dtype == np.float32
        dx = model.backward(np.zeros((0, 3), np.float32))
        assert dx.shape == x.shape
        assert model.predict(x).shape == (0,)
        gap = GlobalAvgPool2D()
        assert gap.forward(x).shape == (0, 1)


def test_an_empty_batch_has_no_mean_loss():
    with pytest.raises(ValueError, match=r"logits has shape \(0, 3\); the mean loss of an empty "
                                         r"batch is undefined"):
        SoftmaxCrossEntropy().forward(np.zeros((0, 3)), np.zeros(0, int))
