"""helpers.interpret: activations, receptive fields, top patches, occlusion, gradient saliency."""
import numpy as np
import pytest

from helpers import interpret
from helpers.exercises import lesson12, lesson14
from helpers.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU
from helpers.model import Sequential


def test_softmax_rows_sum_to_one_and_are_stable():
    p = interpret.softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 1.0, 1.0]]))
    assert np.allclose(p.sum(axis=1), 1) and np.isfinite(p).all()
    assert np.allclose(p[1], 1 / 3)


def test_activations_match_a_manual_forward_and_do_not_depend_on_the_batch_size():
    model = lesson12.simple_convnet(seed=1)
    x = np.random.default_rng(0).normal(size=(7, 1, 28, 28)).astype(np.float32)
    h = x
    for lay in model.layers[:3]:
        h = lay.forward(h, train=False)
    a = interpret.activations(model, x, 2, batch_size=3)
    assert a.shape == (7, 30, 12, 12) and np.allclose(a, h, atol=1e-6)
    assert interpret.activations(model, x[0], 0).shape == (1, 30, 24, 24)      # one (C, H, W) image
    assert interpret.activations(model, x, model.layers[-1]).shape == (7, 10)   # the layer object
    with pytest.raises(ValueError, match="index"):
        interpret.activations(model, x, 7)


@pytest.mark.parametrize("layer, expected", [(0, (5, 1, 0)), (1, (5, 1, 0)), (2, (6, 2, 0))])
def test_receptive_field_of_simple_convnet(layer, expected):
    assert interpret.receptive_field(lesson12.simple_convnet(), layer) == expected


def test_receptive_field_of_the_deeper_network_with_padding():
    m = lesson14.deeper_convnet()
    assert interpret.receptive_field(m, 0) == (3, 1, -1)       # padding 1: the window hangs over the edge
    assert interpret.receptive_field(m, 2) == (4, 2, -1)
    assert interpret.receptive_field(m, 5) == (10, 4, -3)
    assert interpret.receptive_field(m, 8) == (22, 8, -7)
    with pytest.raises(ValueError, match="whole input"):
        interpret.receptive_field(m, 10)


def test_receptive_field_is_exactly_the_set_of_pixels_a_unit_depends_on():
    # a linear chain (no ReLU, average pools, overlapping windows, padding): the gradient of one
    # output unit is non-zero exactly inside its receptive field
    rng = np.random.default_rng(3)
    m = Sequential(Conv2D(1, 2, 3, padding=1, rng=rng), AvgPool2D(3, stride=2),
                   Conv2D(2, 2, 3, stride=2, padding=1, rng=rng), AvgPool2D(2))
    m.astype(np.float64)
    x = rng.normal(size=(1, 1, 30, 30))
    out = m.forward(x, train=False)
    size, jump, start = interpret.receptive_field(m, 3)
    for i, j in [(0, 0), (1, 1), (out.shape[2] - 1, out.shape[3] - 1)]:
        dout = np.zeros_like(out)
        dout[0, 0, i, j] = 1.0
        dx = m.backward(dout)[0, 0]
        rows, cols = np.nonzero(np.abs(dx) > 1e-12)
        top, left = start + i * jump, start + j * jump
        assert rows.min() == max(top, 0) and rows.max() == min(top + size - 1, 29)
        assert cols.min() == max(left, 0) and cols.max() == min(left + size - 1, 29)


def _brute_force_top(model, x, layer, k):
    a = interpret.activations(model, x, layer)
    n, f = a.shape[:2]
    flat = a.reshape(n, f, -1)
    best = flat.max(axis=2)                      # (N, F)
    return np.argsort(-best, axis=0, kind="stable")[:k].T, np.sort(best, axis=0)[::-1][:k].T


def test_top_activating_patches_match_brute_force_across_batches():
    model = lesson12.simple_convnet(seed=2)
    x = np.random.default_rng(1).normal(size=(23, 1, 28, 28)).astype(np.float32)
    top = interpret.top_activating_patches(model, x, layer=0, k=4, batch_size=5)
    images, values = _brute_force_top(model, x, 0, 4)
    assert top.values.shape == (30, 4) and top.where.shape == (30, 4, 3)
    assert top.patches.shape == (30, 4, 1, 5, 5)
    assert np.allclose(top.values, values, atol=1e-5)
    assert (top.where[..., 0] == images).all()
    # every activation is the filter's dot product with its patch, plus the bias
    w, b = model.layers[0].params["W"], model.layers[0].params["b"]
    dots = (top.patches[:, :, 0] * w[:, None, 0]).sum(axis=(2, 3)) + b[:, None]
    assert np.allclose(dots, top.values, atol=1e-4)
    # one image at most once per channel
    for ch in range(30):
        assert len(set(top.where[ch, :, 0])) == 4


def test_top_patches_zero_fill_where_padding_hangs_over_the_edge():
    w = np.zeros((1, 1, 3, 3), np.float32)
    w[0, 0, 0, 0] = 1.0                           # fires on the pixel up-left of the centre
    conv = Conv2D(1, 1, 3, padding=1)
    conv.params["W"][...] = w
    model = Sequential(conv)
    x = np.zeros((2, 1, 6, 6), np.float32)
    x[1, 0, 0, 0] = 5.0                            # the strongest response: output (1, 1)
    top = interpret.top_activating_patches(model, x, layer=0, k=1)
    assert tuple(top.where[0, 0]) == (1, 1, 1)
    assert top.patches[0, 0, 0, 0, 0] == 5.0
    conv.params["W"][...] = 0.0
    conv.params["W"][0, 0, 1, 1] = 1.0             # now the centre tap: output (0, 0) sees pixel (0, 0)
    x[1, 0, 0, 0] = 7.0
    top = interpret.top_activating_patches(model, x, layer=0, k=1)
    assert tuple(top.where[0, 0]) == (1, 0, 0)
    patch = top.patches[0, 0, 0]                   # window rows -1..1, columns -1..1
    assert patch[1, 1] == 7.0 and patch[0].sum() == 0 and patch[:, 0].sum() == 0


def test_top_patches_validate_k_and_layer():
    model = lesson12.simple_convnet()
    x = np.zeros((3, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match="k must be"):
        interpret.top_activating_patches(model, x, 0, k=4)
    with pytest.raises(ValueError, match="whole input"):
        interpret.top_activating_patches(model, x, 4, k=1)


def _region_model(h, w, rows, cols):
    """probabilities of 2 classes that depend only on the mean of x[:, :, rows, cols]."""
    def proba(x):
        z = np.asarray(x)[:, :, rows, cols].mean(axis=(1, 2, 3))
        p1 = 1 / (1 + np.exp(-z))
        return np.stack([1 - p1, p1], axis=1)
    return proba


def test_occlusion_map_matches_the_loop_and_sees_only_the_region_that_matters():
    img = np.ones((1, 12, 12), np.float32) * 2
    proba = _region_model(12, 12, slice(0, 4), slice(8, 12))      # the top-right 4x4 decides
    keep = img.copy()
    occ = interpret.occlusion_map(proba, img, target=1, patch_size=4, stride=2, fill=0.0, batch_size=7)
    assert np.array_equal(img, keep)                               # the input is not changed
    ref = lesson14.occlusion_solution(proba, img, 1, 4, 2, 0.0)
    assert occ.grid.shape == (5, 5) and np.allclose(occ.grid, ref)
    assert occ.heat.shape == (12, 12)
    assert occ.grid[0, 4] > 0.1 and occ.grid[4, 0] == 0            # only squares over the region hurt
    assert occ.heat[0, 11] > 0 and occ.heat[11, 0] == 0
    assert occ.occluded.shape == (5, 5, 2) and occ.score == "probability"
    assert np.isclose(occ.base, proba(img[None])[0, 1])


def test_occlusion_map_with_a_model_and_bad_targets():
    model = lesson12.simple_convnet(seed=0)
    x = np.random.default_rng(0).normal(size=(1, 28, 28)).astype(np.float32)
    occ = interpret.occlusion_map(model, x, 3, patch_size=6, stride=2)
    assert occ.grid.shape == (12, 12)
    assert np.allclose(occ.grid, lesson14.occlusion_solution(model.predict_proba, x, 3, 6, 2), atol=1e-6)
    assert interpret.occlusion_map(model, x[0], 3).grid.shape == (12, 12)        # (H, W) works too
    with pytest.raises(ValueError, match="target"):
        interpret.occlusion_map(model, x, 10)
    with pytest.raises(ValueError):
        interpret.occlusion_map(model, x, 0, patch_size=30)                     # larger than the image
    with pytest.raises(TypeError):
        interpret.occlusion_map(42, x, 0)
    with pytest.raises(TypeError, match="logit"):
        interpret.occlusion_map(model.predict_proba, x, 0, score="logit")
    with pytest.raises(ValueError, match="score"):
        interpret.occlusion_map(model, x, 0, score="loss")


def test_occlusion_map_on_logits_does_not_saturate():
    # a linear model: the logit drop of a patch is exactly -(weights under the patch) . (fill - pixels)
    rng = np.random.default_rng(0)
    dense = Dense(36, 3, rng=rng)
    model = Sequential(Flatten(), dense)
    x = rng.normal(size=(1, 6, 6)).astype(np.float32) * 5
    occ = interpret.occlusion_map(model, x, 1, patch_size=3, stride=3, score="logit")
    w = dense.params["W"][:, 1].reshape(6, 6)
    expected = np.array([[(w[i:i + 3, j:j + 3] * x[0, i:i + 3, j:j + 3]).sum() for j in (0, 3)] for i in (0, 3)])
    assert occ.score == "logit" and np.allclose(occ.grid, expected, atol=1e-4)
    assert np.isclose(occ.base, model.forward(x[None], train=False)[0, 1])


def test_gradient_saliency_of_a_linear_model_is_its_weight_column():
    rng = np.random.default_rng(0)
    dense = Dense(16, 3, rng=rng)
    model = Sequential(Flatten(), dense)
    x = rng.normal(size=(1, 4, 4)).astype(np.float32)
    sal = interpret.gradient_saliency(model, x, 2)
    assert sal.shape == (4, 4)
    assert np.allclose(sal, np.abs(dense.params["W"][:, 2]).reshape(4, 4))
    # SmoothGrad without noise is the same map
    assert np.allclose(interpret.gradient_saliency(model, x, 2, n_samples=4, noise=0.0), sal)
    with pytest.raises(ValueError, match="target"):
        interpret.gradient_saliency(model, x, 3)
    with pytest.raises(ValueError, match="n_samples"):
        interpret.gradient_saliency(model, x, 0, n_samples=0)


def test_gradient_saliency_matches_finite_differences_and_takes_the_max_over_channels():
    rng = np.random.default_rng(1)
    model = Sequential(Conv2D(2, 3, 3, rng=rng), ReLU(), MaxPool2D(2), Flatten(), Dense(3 * 3 * 3, 4, rng=rng))
    model.astype(np.float64)
    x = rng.normal(size=(2, 8, 8))
    sal = interpret.gradient_saliency(model, x, 1)
    h = 1e-6
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        grad[idx] = (model.forward(xp[None], train=False)[0, 1] - model.forward(xm[None], train=False)[0, 1]) / (2 * h)
    assert np.allclose(sal, np.abs(grad).max(axis=0), atol=1e-5)
    noisy = interpret.gradient_saliency(model, x, 1, n_samples=8, noise=0.5, seed=0)
    assert noisy.shape == (8, 8) and not np.allclose(noisy, sal)
    assert np.allclose(noisy, interpret.gradient_saliency(model, x, 1, n_samples=8, noise=0.5, seed=0))


# --- issue 29: what the fuzzer found (tests/test_fuzz_helpers.py) ---------------------------

def _tiny():
    return Sequential(Conv2D(1, 2, 3, rng=0), ReLU(), Flatten(), Dense(2 * 4 * 4, 3, rng=0))


def test_occlusion_and_saliency_name_the_image_that_does_not_fit():
    model = _tiny()
    with pytest.raises(ValueError, match=r"image must be one image \(C, H, W\) or \(H, W\) with no "
                                         r"empty axis, got shape \(2, 1, 6, 6\)"):
        interpret.occlusion_map(model, np.zeros((2, 1, 6, 6)), 0, 2, 2)   # took image 0 silently
    with pytest.raises(ValueError, match=r"image of shape \(2, 6, 6\) does not fit the model: "):
        interpret.gradient_saliency(model, np.zeros((2, 6, 6)), 0)
    with pytest.raises(ValueError, match=r"patch_size 7 is larger than the image \(6x6\)"):
        interpret.occlusion_map(model, np.zeros((1, 6, 6)), 0, patch_size=7)
    with pytest.raises(ValueError, match=r"target \(a class index\) must be an integer >= 0, "
                                         r"got 1.5"):
        interpret.occlusion_map(model, np.zeros((1, 6, 6)), 1.5, 2)       # was int(1.5) = 1


def test_activations_of_an_empty_batch_and_of_complex_input():
    model = _tiny()
    assert interpret.activations(model, np.zeros((0, 1, 6, 6)), 0).shape == (0, 2, 4, 4)
    with pytest.raises(TypeError, match=r"x must hold real numbers .*complex"):
        interpret.activations(model, np.zeros((1, 1, 6, 6), complex), 0)
