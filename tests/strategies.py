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
