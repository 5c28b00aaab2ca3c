"""Lesson 14: the deeper network and the two checkers (receptive window, occlusion)."""
import numpy as np
import pytest

from helpers import interpret
from helpers.exercises import lesson14, solution


# --- the deeper network ------------------------------------------------------------------------

def test_deeper_convnet_shapes_and_parameters():
    m = lesson14.deeper_convnet()
    s = m.summary((1, 28, 28), print_table=False)
    assert s.total_params == 8_778
    shapes = [r[1] for r in s.rows]
    assert shapes[2] == (8, 14, 14) and shapes[5] == (16, 7, 7) and shapes[8] == (32, 3, 3)
    assert shapes[-1] == (10,)


def test_load_or_train_deeper_loads_and_trains(tmp_path):
    class Tiny:
        rng = np.random.default_rng(0)
        x_train = rng.normal(size=(40, 1, 28, 28)).astype(np.float32)
        y_train = rng.integers(0, 10, 40)
    path = tmp_path / "d.npz"
    model, info = lesson14.load_or_train_deeper(Tiny, path=path, progress=False)
    assert info["trained"] and path.exists()
    again, info2 = lesson14.load_or_train_deeper(None, path=path)
    assert not info2["trained"]
    assert np.array_equal(again.params["0.W"], model.params["0.W"])


# --- exercise 1: receptive window -----------------------------------------------------------

def test_receptive_window_reference_agrees_with_interpret():
    from helpers.exercises import lesson12
    size, jump, start = interpret.receptive_field(lesson12.simple_convnet(), 2)
    for i, j in [(0, 0), (4, 9)]:
        assert lesson14.receptive_window_solution(i, j) == (start + jump * i, start + jump * j, size)
    assert lesson14.check_receptive_window(lesson14.receptive_window_solution).ok


@pytest.mark.parametrize("fn, phrase", [
    (lambda i, j: (2 * i, 2 * j, 5), "5 + 1 = 6"),
    (lambda i, j: (2 * i, 2 * j, 4), "widened"),
    (lambda i, j: (i, j, 6), "stride is 2"),
    (lambda i, j: (2 * j, 2 * i, 6), "swapped"),
    (lambda i, j: (2 * i + 1, 2 * j + 1, 6), "no padding"),
    (lambda i, j: (3 * i, 3 * j, 9), "expected top="),
    (lambda i, j: 6, "three integers"),
])
def test_receptive_window_names_the_mistake(fn, phrase):
    fb = lesson14.check_receptive_window(fn)
    assert not fb.ok and fb.done and phrase in fb.message, fb.message


def test_receptive_window_unfinished():
    assert not lesson14.check_receptive_window(None).done
    fb = lesson14.check_receptive_window(lambda i, j: None)
    assert not fb.ok and not fb.done


# --- exercise 2: occlusion ---------------------------------------------------------------------

ref = lesson14.occlusion_solution


def test_occlusion_reference_passes():
    fb = lesson14.check_occlusion(ref)
    assert fb.ok, fb.message


def test_occlusion_unfinished():
    def todo(predict_proba, image, target, patch_size, stride, fill=0.0):
        raise NotImplementedError
    assert not lesson14.check_occlusion(todo).done
    assert not lesson14.check_occlusion(None).done


def in_place(predict_proba, image, target, patch_size, stride, fill=0.0):
    c, h, w = image.shape
    oh, ow = (h - patch_size) // stride + 1, (w - patch_size) // stride + 1
    base = predict_proba(image[None])[0, target]
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            image[:, i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = fill
            out[i, j] = base - predict_proba(image[None])[0, target]
    return out


def off_by_one(predict_proba, image, target, patch_size, stride, fill=0.0):
    return ref(predict_proba, image, target, patch_size, stride, fill)[:-1, :-1]


def stride_one(predict_proba, image, target, patch_size, stride, fill=0.0):
    return ref(predict_proba, image, target, patch_size, 1, fill)


def transposed(predict_proba, image, target, patch_size, stride, fill=0.0):
    return ref(predict_proba, image, target, patch_size, stride, fill).T


def sign_flipped(predict_proba, image, target, patch_size, stride, fill=0.0):
    return -ref(predict_proba, image, target, patch_size, stride, fill)


def covered_probability(predict_proba, image, target, patch_size, stride, fill=0.0):
    base = predict_proba(image[None])[0, target]
    return base - ref(predict_proba, image, target, patch_size, stride, fill)


def fills_with_one(predict_proba, image, target, patch_size, stride, fill=0.0):
    return ref(predict_proba, image, target, patch_size, stride, 1.0)


def first_channel_only(predict_proba, image, target, patch_size, stride, fill=0.0):
    c, h, w = image.shape
    oh, ow = (h - patch_size) // stride + 1, (w - patch_size) // stride + 1
    base = predict_proba(image[None])[0, target]
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            cov = image.copy()
            cov[0, i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = fill
            out[i, j] = base - predict_proba(cov[None])[0, target]
    return out


@pytest.mark.parametrize("fn, phrase", [
    (in_place, "changed the image"),
    (off_by_one, "off-by-one"),
    (stride_one, "moved 1 pixel at a time"),
    (transposed, "swapped"),
    (sign_flipped, "wrong sign"),
    (covered_probability, "probability with the patch in place"),
    (fills_with_one, "filled with 1"),
    (first_channel_only, "all channels"),
    (lambda *a, **k: "map", "array of drops"),
])
def test_occlusion_names_the_mistake(fn, phrase):
    fb = lesson14.check_occlusion(fn)
    assert not fb.ok and fb.done and phrase in fb.message, fb.message


def test_solutions_are_registered():
    assert "image.copy()" in solution("occlusion", show=False)
    assert "2 * i" in solution("receptive_window", show=False)


# --- issue 26, item 2: a scalar answer, the stride factor forgotten, one channel covered -------

def one_number(predict_proba, image, target, patch_size, stride, fill=0.0):
    """A learner who returns the largest drop instead of the map."""
    return float(ref(predict_proba, image, target, patch_size, stride, fill).max())


def stride_factor_forgotten(predict_proba, image, target, patch_size, stride, fill=0.0):
    """The right number of positions, but the patch of position (i, j) starts at (i, j)."""
    c, h, w = image.shape
    oh, ow = (h - patch_size) // stride + 1, (w - patch_size) // stride + 1
    base = predict_proba(image[None])[0, target]
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            cov = image.copy()
            cov[:, i:i + patch_size, j:j + patch_size] = fill
            out[i, j] = base - predict_proba(cov[None])[0, target]
    return out


def last_channel_only(predict_proba, image, target, patch_size, stride, fill=0.0):
    c, h, w = image.shape
    oh, ow = (h - patch_size) // stride + 1, (w - patch_size) // stride + 1
    base = predict_proba(image[None])[0, target]
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            cov = image.copy()
            cov[-1, i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = fill
            out[i, j] = base - predict_proba(cov[None])[0, target]
    return out


def test_occlusion_scalar_answer_gets_feedback_not_an_index_error():
    fb = lesson14.check_occlusion(one_number)
    assert not fb.ok and fb.done
    assert "one number" in fb.message and "(OH, OW) = (3, 3)" in fb.message, fb.message
    fb = lesson14.check_occlusion(lambda *a, **k: np.zeros(3))
    assert not fb.ok and "an array of shape (3,)" in fb.message, fb.message


def test_occlusion_stride_factor_forgotten_is_named():
    fb = lesson14.check_occlusion(stride_factor_forgotten)
    assert not fb.ok and fb.done
    assert "1 pixel per step" in fb.message and "i*stride" in fb.message, fb.message
    assert "stride=2" in fb.message                     # found on the first test input already


@pytest.mark.parametrize("fn, channel", [(first_channel_only, 0), (last_channel_only, 1)])
def test_occlusion_one_channel_only_is_named(fn, channel):
    fb = lesson14.check_occlusion(fn)
    assert not fb.ok and fb.done
    assert f"only channel {channel}" in fb.message and "covered[:, rows, columns]" in fb.message, fb.message
    assert "largest difference" not in fb.message       # not the general message


def test_occlusion_none_returned_is_not_done():
    fb = lesson14.check_occlusion(lambda *a, **k: None)
    assert not fb.ok and not fb.done


def test_receptive_window_infinite_values_get_feedback():
    fb = lesson14.check_receptive_window(lambda i, j: (float("inf"), 0, 6))
    assert not fb.ok and fb.done and "three integers" in fb.message, fb.message


def test_the_shipped_deeper_network_is_small_loads_by_default_and_classifies(tmp_path, monkeypatch):
    from helpers.exercises import lesson12
    from helpers.layers import SoftmaxCrossEntropy
    from helpers.train import evaluate
    assert lesson14.SHIPPED_DEEPER.stat().st_size < 100_000           # no large binaries
    monkeypatch.setattr(lesson14, "DEEPER_PATH", tmp_path / "none.npz")  # nothing trained here
    model, info = lesson14.load_or_train_deeper(None)
    assert not info["trained"] and info["path"] == lesson14.SHIPPED_DEEPER
    data = lesson12.prepare_data()
    assert evaluate(model, SoftmaxCrossEntropy(), data.x_test, data.y_test)[1] > 0.85
    # weights trained here win over the shipped ones
    other = lesson14.deeper_convnet(seed=5)
    other.save(tmp_path / "none.npz")
    mine, info = lesson14.load_or_train_deeper(None)
    assert info["path"] == tmp_path / "none.npz"
    assert np.array_equal(mine.params["0.W"], other.params["0.W"])
