"""helpers.layers: gradient checks of every layer (float64), shapes, dtypes, seeding, errors."""
import warnings

import numpy as np
import pytest

from helpers import conv, layers
from helpers.fast import pooling as fpooling
from helpers.fast import threads as fthreads
from helpers.gradcheck import check_layer, numerical_gradient, rel_error
from helpers.layers import (AvgPool2D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten,
                            GlobalAvgPool2D, MaxPool2D, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh)

TOL = 1e-6


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def distinct(*shape, seed=0):
    """Values 0.1 apart in random order: no ties within a pooling window, no value near a kink."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n).reshape(shape) - n / 2 + 0.5) * 0.1


def assert_grads_ok(layer, x, **kw):
    errors = check_layer(layer, x, **kw)
    assert errors, "nothing was checked"
    assert max(errors.values()) < TOL, errors
    return errors


# --------------------------------------------------------------------------------------------
# Gradient checks
# --------------------------------------------------------------------------------------------
CONV_CASES = [
    # (in_shape (N, C, H, W), out_channels, kernel_size, stride, padding, dilation)
    ((2, 3, 7, 6), 4, 3, 1, 0, 1),
    ((2, 3, 7, 6), 4, 3, 2, 1, 1),              # stride 2, windows overlap
    ((2, 2, 8, 5), 3, (3, 2), (2, 1), (1, 2), 1),  # non-square kernel, stride and padding
    ((1, 2, 9, 7), 3, 3, 1, 0, 2),              # dilation 2
    ((2, 2, 9, 8), 2, (2, 3), (3, 2), 1, (2, 1)),  # everything non-square, windows don't tile
    ((2, 1, 6, 5), 3, 4, 1, "same", 1),         # even kernel with "same": extra pad bottom/right
    ((1, 2, 5, 7), 2, 1, 2, 0, 1),              # 1x1 projection with stride
    ((2, 2, 4, 4), 3, 4, 1, 0, 1),              # kernel as large as the input
]


@pytest.mark.parametrize("shape, f, k, s, p, d", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_gradients(shape, f, k, s, p, d, bias):
    layer = Conv2D(shape[1], f, k, stride=s, padding=p, dilation=d, bias=bias, rng=1)
    errors = assert_grads_ok(layer, randn(*shape))
    assert set(errors) == ({"x", "W", "b"} if bias else {"x", "W"})


@pytest.mark.parametrize("shape, f, k, s, p, d", CONV_CASES)
def test_conv2d_forward_matches_naive_reference(shape, f, k, s, p, d):
    layer = Conv2D(shape[1], f, k, stride=s, padding=p, dilation=d, rng=2)
    layer.params["b"][:] = np.arange(f)
    x = randn(*shape).astype(np.float32)
    out = layer.forward(x)
    ref = conv.conv2d_naive(x, layer.params["W"], layer.params["b"], s, p, d)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    assert out.shape[1:] == layer.output_shape(shape[1:])


POOL_CASES = [
    # (in_shape, kernel_size, stride, padding)
    ((2, 3, 6, 8), 2, None, 0),          # the usual: tiles exactly
    ((2, 2, 7, 6), 3, 2, 1),             # overlapping windows, padding
    ((2, 2, 7, 9), (2, 3), (1, 2), 0),   # non-square, overlapping in H
    ((1, 2, 7, 7), 2, None, 0),          # windows do not tile: last row/column dropped
    ((1, 1, 5, 6), 3, 1, 1),             # stride 1: every pixel in up to 9 windows
]


@pytest.mark.parametrize("shape, k, s, p", POOL_CASES)
@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
def test_pool_gradients(cls, shape, k, s, p):
    layer = cls(k, stride=s, padding=p)
    x = distinct(*shape)
    assert_grads_ok(layer, x)
    assert layer.forward(x).shape[1:] == layer.output_shape(shape[1:])


@pytest.mark.parametrize("shape, k, s, p", POOL_CASES)
def test_pools_match_conv_functions(shape, k, s, p):
    x = distinct(*shape).astype(np.float32)
    np.testing.assert_array_equal(MaxPool2D(k, s, p).forward(x), conv.max_pool2d(x, k, s, p))
    np.testing.assert_allclose(AvgPool2D(k, s, p).forward(x), conv.avg_pool2d(x, k, s, p),
                               rtol=1e-6)


def test_maxpool_gradient_goes_to_the_max_and_adds_where_windows_overlap():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0                  # the max of all four 2x2 windows (stride 1)
    layer = MaxPool2D(2, stride=1)
    layer.forward(x)
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 4.0
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("layer, x", [
    (GlobalAvgPool2D(), randn(2, 3, 4, 5)),
    (ReLU(), distinct(3, 4, 2)),          # away from the kink at 0
    (Sigmoid(), randn(3, 5)),
    (Tanh(), randn(3, 5)),
    (Flatten(), randn(2, 3, 4, 5)),
    (Dense(5, 4, rng=0), randn(3, 5)),
    (Dense(6, 2, bias=False, init="xavier", rng=0), randn(4, 6)),
    (Dropout(0.4, rng=0), randn(4, 6)),
    (BatchNorm2D(3), randn(4, 3, 3, 2) * 2 + 1),
], ids=lambda v: type(v).__name__ if not isinstance(v, np.ndarray) else "")
def test_other_layer_gradients(layer, x):
    errors = assert_grads_ok(layer, x)
    assert set(errors) == {"x", *layer.params}             # every parameter was checked


@pytest.mark.parametrize("k, s", [(2, None), (3, 2)])      # the tiled path and the general one
def test_maxpool_layer_ties_send_the_gradient_to_the_first_max_only(k, s):
    x = np.zeros((1, 1, 6, 6))
    layer = MaxPool2D(k, stride=s)
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(out))
    assert dx.sum() == out.size                            # one pixel per window
    np.testing.assert_array_equal(dx, conv.max_pool2d_backward_naive(np.ones_like(out), x, k, s))


def test_maxpool_tiled_path_shares_large_batches_between_two_threads(monkeypatch):
    # the large-array path (layers.SHARE_SIZE) pools half the images in the second thread; the
    # result, ties included, is bit for bit the loops' result, and a small array stays in one
    import threading
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(fthreads, "THREADS", 2)
    monkeypatch.setattr(fpooling, "SHARE_SIZE", 200)
    seen = set()
    real = fthreads.share_images

    def spy(work, n, half=None):
        def watched(lo, hi):
            seen.add(threading.current_thread().name)
            return work(lo, hi)
        return real(watched, n, half)

    monkeypatch.setattr(fthreads, "share_images", spy)
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, (5, 3, 6, 4)).astype(np.float32)   # many ties in the windows
    dout = rng.standard_normal((5, 3, 3, 2)).astype(np.float32)
    layer = MaxPool2D(2)
    out = layer.forward(x)
    dx = layer.backward(dout)
    assert len(seen) == 2                                   # this thread and helpers' second
    np.testing.assert_array_equal(out, conv.max_pool2d_naive(x, 2))
    np.testing.assert_array_equal(dx, conv.max_pool2d_backward_naive(dout, x, 2))
    seen.clear()
    layer.forward(x[:1, :1])                                # 24 numbers: one thread
    assert len(seen) == 1
    with pytest.raises(ValueError, match="dout must have the shape"):
        layer.backward(dout[:, :2])


def test_batchnorm_gradients_in_eval_mode():
    layer = BatchNorm2D(3)
    layer.buffers["running_mean"][:] = [0.5, -1, 2]
    layer.buffers["running_var"][:] = [1, 4, 0.25]
    errors = assert_grads_ok(layer, randn(4, 3, 3, 2), train=False)
    assert set(errors) == {"x", "gamma", "beta"}


def test_softmax_cross_entropy_gradient():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    loss = SoftmaxCrossEntropy()
    loss.forward(logits, y)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda z: loss.forward(z, y), logits.copy())
    assert rel_error(analytic, numeric) < TOL


def test_softmax_cross_entropy_values_and_stability():
    loss = SoftmaxCrossEntropy()
    # uniform logits: loss is log(K)
    assert loss.forward(np.zeros((3, 4)), np.array([0, 1, 2])) == pytest.approx(np.log(4))
    # very large logits, e.g. 1e4: finite, exact
    big = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=np.float32)
    value = loss.forward(big, np.array([0, 0]))
    assert np.isfinite(value)
    assert value == pytest.approx((0 + (1e4 + np.log(2))) / 2, rel=1e-6)
    d = loss.backward()
    assert np.isfinite(d).all() and d.dtype == np.float32
    np.testing.assert_allclose(d, [[0, 0, 0], [-0.5, 0.25, 0.25]], atol=1e-7)
    # logits whose row spans more than float32 holds (3e38 - (-3e38)): the loss is still exact,
    # without an overflow warning, and the gradient stays float32
    huge = np.array([[3e38, -3e38, 0.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loss.forward(huge, np.array([1])) == pytest.approx(6e38, rel=1e-6)
        d = loss.backward()
    assert d.dtype == np.float32
    np.testing.assert_array_equal(d, [[1, -1, 0]])
    # a perfect prediction costs 0.0, not -0.0
    assert str(loss.forward(huge, np.array([0]))) == "0.0"


# --------------------------------------------------------------------------------------------
# Shapes, behaviour, initialisation, repr
# --------------------------------------------------------------------------------------------
def test_output_shape_without_data():
    assert Conv2D(1, 6, 5).output_shape((1, 32, 32)) == (6, 28, 28)
    assert Conv2D(3, 8, 3, stride=2, padding=1).output_shape((3, 32, 31)) == (8, 16, 16)
    assert Conv2D(3, 8, (3, 5), padding="same").output_shape((3, 10, 11)) == (8, 10, 11)
    assert MaxPool2D(2).output_shape((6, 28, 28)) == (6, 14, 14)
    assert AvgPool2D(3, 2, 1).output_shape((4, 7, 7)) == (4, 4, 4)
    assert GlobalAvgPool2D().output_shape((16, 5, 5)) == (16,)
    assert Flatten().output_shape((16, 5, 5)) == (400,)
    assert Dense(400, 120).output_shape((400,)) == (120,)
    assert ReLU().output_shape((3, 4, 5)) == (3, 4, 5)


def test_parameter_shapes_and_he_xavier_init():
    layers.seed(0)
    c = Conv2D(16, 32, 3)
    assert c.params["W"].shape == (32, 16, 3, 3) and c.params["b"].shape == (32,)
    assert not c.params["b"].any()
    assert c.params["W"].std() == pytest.approx(np.sqrt(2 / (16 * 9)), rel=0.05)       # He
    d = Dense(400, 300, init="xavier")
    assert d.params["W"].shape == (400, 300)
    assert d.params["W"].std() == pytest.approx(np.sqrt(1 / 400), rel=0.05)            # Xavier
    assert c.params["W"].dtype == d.params["W"].dtype == np.float32


def test_seeding_is_reproducible_and_independent_of_first_use():
    layers.seed(42)
    a1, b1 = Conv2D(3, 4, 3), Dense(5, 6)
    layers.seed(42)
    a2, b2 = Conv2D(3, 4, 3), Dense(5, 6)
    b2.params, a2.params                     # first use in the other order
    np.testing.assert_array_equal(a1.params["W"], a2.params["W"])
    np.testing.assert_array_equal(b1.params["W"], b2.params["W"])
    assert not np.array_equal(Conv2D(3, 4, 3, rng=1).params["W"], Conv2D(3, 4, 3, rng=2).params["W"])
    np.testing.assert_array_equal(Dense(5, 6, rng=7).params["W"], Dense(5, 6, rng=7).params["W"])
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(Dense(5, 6, rng=g1).params["W"], Dense(5, 6, rng=g2).params["W"])


def test_weights_are_created_on_first_use_only():
    layer = Dense(25088, 4096)
    assert layer._params is None
    assert layer.count_params() == (25088 * 4096 + 4096, 0)
    assert layer._params is None


def test_dropout_train_and_eval():
    x = np.ones((200, 500), dtype=np.float32)
    layer = Dropout(0.3, rng=0)
    out = layer.forward(x, train=True)
    assert out.dtype == np.float32
    assert (out == 0).mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)   # inverted dropout
    assert out.mean() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(layer.backward(x), out)          # same mask
    assert layer.forward(x, train=False) is x
    assert Dropout(0.0).forward(x) is x


def test_batchnorm_statistics():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((8, 2, 4, 4)) * [[[[3.0]], [[0.5]]]] + [[[[2.0]], [[-1.0]]]]).astype(np.float32)
    bn = BatchNorm2D(2, momentum=0.1)
    out = bn.forward(x, train=True)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-3)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.buffers["running_var"], 0.9 + 0.1 * var, rtol=1e-5)
    # evaluation uses the running statistics, not the batch's
    out_eval = bn.forward(x, train=False)
    expected = (x - bn.buffers["running_mean"][:, None, None]) / np.sqrt(
        bn.buffers["running_var"][:, None, None] + 1e-5)
    np.testing.assert_allclose(out_eval, expected, rtol=1e-5, atol=1e-5)
    assert bn.count_params() == (4, 4)        # gamma, beta trainable; running stats not


def test_frozen_layer_passes_dx_but_stores_no_grads():
    layer = Conv2D(2, 3, 3, rng=0)
    x = randn(2, 2, 5, 5).astype(np.float32)
    layer.forward(x)
    dx_trainable = layer.backward(np.ones((2, 3, 3, 3), np.float32))
    layer.grads.clear()
    layer.trainable = False
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones((2, 3, 3, 3), np.float32)), dx_trainable)
    assert layer.grads == {}
    assert layer.count_params() == (0, 3 * 2 * 9 + 3)
    assert "trainable=False" in repr(layer)


def test_reprs():
    assert repr(Conv2D(3, 16, 3, stride=2, padding=1)) == "Conv2D(3, 16, kernel_size=3, stride=2, padding=1)"
    assert repr(Conv2D(3, 16, (3, 5), padding="same", dilation=2, bias=False)) == (
        "Conv2D(3, 16, kernel_size=(3, 5), padding='same', dilation=2, bias=False)")
    assert repr(MaxPool2D(2)) == "MaxPool2D(kernel_size=2)"
    assert repr(AvgPool2D(3, stride=1, padding=1)) == "AvgPool2D(kernel_size=3, stride=1, padding=1)"
    assert repr(Dense(400, 120)) == "Dense(400, 120)"
    assert repr(Dropout(0.5)) == "Dropout(p=0.5)"
    assert repr(BatchNorm2D(8)) == "BatchNorm2D(8)"
    assert repr(ReLU()) == "ReLU()"


# --------------------------------------------------------------------------------------------
# float32 stays float32
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layer, shape", [
    (Conv2D(2, 3, 3, stride=2, padding=1), (2, 2, 6, 6)),
    (MaxPool2D(2), (2, 2, 6, 6)), (AvgPool2D(3, 1, 1), (2, 2, 6, 6)),
    (GlobalAvgPool2D(), (2, 2, 6, 6)), (ReLU(), (2, 2, 6, 6)), (Sigmoid(), (2, 5)),
    (Tanh(), (2, 5)), (Flatten(), (2, 2, 3, 3)), (Dense(5, 4), (2, 5)),
    (Dropout(0.5), (2, 5)), (BatchNorm2D(2), (3, 2, 4, 4)),
], ids=lambda v: type(v).__name__ if not isinstance(v, tuple) else "")
def test_float32_in_float32_out(layer, shape):
    x = randn(*shape).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == np.float32
    for name, g in layer.grads.items():
        assert g.dtype == np.float32, name
    for name, p in layer.state_dict().items():
        assert p.dtype == np.float32, name


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
@pytest.mark.parametrize("layer, shape", [
    (Conv2D(2, 3, 3, padding=1), (2, 2, 4, 4)), (MaxPool2D(2), (2, 2, 4, 4)),
    (MaxPool2D(3, 1), (2, 2, 4, 4)), (AvgPool2D(2), (2, 2, 4, 4)),
    (GlobalAvgPool2D(), (2, 2, 4, 4)), (ReLU(), (2, 5)), (Sigmoid(), (2, 5)), (Tanh(), (2, 5)),
    (Dense(5, 4), (2, 5)), (Dropout(0.5), (2, 5)), (BatchNorm2D(2), (3, 2, 4, 4)),
], ids=lambda v: type(v).__name__ if not isinstance(v, tuple) else "")
def test_integer_input_gives_float32(layer, shape, dtype):
    x = (np.arange(np.prod(shape)).reshape(shape) % 7).astype(dtype)
    out = layer.forward(x)
    assert out.dtype == np.float32
    if not isinstance(layer, (Dropout, BatchNorm2D)):      # random, or stateful in training
        np.testing.assert_allclose(out, layer.forward(x.astype(np.float32)), rtol=1e-6)


@pytest.mark.parametrize("dtype, kind", [(bool, "bool"), (complex, "complex"), (object, "object"),
                                         (str, "string")])
@pytest.mark.parametrize("layer, shape", [
    (Conv2D(2, 3, 3, padding=1), (2, 2, 4, 4)), (MaxPool2D(2), (2, 2, 4, 4)),
    (AvgPool2D(2), (2, 2, 4, 4)), (GlobalAvgPool2D(), (2, 2, 4, 4)), (ReLU(), (2, 5)),
    (Sigmoid(), (2, 5)), (Tanh(), (2, 5)), (Dense(5, 4), (2, 5)), (Dropout(0.5), (2, 5)),
    (BatchNorm2D(2), (3, 2, 4, 4)), (Flatten(), (2, 5)),
], ids=lambda v: type(v).__name__ if not isinstance(v, tuple) else "")
def test_bool_complex_object_and_text_input_is_refused(layer, shape, dtype, kind):
    """Issue 29: complex input was cast to its real part (a ComplexWarning, then a result), an
    object array holding None gave NaNs, and bool was taken as 0/1: each is a TypeError now."""
    x = (np.arange(np.prod(shape)).reshape(shape) % 7).astype(dtype)
    if dtype is object:
        x.flat[0] = None
    with pytest.raises(TypeError, match=rf"x must hold real numbers .*{kind}"):
        layer.forward(x)


def test_dropout_scales_integer_input_too():
    x = np.full((1, 1000), 10)
    out = Dropout(0.3, rng=0).forward(x)
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 10 / 0.7, rtol=1e-6)
    assert 600 < kept.size < 800


@pytest.mark.parametrize("cls, fn", [(MaxPool2D, conv.max_pool2d), (AvgPool2D, conv.avg_pool2d)])
@pytest.mark.parametrize("k, padding", [(3, "same"), (2, "same"), (3, "valid"), (2, "valid")])
def test_pool_layers_take_valid_and_same(cls, fn, k, padding):
    x = randn(2, 3, 7, 6)
    layer = cls(k, 1, padding=padding)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, fn(x, k, 1, padding))
    assert layer.output_shape((3, 7, 6)) == out.shape[1:]
    if padding == "same":
        assert out.shape == x.shape
    assert f"padding={padding!r}" in repr(layer)
    assert_grads_ok(cls(k, 1, padding=padding), x)


def test_pool_same_with_the_default_stride_says_what_to_do():
    with pytest.raises(ValueError, match=r"padding='same' needs stride 1, got stride 3.*stride "
                                         r"defaults to kernel_size; pass stride=1"):
        MaxPool2D(3, padding="same")
    with pytest.raises(ValueError, match=r"did you mean 'same'"):
        AvgPool2D(3, 1, padding="Same")


def test_batchnorm_needs_two_values_per_channel_in_training():
    bn = BatchNorm2D(3)
    with pytest.raises(ValueError, match=r"more than one value per channel.*\(1, 3, 1, 1\).*train=False"):
        bn.forward(np.ones((1, 3, 1, 1), np.float32))
    assert bn.forward(np.ones((1, 3, 1, 1), np.float32), train=False).shape == (1, 3, 1, 1)
    assert bn.forward(np.ones((2, 3, 1, 1), np.float32)).shape == (2, 3, 1, 1)


# --------------------------------------------------------------------------------------------
# Errors a learner meets
# --------------------------------------------------------------------------------------------
def test_conv_channel_mismatch_message():
    with pytest.raises(ValueError, match=r"Conv2D expects 3 input channels \(in_channels=3\) but x has 1"):
        Conv2D(3, 8, 3).forward(np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"channels-last.*transpose\(0, 3, 1, 2\)"):
        Conv2D(3, 8, 3).forward(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"in_channels=3"):
        Conv2D(3, 8, 3).output_shape((1, 8, 8))


@pytest.mark.parametrize("layer", [Conv2D(1, 2, 3), MaxPool2D(2), AvgPool2D(2), BatchNorm2D(1),
                                   GlobalAvgPool2D()], ids=lambda v: type(v).__name__)
def test_input_must_be_4d(layer):
    with pytest.raises(ValueError, match=r"4-D input x of shape \(N, C, H, W\).*x\[None\]"):
        layer.forward(np.zeros((1, 28, 28), np.float32))


def test_dense_mismatch_suggests_flatten_and_the_right_number():
    with pytest.raises(ValueError, match=r"Dense expects 100 input features \(in_features=100\) "
                                         r"but x has 400; use Dense\(400, 10\)"):
        Dense(100, 10).forward(np.zeros((2, 400), np.float32))
    with pytest.raises(ValueError, match=r"2-D input.*Flatten\(\).*400 features"):
        Dense(400, 10).forward(np.zeros((2, 16, 5, 5), np.float32))


def test_geometry_errors_come_from_conv():
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2D(1, 2, 0)
    with pytest.raises(ValueError, match="stride"):
        Conv2D(1, 2, 3, stride=0)
    with pytest.raises(ValueError, match="padding"):
        Conv2D(1, 2, 3, padding=-1)
    with pytest.raises(ValueError, match="same.*stride"):
        Conv2D(1, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding"):
        MaxPool2D(2, padding=2)                      # more than half the window
    with pytest.raises(ValueError):
        Conv2D(1, 2, 7).output_shape((1, 5, 5))      # kernel larger than the input


@pytest.mark.parametrize("p", [1, 1.0, -0.1, 30])
def test_dropout_p_must_be_in_0_1(p):
    with pytest.raises(ValueError, match=r"Dropout: p .* must be in \[0, 1\)"):
        Dropout(p)


def test_loss_errors():
    loss = SoftmaxCrossEntropy()
    z = np.zeros((3, 10), np.float32)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 9\] for 10 classes.*contains 10"):
        loss.forward(z, np.array([0, 10, 2]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 9\].*contains -1"):
        loss.forward(z, np.array([0, -1, 2]))
    with pytest.raises(ValueError, match=r"label and batch sizes do not match: logits has 3 rows.*y has 2"):
        loss.forward(z, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"one-hot.*argmax"):
        loss.forward(z, np.eye(10)[[0, 1, 2]])
    for bad in (np.nan, np.inf):
        z_bad = z.copy()
        z_bad[1, 3] = bad
        with pytest.raises(ValueError, match=r"NaN or inf reached the loss.*lower learning rate"):
            loss.forward(z_bad, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"Flatten"):
        loss.forward(np.zeros((3, 10, 2, 2)), np.array([0, 1, 2]))


def test_rng_argument_errors():
    with pytest.raises(TypeError, match="rng must be"):
        Dense(2, 3, rng="seed")
    with pytest.raises(TypeError, match=r"not bool \(the argument after the sizes is rng: to "
                                        r"leave out the bias, write bias=False\)"):
        Dense(10, 5, False)


@pytest.mark.parametrize("layer", [Conv2D(1, 2, 3), MaxPool2D(2), ReLU(), Dense(3, 2), Dropout(0.5),
                                   BatchNorm2D(2), Flatten(), SoftmaxCrossEntropy()],
                         ids=lambda v: type(v).__name__)
def test_backward_before_forward_says_so(layer):
    name = type(layer).__name__
    with pytest.raises(RuntimeError, match=rf"{name}.backward needs what forward keeps: call "
                                           rf"{name}.forward first"):
        layer.backward(np.ones((1, 2), np.float32))


def test_batchnorm_argument_errors():
    with pytest.raises(ValueError, match=r"num_features must be a positive int \(the channels"):
        BatchNorm2D(True)
    with pytest.raises(ValueError, match=r"num_features must be a positive int"):
        BatchNorm2D(0)
    with pytest.raises(ValueError, match=r"momentum .* must be in \[0, 1\], got 1.5.*Keras' 0.99"):
        BatchNorm2D(4, momentum=1.5)
    with pytest.raises(ValueError, match=r"eps must be a positive number.*got 0"):
        BatchNorm2D(4, eps=0)
    assert BatchNorm2D(4, momentum=0.0, eps=1e-3).momentum == 0.0


# ---------------------------------------------------------------------------------------------
# The engine switch: every layer on helpers.fast (default) or on helpers.conv (the reference)
# ---------------------------------------------------------------------------------------------

def _small_net():
    from helpers.model import Sequential
    layers.seed(0)
    return Sequential(Conv2D(2, 4, 3, padding=1), layers.ReLU(), MaxPool2D(2),
                      Conv2D(4, 3, 3, stride=2), AvgPool2D(2, stride=1), Flatten())


def test_use_engine_runs_every_layer_on_the_reference_and_gives_the_same_numbers(monkeypatch):
    x = np.random.default_rng(0).standard_normal((3, 2, 12, 12))
    calls = []
    for name in ("conv2d_forward", "conv2d_backward", "max_pool2d_forward", "max_pool2d_backward",
                 "avg_pool2d_forward", "avg_pool2d_backward"):
        real = getattr(conv, name)
        monkeypatch.setattr(conv, name, lambda *a, _real=real, _name=name, **k:
                            calls.append(_name) or _real(*a, **k))
    results = {}
    for engine in ("fast", "reference"):
        net = _small_net().astype(np.float64)
        calls.clear()
        with layers.use_engine(engine):
            assert layers.engine() == engine
            out = net.forward(x)
            dx = net.backward(np.ones_like(out))
        results[engine] = (out, dx, {k: g.copy() for k, g in net.grads.items()})
        if engine == "reference":           # all six of helpers.conv's functions ran
            assert sorted(set(calls)) == sorted(["conv2d_forward", "conv2d_backward",
                                                 "max_pool2d_forward", "max_pool2d_backward",
                                                 "avg_pool2d_forward", "avg_pool2d_backward"])
        else:                               # the engine ran its own convolutions
            assert "conv2d_forward" not in calls and "conv2d_backward" not in calls
    assert layers.engine() == "fast"        # the with-block put it back
    np.testing.assert_allclose(results["fast"][0], results["reference"][0], atol=1e-12)
    np.testing.assert_allclose(results["fast"][1], results["reference"][1], atol=1e-12)
    for k in results["fast"][2]:
        np.testing.assert_allclose(results["fast"][2][k], results["reference"][2][k], atol=1e-12)


def test_use_engine_as_a_call_lasts_until_the_next_call_and_names_its_rule():
    try:
        layers.use_engine("reference")
        assert layers.engine() == "reference"
    finally:
        layers.use_engine("fast")
    assert layers.engine() == "fast"
    with pytest.raises(ValueError, match="'fast' or 'reference', got 'slow'"):
        layers.use_engine("slow")


def test_helpers_engine_environment_variable():
    import subprocess
    import sys
    code = "from helpers import layers; print(layers.engine())"
    env = {**__import__("os").environ, "HELPERS_ENGINE": "reference"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "reference"
    env["HELPERS_ENGINE"] = "turbo"
    code = ("from helpers import layers\nimport numpy as np\n"
            "layers.Conv2D(1, 1, 1).forward(np.ones((1, 1, 2, 2)))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "HELPERS_ENGINE" in out.stderr and "'turbo'" in out.stderr


def test_a_layer_that_ran_can_be_deep_copied():
    # zoo.clone deep-copies trained models (lesson 18); a layer's cache must hold no module
    import copy
    net = _small_net()
    net.forward(np.ones((2, 2, 12, 12), np.float32))
    twin = copy.deepcopy(net)
    np.testing.assert_array_equal(twin.forward(np.ones((2, 2, 12, 12), np.float32)),
                                  net.forward(np.ones((2, 2, 12, 12), np.float32)))


# --- issue 29: what the fuzzer found (tests/test_fuzz_helpers.py), one test each -------------

def test_flatten_takes_an_empty_batch():
    """x.reshape(0, -1) cannot work out the -1: it raised numpy's 'cannot reshape'."""
    layer = Flatten()
    out = layer.forward(np.zeros((0, 2, 3, 4)))
    assert out.shape == (0, 24)
    assert layer.backward(np.zeros((0, 24))).shape == (0, 2, 3, 4)


def test_the_loss_of_an_empty_batch_is_an_error_not_nan():
    with pytest.raises(ValueError, match=r"the mean loss of an empty batch is undefined"):
        SoftmaxCrossEntropy().forward(np.zeros((0, 3)), np.zeros(0, dtype=int))


@pytest.mark.parametrize("layer, x", [(ReLU(), np.ones((2, 5))), (Sigmoid(), np.ones((2, 5))),
                                      (Tanh(), np.ones((2, 5))), (Dropout(0.5, rng=0), np.ones((2, 5))),
                                      (Dense(5, 3, rng=0), np.ones((2, 5))),
                                      (BatchNorm2D(2), np.ones((2, 2, 3, 3))),
                                      (GlobalAvgPool2D(), np.ones((2, 2, 3, 3))),
                                      (Flatten(), np.ones((2, 2, 3, 3)))])
def test_backward_refuses_a_dout_of_another_shape(layer, x):
    """dout * mask broadcast silently: a dout of shape (1,) or (5,) gave a wrong dx."""
    out = layer.forward(x)
    for bad in (np.ones(1), np.ones(out.shape[1:]), np.ones((out.shape[0] + 1, *out.shape[1:]))):
        with pytest.raises(ValueError, match=rf"{type(layer).__name__}.backward: dout must have "
                                             rf"the shape of the forward output"):
            layer.backward(bad)


def test_labels_must_be_integers_not_bool_or_timedelta():
    for y in (np.array([True, False]), np.array([0, 1], dtype="timedelta64[ms]")):
        with pytest.raises(ValueError, match=r"y as integer class labels"):
            SoftmaxCrossEntropy().forward(np.zeros((2, 3)), y)


def test_layer_settings_are_checked_where_they_were_taken_silently():
    with pytest.raises(TypeError, match=r"dtype must be float32 or float64, not None"):
        Conv2D(1, 2, 3, dtype=None)                 # np.dtype(None) is float64
    with pytest.raises(TypeError, match=r"dtype must be float32 or float64, not np.float64\(nan\)"):
        Dense(2, 2, dtype=np.float64("nan"))        # np.dtype of a NumPy scalar is its dtype
    with pytest.raises(TypeError, match=r"bias must be True or False, got 'no'"):
        Conv2D(1, 2, 3, bias="no")
    with pytest.raises(ValueError, match=r"eps must be a positive number .* got inf"):
        BatchNorm2D(2, eps=float("inf"))


def test_a_huge_kernel_is_refused_before_its_weights_are_drawn():
    """Conv2D(3, 2, 15548).forward(x) drew 5.8 GB of weights before finding that the kernel
    does not fit x; MaxPool2D(3 * 10**9) raised numpy's 'iterator is too large'."""
    with pytest.raises(ValueError, match=r"kernel_size 15548 is larger than the padded input 6"):
        Conv2D(3, 2, 15548).forward(np.zeros((1, 3, 6, 6)))
    with layers.shapes.set_memory_limit(1 << 30):
        with pytest.raises(ValueError, match=r"Conv2D: the weights W .* would need 5.4 GB.*use a "
                                             r"smaller kernel_size"):
            Conv2D(3, 2, 15548)
    with pytest.raises(ValueError, match=r"kernel_size 3037000500 is larger than the padded input"):
        MaxPool2D(3_037_000_500).forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"padding 759250124 is more than half of kernel_size 2"):
        MaxPool2D(2, 1, 759_250_124)


def test_an_empty_axis_other_than_the_batch_is_refused():
    with pytest.raises(ValueError, match=r"Conv2D expects x of shape \(N, C, H, W\) with C, H, W >= 1"):
        Conv2D(3, 2, 3).forward(np.zeros((2, 3, 0, 6)))
