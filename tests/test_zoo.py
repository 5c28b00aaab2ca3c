"""helpers.zoo: the landmark networks' shapes and parameter counts, LRN's backward, the arithmetic."""
import numpy as np
import pytest

from helpers import zoo
from helpers.gradcheck import check_layer, numerical_gradient_array
from helpers.layers import AvgPool2D, Conv2D, Dense, MaxPool2D, SoftmaxCrossEntropy
from helpers.model import Concat, Residual, Sequential


# ---------------------------------------------------------------------------------------------
# Published parameter counts (no weights are drawn: summaries work from shapes)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("build, shape, total", [
    (lambda: zoo.vgg16(), (3, 224, 224), 138_357_544),
    (lambda: zoo.vgg16(include_top=False), (3, 224, 224), 14_714_688),
    (lambda: zoo.alexnet(), (3, 227, 227), 62_378_344),
    (lambda: zoo.alexnet(variant="torchvision"), (3, 224, 224), 61_100_840),
    (lambda: zoo.cifar_cnn(), (3, 32, 32), 86_346),
    (lambda: zoo.lenet5(classic=True), (1, 28, 28), 61_706),
    (lambda: zoo.lenet5(classic=False), (1, 28, 28), 61_706),
    (lambda: zoo.source_cnn(), (1, 28, 28), 8_490),
    (lambda: zoo.transfer_body(), (1, 28, 28), 23_296),
])
def test_parameter_counts(build, shape, total):
    assert build().summary(shape, print_table=False).total_params == total


def test_summary_of_vgg16_draws_no_weights():
    vgg = zoo.vgg16()
    vgg.summary((3, 224, 224), print_table=False)
    assert all(layer._params is None for layer in vgg.layers)


def test_resnet18_matches_torchvision_count():
    s = zoo.resnet18().summary((3, 224, 224), print_table=False)
    assert s.trainable_params == 11_689_512          # torchvision.models.resnet18()
    assert s.non_trainable_params == 2 * 4_800       # BN running mean + var, 4,800 channels
    assert zoo.resnet18().output_shape((3, 224, 224)) == (1000,)


def test_vgg16_and_variants_shapes():
    vgg = zoo.vgg16()
    assert vgg.output_shape((3, 224, 224)) == (1000,)
    base = zoo.vgg16(include_top=False)
    assert base.output_shape((3, 224, 224)) == (512, 7, 7)
    assert base.output_shape((3, 32, 32)) == (512, 1, 1)
    assert zoo.vgg16(n_classes=10).output_shape((3, 224, 224)) == (10,)


# ---------------------------------------------------------------------------------------------
# The source's small networks run, with the flattened sizes the source gives
# ---------------------------------------------------------------------------------------------
def test_source_cnn_flattens_320_and_runs():
    net = zoo.source_cnn(rng=0)
    assert net.layers[-1].in_features == 320
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    assert net.forward(x).shape == (2, 10)


def test_inception_module_has_88_channels_and_keeps_size():
    m = zoo.inception_module(10, rng=0)
    assert isinstance(m, Concat) and len(m.branches) == 4
    assert m.output_shape((10, 12, 12)) == (88, 12, 12)
    x = np.random.default_rng(0).standard_normal((2, 10, 12, 12)).astype(np.float32)
    out = m.forward(x)
    assert out.shape == (2, 88, 12, 12)
    assert m.backward(np.ones_like(out)).shape == x.shape


def test_inception_net_flattens_1408_by_running_a_batch():
    net = zoo.inception_net(rng=0)
    x = np.random.default_rng(1).random((3, 1, 28, 28), dtype=np.float32)
    feats = Sequential(*net.layers[:-1]).forward(x)
    assert feats.shape == (3, 1408)
    assert net.forward(x).shape == (3, 10)


def test_lenet_variants_differ_in_activation_and_pooling():
    classic, modern = zoo.lenet5(classic=True), zoo.lenet5(classic=False)
    kinds = lambda net: [type(l).__name__ for l in net.layers]
    assert "Tanh" in kinds(classic) and "AvgPool2D" in kinds(classic) and "ReLU" not in kinds(classic)
    assert "ReLU" in kinds(modern) and "MaxPool2D" in kinds(modern) and "Tanh" not in kinds(modern)
    assert classic.output_shape((1, 28, 28)) == modern.output_shape((1, 28, 28)) == (10,)


def test_source_nets_train_one_step():
    # forward, loss, backward through every layer kind of the small nets, without errors
    for net in (zoo.lenet5(classic=True), zoo.lenet5(classic=False), zoo.inception_net()):
        x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
        loss = SoftmaxCrossEntropy()
        loss.forward(net.forward(x), np.array([1, 3]))
        assert net.backward(loss.backward()).shape == x.shape
        assert all(k in net.grads for k in net.params)


# ---------------------------------------------------------------------------------------------
# Local response normalisation
# ---------------------------------------------------------------------------------------------
def _lrn_reference(x, size, alpha, beta, k):
    """Loops over channels: the formula as written (PyTorch's convention)."""
    out = np.empty_like(x)
    c = x.shape[1]
    for i in range(c):
        lo, hi = max(0, i - size // 2), min(c - 1, i + (size - 1) // 2)
        energy = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, i] = x[:, i] / (k + alpha / size * energy) ** beta
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 9])
def test_lrn_forward_matches_the_formula(size):
    x = np.random.default_rng(size).standard_normal((2, 7, 3, 4))
    lrn = zoo.LocalResponseNorm(size, alpha=0.3, beta=0.75, k=1.5)
    assert np.allclose(lrn.forward(x), _lrn_reference(x, size, 0.3, 0.75, 1.5))


@pytest.mark.parametrize("size", [2, 3, 5])
def test_lrn_backward_passes_gradient_check(size):
    x = np.random.default_rng(0).standard_normal((2, 6, 3, 3))
    lrn = zoo.LocalResponseNorm(size, alpha=0.5, beta=0.75, k=2.0)
    errors = check_layer(lrn, x)
    # relative error: a few entries of dx nearly cancel (~1e-6), where 1e-11 of rounding shows
    assert errors["x"] < 1e-5, errors
    dout = np.random.default_rng(1).standard_normal(x.shape)
    lrn.forward(x)
    dx = lrn.backward(dout)
    numeric = numerical_gradient_array(lambda z: lrn.forward(z), x.copy(), dout)
    assert np.abs(dx - numeric).max() < 1e-8


def test_lrn_has_no_parameters_and_rejects_bad_size():
    lrn = zoo.LocalResponseNorm()
    assert lrn.count_params() == (0, 0) and lrn.params == {}
    assert "size=5" in repr(lrn)
    with pytest.raises(ValueError, match="size"):
        zoo.LocalResponseNorm(0)
    with pytest.raises(ValueError, match="4-D"):
        lrn.forward(np.ones((3, 4)))


def test_alexnet_torchvision_variant():
    net = zoo.alexnet(variant="torchvision")
    convs = [l for l in net.layers if isinstance(l, Conv2D)]
    assert [c.out_channels for c in convs] == [64, 192, 384, 256, 256]
    assert not any(isinstance(l, zoo.LocalResponseNorm) for l in net.layers)
    assert net.output_shape((3, 224, 224)) == (1000,)
    with pytest.raises(ValueError, match="variant"):
        zoo.alexnet(variant="keras")


def test_alexnet_lrn_optional():
    assert not any(isinstance(l, zoo.LocalResponseNorm) for l in zoo.alexnet(lrn=False).layers)
    assert sum(isinstance(l, zoo.LocalResponseNorm) for l in zoo.alexnet().layers) == 2


# ---------------------------------------------------------------------------------------------
# ResNet pieces
# ---------------------------------------------------------------------------------------------
def test_residual_block_identity_and_projection():
    same = zoo.residual_block(16, 16)
    assert same[0].shortcut is None and same.output_shape((16, 8, 8)) == (16, 8, 8)
    down = zoo.residual_block(16, 32, stride=2)
    assert down[0].shortcut is not None and down.output_shape((16, 8, 8)) == (32, 4, 4)
    x = np.random.default_rng(0).standard_normal((2, 16, 8, 8)).astype(np.float32)
    out = down.forward(x)
    assert out.shape == (2, 32, 4, 4) and (out >= 0).all()       # ends with ReLU
    assert down.backward(np.ones_like(out)).shape == x.shape


def test_residual_block_gradient_check_without_bn():
    block = zoo.residual_block(3, 4, stride=2, batchnorm=False, rng=0)
    errors = check_layer(block, np.random.default_rng(1).standard_normal((2, 3, 6, 6)))
    assert max(errors.values()) < 1e-6, errors


def test_deep_net_plain_and_residual_share_weights():
    plain = zoo.deep_net(6, channels=4, rng=3)
    res = zoo.deep_net(6, channels=4, residual=True, rng=3)
    assert plain.count_params() == res.count_params()
    w_plain = [v for k, v in plain.params.items() if v.ndim == 4]
    w_res = [v for k, v in res.params.items() if v.ndim == 4]
    assert len(w_plain) == len(w_res) == 7
    assert all(np.array_equal(a, b) for a, b in zip(w_plain, w_res))
    assert sum(isinstance(l, Residual) for l in res.layers) == 3
    assert plain.output_shape((1, 28, 28)) == (10,)
    with pytest.raises(ValueError, match="even"):
        zoo.deep_net(5)


def test_deep_net_with_batchnorm_has_bn_buffers():
    net = zoo.deep_net(4, channels=8, batchnorm=True)
    _, non_trainable = net.count_params()
    assert non_trainable == 4 * 2 * 8


# ---------------------------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------------------------
def test_count_macs_single_layers():
    assert zoo.count_macs(Sequential(Conv2D(3, 64, 3, padding=1)), (3, 224, 224)) == 86_704_128
    assert zoo.count_macs(Sequential(Conv2D(192, 32, 5, padding=2)), (192, 28, 28)) == 120_422_400
    assert zoo.count_macs(Sequential(Dense(400, 120)), (400,)) == 48_000
    assert zoo.count_macs(Sequential(MaxPool2D(2)), (3, 8, 8)) == 0


def test_count_macs_whole_networks():
    assert zoo.count_macs(zoo.vgg16(), (3, 224, 224)) == 15_470_264_320
    assert zoo.count_macs(zoo.resnet18(), (3, 224, 224)) == 1_814_073_344
    # Concat: branches add; Residual: block + projection
    m = zoo.inception_module(192)
    per_branch = [zoo.count_macs(b, (192, 28, 28)) for b in m.branches]
    assert zoo.count_macs(m, (192, 28, 28)) == sum(per_branch)
    down = zoo.residual_block(16, 32, stride=2, batchnorm=False)
    assert zoo.count_macs(down, (16, 8, 8)) == 32 * 16 * (16 * 9) + 32 * 16 * (32 * 9) + 32 * 16 * 16


def test_receptive_fields_of_vgg16():
    rows = zoo.receptive_fields(zoo.vgg16(include_top=False), (3, 224, 224))
    convs = [r for r in rows if r[0].startswith("Conv2D")]
    assert [r[2] for r in convs[:2]] == [3, 5]
    assert rows[-2][2] == 196 and rows[-1][2] == 212 and rows[-1][3] == 32
    # stops at the classifier
    assert len(zoo.receptive_fields(zoo.vgg16(), (3, 224, 224))) == len(rows)


def test_receptive_fields_dilation_and_branches():
    rows = zoo.receptive_fields(Sequential(Conv2D(1, 1, 3, dilation=2, padding=2),
                                           AvgPool2D(2), Conv2D(1, 1, 3)), (1, 16, 16))
    assert [r[2] for r in rows] == [5, 6, 10]
    with pytest.raises(ValueError, match="branches"):
        zoo.receptive_fields(Sequential(zoo.inception_module(4)), (4, 8, 8))


def test_clone_is_independent():
    body = zoo.transfer_body(rng=0)
    copy = zoo.clone(body)
    for (k, a), (k2, b) in zip(body.params.items(), copy.params.items()):
        assert k == k2 and np.array_equal(a, b) and a is not b
    copy.params["0.W"][...] = 0
    assert body.params["0.W"].any()


def test_transfer_body_and_head():
    body = zoo.transfer_body()
    assert body.output_shape((1, 28, 28)) == (64, 3, 3)
    flat, gap = zoo.transfer_head(5), zoo.transfer_head(5, pool="gap")
    assert flat.output_shape((64, 3, 3)) == gap.output_shape((64, 3, 3)) == (5,)
    assert sum(flat.count_params()) == 2_885 and sum(gap.count_params()) == 325
    assert zoo.transfer_head(5, hidden=16).output_shape((64, 3, 3)) == (5,)
    with pytest.raises(ValueError, match="pool"):
        zoo.transfer_head(5, pool="max")
