"""Tests of helpers.conv, the reference, and of what helpers.fast must share with it: im2col
plus a matrix product against the loops, adjointness, numerical gradients, overlapping windows,
dtypes, and every error message. Tests parametrized with ``ops`` run on both modules."""

import numpy as np
import pytest
from hypothesis import given

from helpers import conv, fast, shapes
from strategies import SETTINGS, conv_configs, pool_configs

ENGINES = pytest.mark.parametrize("ops", [conv, fast], ids=["reference", "fast"])


@SETTINGS
@given(conv_configs())
def test_reference_conv2d_forward_and_backward_match_the_loops(cfg):
    x, w, b, kw = cfg
    out, cache = conv.conv2d_forward(x, w, b, **kw)
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w, b, **kw), rtol=1e-10, atol=1e-10)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    got = conv.conv2d_backward(dout, cache)
    expected = conv.conv2d_backward_naive(dout, x, w, b, **kw)
    for g, e in zip(got, expected):
        if e is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(conv_configs())
def test_im2col_matmul_is_the_convolution(cfg):
    x, w, b, kw = cfg
    cols = conv.im2col(x, w.shape[2:], **kw)
    n, f = x.shape[0], w.shape[0]
    oh, ow = conv.output_size(x.shape[2:], w.shape[2:], **kw)
    assert cols.shape == (n * oh * ow, x.shape[1] * w.shape[2] * w.shape[3])
    out = (cols @ w.reshape(f, -1).T).reshape(n, oh, ow, f).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w, None, **kw), rtol=1e-10, atol=1e-10)


@SETTINGS
@given(conv_configs())
def test_col2im_is_the_adjoint_of_im2col(cfg):
    x, w, _, kw = cfg
    cols = conv.im2col(x, w.shape[2:], **kw)
    c = np.random.default_rng(2).standard_normal(cols.shape)
    back = conv.col2im(c, x.shape, w.shape[2:], **kw)
    assert back.shape == x.shape
    # <im2col(x), c> == <x, col2im(c)>
    np.testing.assert_allclose(np.vdot(cols, c), np.vdot(x, back), rtol=1e-10, atol=1e-10)



def test_im2col_row_and_column_order():
    x = np.arange(2 * 2 * 4 * 5, dtype=np.float64).reshape(2, 2, 4, 5)
    cols = conv.im2col(x, (2, 3), stride=(2, 1))
    oh, ow = conv.output_size((4, 5), (2, 3), stride=(2, 1))
    assert (oh, ow) == (2, 3)
    for n in range(2):
        for i in range(oh):
            for j in range(ow):
                row = cols[(n * oh + i) * ow + j]                  # rows ordered (n, oh, ow)
                window = x[n, :, 2 * i:2 * i + 2, j:j + 3]         # columns ordered (c, kh, kw)
                np.testing.assert_array_equal(row, window.reshape(-1))


def test_col2im_adds_overlaps():
    x = np.ones((1, 1, 3, 3))
    back = conv.col2im(conv.im2col(x, 2), x.shape, 2)
    # each pixel is counted once per 2x2 window that holds it
    np.testing.assert_array_equal(back[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def _numerical_gradient(f, a, h=1e-5):
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + h
        fp = f()
        a[idx] = old - h
        fm = f()
        a[idx] = old
        grad[idx] = (fp - fm) / (2 * h)
    return grad


def _rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


@pytest.mark.parametrize("kw", [
    dict(stride=1, padding=0, dilation=1),
    dict(stride=2, padding=1, dilation=1),
    dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
    dict(stride=1, padding="same", dilation=2),
    dict(stride=3, padding=2, dilation=2),
])
@ENGINES
def test_conv2d_backward_numerical_gradient(ops, kw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    out, cache = ops.conv2d_forward(x, w, b, **kw)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = ops.conv2d_backward(dout, cache)

    def loss():
        return np.sum(ops.conv2d(x, w, b, **kw) * dout)

    assert _rel_error(dx, _numerical_gradient(loss, x)) < 1e-6
    assert _rel_error(dw, _numerical_gradient(loss, w)) < 1e-6
    assert _rel_error(db, _numerical_gradient(loss, b)) < 1e-6


@ENGINES
def test_conv2d_known_values(ops):
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    w = np.array([[[[1, 0], [0, -1]]]], dtype=np.float32)           # x[i, j] - x[i+1, j+1]
    np.testing.assert_array_equal(ops.conv2d(x, w)[0, 0], np.full((3, 3), -5.0))
    # dilation 2: x[i, j] - x[i+2, j+2] (dilation=1 is the ordinary kernel above)
    np.testing.assert_array_equal(ops.conv2d(x, w, dilation=2)[0, 0], np.full((2, 2), -10.0))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, (2, 3)])
@pytest.mark.parametrize("d", [1, 2])
@ENGINES
def test_same_padding_keeps_size_and_pads_bottom_right(ops, k, d):
    x = np.random.default_rng(0).standard_normal((1, 2, 7, 8))
    w = np.random.default_rng(1).standard_normal((3, 2) + conv.pair(k, "kernel_size"))
    out = ops.conv2d(x, w, padding="same", dilation=d)
    assert out.shape == (1, 3, 7, 8)
    (top, bottom), (left, right) = conv.resolve_padding("same", k, d)
    kh, kw = conv.pair(k, "kernel_size")
    assert (top + bottom, left + right) == (d * (kh - 1), d * (kw - 1))
    assert bottom - top in (0, 1) and right - left in (0, 1)          # extra on bottom/right
    explicit = conv.conv2d_naive(np.pad(x, [(0, 0), (0, 0), (top, bottom), (left, right)]), w,
                                 dilation=d)
    np.testing.assert_allclose(out, explicit, atol=1e-12)


def test_resolve_padding_and_pad():
    assert conv.resolve_padding("same", 4) == ((1, 2), (1, 2))
    assert conv.resolve_padding("valid", 3) == ((0, 0), (0, 0))
    assert conv.resolve_padding((1, 2), 3) == ((1, 1), (2, 2))
    x = np.ones((1, 1, 2, 2))
    assert conv.pad(x, 1).shape == (1, 1, 4, 4)
    assert conv.pad(x, ((0, 1), (2, 0)), value=-1).shape == (1, 1, 3, 4)
    assert conv.pad(x, 0) is x


def test_output_size():
    assert conv.output_size(28, 5) == 24
    assert conv.output_size(28, 5, padding=2) == 28
    assert conv.output_size(28, 5, padding="same") == 28
    assert conv.output_size(28, 2, stride=2) == 14
    assert conv.output_size((32, 30), 3, stride=2, padding=1) == (16, 15)
    assert conv.output_size(7, 3, dilation=2) == 3                    # 3x3 dilated covers 5
    assert conv.output_size((7, 9), (3, 1), stride=(1, 2), padding="valid") == (5, 5)
    assert conv.output_size(7, 3, stride=2, exact=True) == 3
    assert conv.output_size(np.int64(7), np.int64(3)) == 5
    assert conv.output_size(np.array(7), 3) == 5
    assert isinstance(conv.output_size(7, 3), int)


def test_pool_output_size():
    assert conv.pool_output_size(28, 2) == 14                       # stride None = kernel
    assert conv.pool_output_size(7, 2) == 3                         # the last row is dropped
    assert conv.pool_output_size((7, 9), 3, stride=2, padding=1) == (4, 5)
    x = np.zeros((1, 1, 7, 9))
    assert conv.max_pool2d(x, 3, stride=2, padding=1).shape[2:] == (4, 5)
    with pytest.raises(ValueError, match="padding 2 is more than half of kernel_size 3"):
        conv.pool_output_size(7, 3, padding=2)


def test_pair():
    assert conv.pair(3, "kernel_size") == (3, 3)
    assert conv.pair((2, 5), "stride") == (2, 5)
    assert conv.pair([np.int32(2), 1], "stride") == (2, 1)
    assert conv.pair(0, "padding") == (0, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@ENGINES
def test_dtype_is_kept(ops, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    out, cache = ops.conv2d_forward(x, w, b, padding=1)
    grads = ops.conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    assert conv.conv2d_naive(x, w, b).dtype == dtype
    assert conv.im2col(x, 3).dtype == dtype
    assert conv.col2im(conv.im2col(x, 3), x.shape, 3).dtype == dtype
    for fwd, bwd in [(conv.max_pool2d_forward, conv.max_pool2d_backward),
                     (conv.avg_pool2d_forward, conv.avg_pool2d_backward)]:
        p, pc = fwd(x, 2)
        assert p.dtype == dtype and bwd(np.ones_like(p), pc).dtype == dtype
    assert conv.max_pool2d_naive(x, 2).dtype == dtype
    assert conv.avg_pool2d_naive(x, 2).dtype == dtype
    # float32 results agree with the float64 computation to float32 precision
    if dtype == np.float32:
        ref = ops.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                          padding=1)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


@ENGINES
def test_integer_input_gives_float32(ops):
    x = np.arange(32, dtype=np.uint8).reshape(1, 2, 4, 4)
    assert ops.max_pool2d(x, 2).dtype == np.float32
    assert ops.conv2d(x, np.ones((1, 2, 2, 2), np.float32)).dtype == np.float32


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------

@ENGINES
@SETTINGS
@given(pool_configs())
def test_max_pool_matches_naive(ops, cfg):
    x, kw = cfg
    out, cache = ops.max_pool2d_forward(x, **kw)
    np.testing.assert_array_equal(out, conv.max_pool2d_naive(x, **kw))
    np.testing.assert_array_equal(out, ops.max_pool2d(x, **kw))
    dout = np.random.default_rng(3).standard_normal(out.shape)
    np.testing.assert_allclose(ops.max_pool2d_backward(dout, cache),
                               conv.max_pool2d_backward_naive(dout, x, **kw), atol=1e-12)


@SETTINGS
@given(pool_configs())
def test_avg_pool_matches_naive(cfg):
    x, kw = cfg
    out, cache = conv.avg_pool2d_forward(x, **kw)
    np.testing.assert_allclose(out, conv.avg_pool2d_naive(x, **kw), atol=1e-12)
    np.testing.assert_allclose(out, conv.avg_pool2d(x, **kw), atol=1e-12)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    np.testing.assert_allclose(conv.avg_pool2d_backward(dout, cache),
                               conv.avg_pool2d_backward_naive(dout, x, **kw), atol=1e-12)


@ENGINES
def test_pool_stride_defaults_to_kernel_and_windows_that_do_not_tile(ops):
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    out = ops.max_pool2d(x, 2)                  # stride 2; the last row and column are dropped
    np.testing.assert_array_equal(out[0, 0], [[6, 8], [16, 18]])
    out, cache = ops.max_pool2d_forward(x, 2)
    dx = ops.max_pool2d_backward(np.ones_like(out), cache)
    assert dx[0, 0, 4].sum() == 0 and dx[0, 0, :, 4].sum() == 0 and dx.sum() == 4


@ENGINES
def test_max_pool_padding_is_minus_infinity_and_avg_counts_zeros(ops):
    x = -np.ones((1, 1, 2, 2))
    assert np.all(ops.max_pool2d(x, 3, stride=1, padding=1) == -1)          # -inf never wins
    np.testing.assert_allclose(ops.avg_pool2d(x, 3, stride=1, padding=1), -4 / 9)


@pytest.mark.parametrize("backward", ["fast", "naive"])
def test_max_pool_backward_adds_overlapping_windows(backward):
    # one large pixel is the max of all nine 3x3 windows (stride 1) that contain it: its
    # gradient is the sum of nine douts. A backward that writes with = instead of += gives 1.
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 10.0
    out, cache = conv.max_pool2d_forward(x, 3, stride=1)
    dout = np.ones_like(out)
    if backward == "fast":
        dx = conv.max_pool2d_backward(dout, cache)
    else:
        dx = conv.max_pool2d_backward_naive(dout, x, 3, stride=1)
    assert dx[0, 0, 2, 2] == 9.0
    assert dx.sum() == out.size


@ENGINES
def test_max_pool_backward_overlap_with_stride_2(ops):
    # 3x3 windows, stride 2 on a 5x5 input overlap on row and column 2
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0
    out, cache = ops.max_pool2d_forward(x, 3, stride=2)
    dx = ops.max_pool2d_backward(np.arange(1.0, 5.0).reshape(out.shape), cache)
    assert dx[0, 0, 2, 2] == 1 + 2 + 3 + 4


@ENGINES
def test_avg_pool_backward_adds_overlapping_windows(ops):
    x = np.zeros((1, 1, 3, 3))
    out, cache = ops.avg_pool2d_forward(x, 2, stride=1)
    dx = ops.avg_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_allclose(dx[0, 0], np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4)


@ENGINES
def test_pool_numerical_gradient(ops):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 7, 6))             # distinct values: max is differentiable
    for fwd, bwd in [(conv.max_pool2d_forward, conv.max_pool2d_backward),
                     (conv.avg_pool2d_forward, conv.avg_pool2d_backward)]:
        out, cache = fwd(x, 3, stride=2, padding=1)
        dout = rng.standard_normal(out.shape)
        dx = bwd(dout, cache)
        num = _numerical_gradient(lambda: np.sum(fwd(x, 3, stride=2, padding=1)[0] * dout), x)
        assert _rel_error(dx, num) < 1e-6


# ---------------------------------------------------------------------------------------------
# Errors: every invalid configuration names the parameter and the rule
# ---------------------------------------------------------------------------------------------

X = np.zeros((2, 3, 5, 5), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)

ERRORS = [
    # (call, substrings the message must contain)
    (lambda: conv.output_size(5, 0), ["kernel_size", "positive integer", "0"]),
    (lambda: conv.output_size(5, -3), ["kernel_size", "positive integer"]),
    (lambda: conv.output_size(5, 2.5), ["kernel_size", "integer", "2.5"]),
    (lambda: conv.output_size(5, 3.0), ["kernel_size", "integer", "use 3"]),
    (lambda: conv.output_size(5, (3, 3, 3)), ["kernel_size", "(h, w) pair", "3 entries"]),
    (lambda: conv.output_size(5, 3, stride=0), ["stride", "positive integer", "stride 1"]),
    (lambda: conv.output_size(5, 3, stride=True), ["stride", "bool"]),
    (lambda: conv.output_size(5, 3, dilation=0),
     ["dilation", "positive integer", "dilation 1 is an ordinary kernel"]),
    (lambda: conv.output_size(5, 3, padding=-1), ["padding", "non-negative"]),
    (lambda: conv.output_size(5, 3, padding="SAME"), ["padding", "'same'"]),
    (lambda: conv.output_size(5, 3, padding="full"), ["padding", "'valid' or 'same'"]),
    (lambda: conv.output_size(5, 7),
     ["kernel_size 7 is larger than the padded input 5 (n=5 + 2*padding 0); "
      "use padding >= 1 or a smaller kernel"]),
    (lambda: conv.output_size((5, 9), 3, dilation=3),
     ["kernel_size 3 (dilated: 7) is larger than the padded input 5 (H=5 + 2*padding 0)",
      "padding >= 1", "smaller dilation"]),
    (lambda: conv.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 7, 7))),
     ["kernel_size 7 is larger than the padded input 5 (H=5 + 2*padding 0); "
      "use padding >= 1 or a smaller kernel"]),
    (lambda: conv.output_size(5, 3, stride=2, padding="same"),
     ["padding='same'", "stride 1", "stride 2", "padding=1"]),
    (lambda: conv.output_size(6, 3, stride=2, exact=True),
     ["exact=True", "stride 2", "n=6", "not a multiple", "dropped"]),
    (lambda: conv.output_size((7, 6), 3, stride=2, exact=True), ["exact=True", "W=6"]),
    (lambda: conv.output_size(7, 3, stride=3, exact=True),
     ["exact=True", "use padding 1", "n=6 or 9"]),
    (lambda: conv.output_size(0, 3), ["n (input size)", "positive"]),
    (lambda: conv.conv2d(np.zeros((28, 28)), W[:, :1]), ["x must be 4-D", "x[None, None]"]),
    (lambda: conv.conv2d(np.zeros((3, 28, 28)), W), ["x must be 4-D", "x[None]"]),
    (lambda: conv.conv2d(np.zeros((28, 28, 3)), W), ["x must be 4-D", "transpose(2, 0, 1)"]),
    (lambda: conv.conv2d(X, W[:, :2]),
     ["w has 2 input channels", "x has 3", "must match the input channels"]),
    (lambda: conv.conv2d(np.zeros((2, 5, 5, 3)), W), ["input channels", "transpose(0, 3, 1, 2)"]),
    (lambda: conv.conv2d(X, W[0]), ["w must be 4-D", "(F, C, KH, KW)"]),
    (lambda: conv.conv2d(X, W, np.zeros((1, 4))), ["b must have shape (F,) = (4,)", "reshape(-1)"]),
    (lambda: conv.conv2d(X, W, np.zeros(3)), ["b must have shape (F,) = (4,)", "(3,)"]),
    (lambda: conv.conv2d(X, W, stride=0), ["stride", "positive integer"]),
    (lambda: conv.conv2d(X, W, padding=-2), ["padding", "non-negative"]),
    (lambda: conv.conv2d(X, W, stride=2, padding="same"), ["padding='same'", "stride 1"]),
    (lambda: conv.conv2d_backward(np.zeros((2, 4, 2, 2)), conv.conv2d_forward(X, W)[1]),
     ["dout", "(2, 4, 3, 3)"]),
    (lambda: conv.im2col(X, 0), ["kernel_size", "positive integer"]),
    (lambda: conv.im2col(X[0], 3), ["x must be 4-D", "x[None]"]),
    (lambda: conv.col2im(np.zeros((5, 27)), X.shape, 3), ["cols must have shape", "(18, 27)"]),
    (lambda: conv.max_pool2d(X, 0), ["kernel_size", "positive integer"]),
    (lambda: conv.max_pool2d(X, 2, padding=2),
     ["padding 2 is more than half of kernel_size 2", "padding <= 1"]),
    (lambda: conv.avg_pool2d(X, 6),
     ["kernel_size 6 is larger than the padded input 5"]),
    (lambda: conv.max_pool2d(X[0, 0], 2), ["x must be 4-D", "x[None, None]"]),
    (lambda: conv.avg_pool2d(X, 2, stride=-1), ["stride", "positive integer"]),
]


@pytest.mark.parametrize("call, parts", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_name_parameter_and_rule(call, parts):
    with pytest.raises(ValueError) as info:
        call()
    for part in parts:
        assert part in str(info.value), f"{part!r} not in {str(info.value)!r}"


def test_every_entry_point_gives_the_same_message():
    x = np.zeros((1, 2, 5, 5))
    w = np.zeros((3, 2, 7, 7))
    messages = set()
    for call in [lambda: conv.output_size((5, 5), 7), lambda: conv.conv2d(x, w),
                 lambda: conv.conv2d_forward(x, w), lambda: conv.conv2d_naive(x, w),
                 lambda: conv.im2col(x, 7), lambda: conv.col2im(np.zeros((1, 98)), x.shape, 7),
                 lambda: conv.max_pool2d(x, 7), lambda: conv.avg_pool2d_naive(x, 7),
                 lambda: fast.conv2d(x, w), lambda: fast.max_pool2d(x, 7)]:
        with pytest.raises(ValueError) as info:
            call()
        messages.add(str(info.value))
    assert messages == {"kernel_size 7 is larger than the padded input 5 "
                        "(H=5 + 2*padding 0); use padding >= 1 or a smaller kernel"}


# ---------------------------------------------------------------------------------------------
# Optional: the conventions agree with PyTorch (skipped when torch is not installed)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, dilation=1),
                                dict(stride=1, padding="same", dilation=2),
                                dict(stride=(1, 2), padding=(2, 0), dilation=(1, 3))])
@ENGINES
def test_agrees_with_pytorch(ops, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 10))
    w = rng.standard_normal((4, 3, 4, 3))                              # even kernel height
    b = rng.standard_normal(4)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                     torch.from_numpy(b), **kw).numpy()
    np.testing.assert_allclose(ops.conv2d(x, w, b, **kw), ref, rtol=1e-10, atol=1e-10)
    for k, s, p in [(3, 2, 1), (2, None, 0), (3, 1, 1)]:
        tx = torch.from_numpy(x)
        np.testing.assert_allclose(ops.max_pool2d(x, k, s, p),
                                   torch.nn.functional.max_pool2d(tx, k, s, p).numpy())
        np.testing.assert_allclose(ops.avg_pool2d(x, k, s, p),
                                   torch.nn.functional.avg_pool2d(tx, k, s, p).numpy(),
                                   atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
@ENGINES
def test_conv2d_backward_without_dx(ops, stride):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 7, 6))
    w = rng.standard_normal((4, 2, 3, 3))
    b = rng.standard_normal(4)
    out, cache = ops.conv2d_forward(x, w, b, stride=stride, padding=1)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = ops.conv2d_backward(dout, cache)
    none, dw2, db2 = ops.conv2d_backward(dout, cache, need_dx=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dw, dw2)
    np.testing.assert_array_equal(db, db2)


@ENGINES
def test_max_pool_ties_go_to_the_first_tap_as_in_the_loops(ops):
    # 0/1 images: nearly every window holds several equal maxima
    x = np.random.default_rng(0).integers(0, 2, (2, 2, 7, 6)).astype(np.float64)
    for k, s, p in [(3, 2, 1), (2, 1, 0), ((2, 3), (1, 2), 0), (2, 2, 0)]:
        out, cache = ops.max_pool2d_forward(x, k, s, p)
        dout = np.random.default_rng(1).standard_normal(out.shape)
        np.testing.assert_allclose(ops.max_pool2d_backward(dout, cache),
                                   conv.max_pool2d_backward_naive(dout, x, k, s, p), atol=1e-12)


def test_col2im_x_shape_must_be_4d():
    with pytest.raises(ValueError, match=r"x_shape must be 4-D \(N, C, H, W\), got \(9, 9\)"):
        conv.col2im(np.zeros((9, 9)), (9, 9), 3)


# --- issue 29: what the fuzzer found (tests/test_fuzz_helpers.py), one test each -------------

@pytest.mark.parametrize("ops", [conv, fast], ids=["reference", "fast"])
def test_complex_input_is_refused_not_cast_to_its_real_part(ops):
    x = np.ones((1, 1, 4, 4), dtype=complex)
    with pytest.raises(TypeError, match=r"x must hold real numbers .*complex128 \(complex\); keep "
                                        r"the real part \(x.real\)"):
        ops.conv2d(x, np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("ops", [conv, fast], ids=["reference", "fast"])
def test_an_object_array_holding_none_is_refused_not_turned_into_nan(ops):
    x = np.ones((1, 1, 4, 4), dtype=object)
    x[0, 0, 1, 1] = None
    with pytest.raises(TypeError, match=r"x must hold real numbers .*object .*look for None"):
        ops.conv2d(x, np.ones((1, 1, 2, 2)))
    with pytest.raises(TypeError, match=r"w must hold real numbers"):
        ops.conv2d(np.ones((1, 1, 4, 4)), x)


@pytest.mark.parametrize("bad, kind", [(np.ones((1, 1, 3, 3), bool), "bool"),
                                       (np.full((1, 1, 3, 3), "1"), "string")])
def test_bool_and_text_images_are_refused(bad, kind):
    for call in (lambda: conv.max_pool2d(bad, 2), lambda: fast.max_pool2d(bad, 2),
                 lambda: conv.im2col(bad, 2), lambda: conv.conv2d_naive(bad, np.ones((1, 1, 2, 2)))):
        with pytest.raises(TypeError, match=rf"x must hold real numbers.*{kind}"):
            call()


def test_ragged_lists_and_none_are_named():
    with pytest.raises(ValueError, match=r"x must be a rectangular array of numbers"):
        conv.conv2d([[[[1.0, 2.0], [3.0]]]], np.ones((1, 1, 1, 1)))
    with pytest.raises(TypeError, match=r"x must be an array of numbers, got NoneType"):
        conv.max_pool2d(None, 2)
    with pytest.raises(TypeError, match=r"dout must hold real numbers"):
        conv.conv2d_backward_naive(np.ones((1, 1, 1, 1), complex), np.ones((1, 1, 2, 2)),
                                   np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("ops", [conv, fast], ids=["reference", "fast"])
def test_empty_channel_height_or_width_is_refused_but_an_empty_batch_runs(ops):
    for shape, axis in (((1, 0, 4, 4), "C=0"), ((1, 1, 0, 4), "H=0"), ((2, 1, 4, 0), "W=0")):
        with pytest.raises(ValueError, match=rf"x of shape \(N, C, H, W\) = .* has an empty axis "
                                             rf"\({axis}\)"):
            ops.conv2d(np.ones(shape), np.ones((1, max(shape[1], 1), 1, 1)))
    x = np.ones((0, 2, 5, 5))
    w = np.ones((3, 2, 3, 3))
    out, cache = ops.conv2d_forward(x, w, np.ones(3))
    assert out.shape == (0, 3, 3, 3)
    dx, dw, db = ops.conv2d_backward(np.ones(out.shape), cache)
    assert dx.shape == x.shape and (dw == 0).all() and (db == 0).all()
    assert ops.max_pool2d(x, 2).shape == (0, 2, 2, 2)


def test_col2im_checks_x_shape_and_cols():
    with pytest.raises(ValueError, match=r"x_shape \(N, C, H, W\) must have N >= 0 and C, H, W >= 1"):
        conv.col2im(np.zeros((0, 9)), (1, 0, 3, 3), 3)
    with pytest.raises(TypeError, match=r"cols must hold real numbers"):
        conv.col2im(np.zeros((1, 9), complex), (1, 1, 3, 3), 3)


def test_memory_guard_refuses_an_output_that_would_not_fit():
    """Before: numpy's MemoryError, or the kernel killed. A stand-in costs no memory."""
    x = np.broadcast_to(np.float32(0), (1000, 3, 512, 512))
    w = np.zeros((64, 3, 3, 3), np.float32)
    with shapes.set_memory_limit(64 << 20):
        for call, what in ((lambda: conv.conv2d(x, w), r"the output \(N, F, OH, OW\)"),
                           (lambda: fast.conv2d(x, w), r"the output \(N, F, OH, OW\)"),
                           (lambda: conv.im2col(x, 3), r"im2col's matrix \(N\*OH\*OW, C\*KH\*KW\)"),
                           (lambda: conv.pad(x, 100), r"the padded input"),
                           (lambda: conv.max_pool2d(x, 3, 1, 1), r"the padded input")):
            with pytest.raises(ValueError, match=rf"{what} .* would need [0-9.]+ GB, more than the "
                                                 rf"memory limit of 64.0 MB .*; use "):
                call()
