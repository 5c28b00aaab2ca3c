"""Lesson 12: the shared network code and the two checkers (parameter count, accuracy)."""
import numpy as np
import pytest

from helpers.data import fashion_mnist_available
from helpers.exercises import Feedback, lesson12, solution
from helpers.optim import Adam

EXPECTED = {"conv": 780, "hidden": 432_100, "output": 1_010}


# --- the shared network ------------------------------------------------------------------------

def test_simple_convnet_has_the_source_architecture_and_433890_parameters():
    m = lesson12.simple_convnet()
    s = m.summary((1, 28, 28), print_table=False)
    assert s.total_params == 433_890 == sum(EXPECTED.values())
    assert [type(l).__name__ for l in m.layers] == ["Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense", "ReLU", "Dense"]
    assert m.output_shape((1, 28, 28)) == (10,)
    assert lesson12.simple_convnet(filters=8, kernel_size=3).output_shape((1, 28, 28)) == (10,)


def test_same_seed_same_weights_and_other_seed_other_weights():
    a, b, c = lesson12.simple_convnet(seed=0), lesson12.simple_convnet(seed=0), lesson12.simple_convnet(seed=1)
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.params["0.W"], c.params["0.W"])


def test_filters_start_small_as_in_the_book_and_dense_layers_with_he():
    m = lesson12.simple_convnet(seed=0)
    assert abs(float(m.layers[0].params["W"].std()) - 0.01) < 0.002
    assert abs(float(m.layers[4].params["W"].std()) - (2 / 4320) ** 0.5) < 0.001
    he = lesson12.simple_convnet(seed=0, conv_std=None)
    assert abs(float(he.layers[0].params["W"].std()) - (2 / 25) ** 0.5) < 0.03
    # the same draw, only rescaled: the pattern of each filter is the same
    assert np.allclose(m.layers[0].params["W"] / m.layers[0].params["W"].std(),
                       he.layers[0].params["W"] / he.layers[0].params["W"].std(), atol=1e-5)


def test_mlp_baseline_has_about_as_many_parameters():
    assert lesson12.mlp().summary((1, 28, 28), print_table=False).total_params == 437_260


def test_step_decay_callback_sets_the_rate_and_chains():
    m = lesson12.simple_convnet()
    opt = Adam(m.parameters(), lr=0.002)
    seen = []
    cb = lesson12.step_decay_callback(opt, 0.002, 0.5, then=lambda e, h: seen.append(e))
    cb(1, None)
    assert opt.lr == pytest.approx(0.001) and seen == [1]
    cb(3, None)
    assert opt.lr == pytest.approx(0.00025) and seen == [1, 3]


class _TinyData:
    """Stands in for FashionData in the load/train tests (no download, seconds to train)."""
    def __init__(self, n=64):
        rng = np.random.default_rng(0)
        self.x_train = rng.normal(size=(n, 1, 28, 28)).astype(np.float32)
        self.y_train = rng.integers(0, 10, n)
        self.x_val, self.y_val = self.x_train[:16], self.y_train[:16]


def test_load_or_train_loads_saved_weights(tmp_path):
    saved = lesson12.simple_convnet(seed=5)
    path = tmp_path / "w.npz"
    saved.save(path)
    model, info = lesson12.load_or_train(data=None, path=path)
    assert info["trained"] is False and info["path"] == path
    assert np.array_equal(model.params["0.W"], saved.params["0.W"])


def test_load_or_train_trains_and_saves_when_the_file_is_missing_or_wrong(tmp_path, capsys):
    data = _TinyData()
    path = tmp_path / "sub" / "w.npz"
    calls = []
    real = lesson12.train_simple_convnet

    def quick(d, **kw):
        calls.append(kw)
        return real(d, epochs=1, batch_size=32, **kw)
    lesson07_train = lesson12.train_simple_convnet
    lesson12.train_simple_convnet = quick
    try:
        model, info = lesson12.load_or_train(data, path=path, progress=False)
        assert info["trained"] is True and path.exists() and len(calls) == 1
        # a file from another architecture is reported and replaced
        lesson12.mlp().save(path)
        model, info = lesson12.load_or_train(data, path=path, progress=False)
        assert info["trained"] is True and "Could not use" in capsys.readouterr().out
        assert lesson12.simple_convnet().load(path) is not None
    finally:
        lesson12.train_simple_convnet = lesson07_train


def test_train_simple_convnet_runs_with_the_schedule():
    data = _TinyData(96)
    seen = []
    model, history = lesson12.train_simple_convnet(data, epochs=2, batch_size=32, lr=1e-3, progress=False,
                                                   callback=lambda e, h: seen.append(e))
    assert len(history.loss) == 2 and len(history.val_acc) == 2 and seen == [1, 2]


@pytest.mark.skipif(not fashion_mnist_available(), reason="Fashion-MNIST is not installed")
def test_prepare_data_splits_and_standardises():
    d = lesson12.prepare_data()
    assert d.x_train.shape == (55000, 1, 28, 28) and d.x_val.shape == (5000, 1, 28, 28)
    assert d.x_test.shape == (10000, 1, 28, 28) and d.raw_test.shape == (10000, 28, 28)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert abs(d.mean - 0.286) < 1e-3 and abs(d.std - 0.353) < 1e-3
    assert abs(float(d.x_train.mean())) < 1e-3
    assert np.allclose(d.to_pixels(d.x_test[:2, 0]), d.raw_test[:2] / 255.0, atol=1e-5)


# --- exercise 1: parameter count ------------------------------------------------------------

def test_param_count_reference_is_correct():
    fb = lesson12.check_param_count(lesson12.param_count_solution())
    assert isinstance(fb, Feedback) and fb.ok and "433,890" in fb.message


def test_param_count_unfinished_is_not_done():
    for answer in (None, {"conv": None, "hidden": None, "output": None}):
        fb = lesson12.check_param_count(answer)
        assert not fb.ok and not fb.done


@pytest.mark.parametrize("key, value, phrase", [
    ("conv", 750, "one bias"),
    ("conv", 30 * 3 * 25 + 30, "1 channel"),
    ("conv", 30 * 24 * 24, "weight sharing"),
    ("hidden", 432_000, "bias each"),
    ("hidden", 30 * 24 * 24 * 100 + 100, "halves them"),
    ("hidden", 30 * 14 * 14 * 100 + 100, "padding"),
    ("hidden", 784 * 100 + 100, "raw image"),
    ("hidden", 12 * 12 * 100 + 100, "all 30 channels"),
    ("output", 1000, "bias each"),
    ("output", 1234, "Softmax has no parameters"),
])
def test_param_count_names_the_mistake(key, value, phrase):
    answer = dict(EXPECTED, **{key: value})
    fb = lesson12.check_param_count(answer)
    assert not fb.ok and fb.done and phrase in fb.message and f"'{key}'" in fb.message


def test_param_count_other_shapes_of_answer():
    assert lesson12.check_param_count(433_890).ok
    assert "dict" in lesson12.check_param_count(5).message
    assert "missing: output" in lesson12.check_param_count({"conv": 780, "hidden": 432_100}).message
    assert "whole number" in lesson12.check_param_count(dict(EXPECTED, conv="780ish")).message
    partly = lesson12.check_param_count(dict(EXPECTED, output=None))
    assert not partly.ok and "still None" in partly.message
    assert "must be a dict" in lesson12.check_param_count([780, 432_100, 1_010]).message


# --- exercise 2: accuracy -----------------------------------------------------------------------

def test_accuracy_reference_is_correct():
    assert lesson12.check_accuracy(lesson12.accuracy_solution).ok


def test_accuracy_unfinished():
    def todo(scores, y):
        raise NotImplementedError
    assert not lesson12.check_accuracy(todo).done
    assert not lesson12.check_accuracy(None).done


@pytest.mark.parametrize("fn, phrase", [
    (lambda s, y: 100 * np.mean(s.argmax(1) == y), "percentage"),
    (lambda s, y: np.sum(s.argmax(1) == y), "number of right answers"),
    (lambda s, y: s.argmax(1) == y, "one value per image"),
    (lambda s, y: np.mean(s.argmax(0) == y), "axis=0"),
    (lambda s, y: np.mean(s.argmax(1) != y), "error rate"),
    (lambda s, y: np.mean(s.argmin(1) == y), "argmax of each row"),
    (lambda s, y: "high", "return a number"),
    (lambda s, y: 1 / 0, "ZeroDivisionError"),
])
def test_accuracy_names_the_mistake(fn, phrase):
    fb = lesson12.check_accuracy(fn)
    assert not fb.ok and fb.done and phrase in fb.message, fb.message


def test_solutions_are_registered_and_printable(capsys):
    src = solution("param_count")
    assert "4320" in src and "@register_solution" not in src
    assert "4320" in capsys.readouterr().out
    assert "argmax" in solution("accuracy", show=False)
    assert capsys.readouterr().out == ""


# --- answers the fuzz test (tests/test_fuzz_checkers.py) found crashing the checkers ------------

@pytest.mark.parametrize("fn, phrase", [
    (lambda s, y: (None, []), "return a number"),              # ragged: np.asarray raised
    (lambda s, y: [np.mean(s.argmax(1) == y), [1, 2]], "return a number"),
    (lambda s, y: complex(np.mean(s.argmax(1) == y), 1), "return a number"),
    (lambda s, y: {"accuracy": 0.75}, "return a number"),
])
def test_accuracy_odd_return_values_get_feedback(fn, phrase):
    fb = lesson12.check_accuracy(fn)
    assert not fb.ok and fb.done and phrase in fb.message, fb.message


def test_accuracy_returning_none_is_not_done():
    fb = lesson12.check_accuracy(lambda s, y: None)
    assert not fb.ok and not fb.done and "returned None" in fb.message


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_param_count_infinite_or_nan_is_not_a_whole_number(value):
    answer = dict(lesson12.param_count_solution(), hidden=value)
    fb = lesson12.check_param_count(answer)
    assert not fb.ok and fb.done and "'hidden' must be a whole number" in fb.message, fb.message
