"""Lesson 05 checkers: the reference passes, and each typical slip gets its own message."""
import numpy as np
import pytest

from helpers.exercises import lesson06, solution

ref = lesson06.conv_params_solution


def test_reference_conv_params_passes():
    fb = lesson06.check_conv_params(ref)
    assert fb.ok and "2,416" in fb.message


@pytest.mark.parametrize("value", [None, ...])
def test_unfinished_conv_params_is_not_done(value):
    fb = lesson06.check_conv_params(value)
    assert not fb.ok and not fb.done


def test_not_implemented_is_not_done():
    def conv_params(in_channels, out_channels, kh, kw):
        raise NotImplementedError
    fb = lesson06.check_conv_params(conv_params)
    assert not fb.ok and not fb.done


@pytest.mark.parametrize("fn, words", [
    (lambda c, f, kh, kw: c * kh * kw * f, "forgot the bias"),
    (lambda c, f, kh, kw: (kh * kw + 1) * f, "forgot the input channels"),
    (lambda c, f, kh, kw: kh * kw * f, "one kernel per input channel"),
    (lambda c, f, kh, kw: c * kh * kw + 1, "multiply by out_channels"),
    (lambda c, f, kh, kw: c * kh * kw, "without its bias"),
    (lambda c, f, kh, kw: (c * kh * kw + c) * f, "its own bias"),
    (lambda c, f, kh, kw: 2 * c * kh * kw * f, "a bias for every weight"),
    (lambda c, f, kh, kw: c * kh * kw * f + c, "per *input* channel"),
    (lambda c, f, kh, kw: (c * kh * kh + 1) * f, "you used kh * kh"),
    (lambda c, f, kh, kw: (c * kw * kw + 1) * f, "you used kw * kw"),
    (lambda c, f, kh, kw: (c * kh + 1) * f, "counted only kh"),
    (lambda c, f, kh, kw: (c + kh * kw + 1) * f, "not in_channels + kh * kw"),
])
def test_conv_params_slips_are_named(fn, words):
    fb = lesson06.check_conv_params(fn)
    assert not fb.ok and fb.done
    assert words in fb.message, fb.message


def test_conv_params_other_errors():
    fb = lesson06.check_conv_params(lambda c, f, kh, kw: ref(c, f, kh, kw) + 1)
    assert not fb.ok and "expected" in fb.message and "one bias" in fb.message
    fb = lesson06.check_conv_params(lambda c, f, kh, kw: None)
    assert not fb.ok and "forget the `return`" in fb.message
    fb = lesson06.check_conv_params(lambda c, f, kh, kw: ref(c, f, kh, kw) / 2)
    assert not fb.ok
    fb = lesson06.check_conv_params(lambda c, f, kh, kw: 1 / 0)
    assert not fb.ok and "ZeroDivisionError" in fb.message


def test_conv_params_accepts_numpy_and_whole_floats():
    assert lesson06.check_conv_params(lambda *a: np.int64(ref(*a))).ok
    assert lesson06.check_conv_params(lambda *a: float(ref(*a))).ok
    fb = lesson06.check_conv_params(lambda *a: ref(*a) + 0.5)
    assert not fb.ok and "whole" in fb.message


# --- the CIFAR-10 model --------------------------------------------------------------------------

def answer(**changes):
    a = lesson06.cifar_params_solution()
    a.update(changes)
    return a


def test_reference_cifar_passes():
    fb = lesson06.check_cifar_params(lesson06.cifar_params_solution())
    assert fb.ok and "86,346" in fb.message


def test_reference_cifar_matches_helpers_summary():
    from helpers import layers as L
    from helpers.model import Sequential
    cifar = Sequential(
        L.Conv2D(3, 32, 3, padding="same"), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(32, 32, 3, padding="same"), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(32, 32, 3, padding="same"), L.ReLU(), L.MaxPool2D(2),
        L.Flatten(), L.Dense(512, 128), L.ReLU(), L.Dense(128, 10))
    s = cifar.summary((3, 32, 32), print_table=False)
    counts = [p for name, _, p, _ in s.rows if not name.startswith("ReLU")]
    ref_answer = lesson06.cifar_params_solution()
    assert counts == [ref_answer[k] for k in lesson06.CIFAR_LAYERS]
    assert s.total_params == ref_answer["total"]
    shapes = [shape for name, shape, _, _ in s.rows if not name.startswith("ReLU")]
    assert shapes == [v[1] for v in lesson06.CIFAR_LAYERS.values()]


def test_fresh_cifar_is_not_done():
    fresh = {k: None for k in lesson06.cifar_params_solution()}
    fb = lesson06.check_cifar_params(fresh)
    assert not fb.ok and not fb.done
    assert not lesson06.check_cifar_params(None).done


def test_partly_filled_right_answer_says_what_is_left():
    a = {k: None for k in lesson06.cifar_params_solution()}
    a["conv1"] = 896
    fb = lesson06.check_cifar_params(a)
    assert not fb.ok and not fb.done
    assert "right" in fb.message and "conv2" in fb.message


@pytest.mark.parametrize("changes, words", [
    ({"conv1": 864}, "bias is missing"),
    ({"conv1": 320}, "input channels are missing"),
    ({"conv2": 896}, "previous layer's output, 32 channels"),
    ({"conv3": 9216}, "bias is missing"),
    ({"pool1": 4}, "nothing to learn"),
    ({"flatten": 512}, "nothing to learn"),
    ({"dense1": 65536}, "bias is missing"),
    ({"dense1": (32 * 32 * 32 + 1) * 128}, "three 2x2 poolings"),
    ({"dense1": (32 * 8 * 8 + 1) * 128}, "not two"),
    ({"dense1": (32 * 2 * 2 + 1) * 128}, "padding='same' keeps the size"),
    ({"dense2": 1280}, "bias is missing"),
    ({"total": 86345}, "your layers add up to 86,346"),
])
def test_cifar_slips_are_named(changes, words):
    fb = lesson06.check_cifar_params(answer(**changes))
    assert not fb.ok and fb.done
    assert words in fb.message, fb.message
    assert list(changes)[0] in fb.message


def test_cifar_reports_every_wrong_entry():
    fb = lesson06.check_cifar_params(answer(conv1=864, conv2=9216, conv3=9216, dense1=65536,
                                            dense2=1280, total=864 + 2 * 9216 + 65536 + 1280))
    assert not fb.ok
    assert "4 of 10 filled-in entries are right" in fb.message     # the pools and flatten
    for name in ("conv1", "conv2", "conv3", "dense1", "dense2", "total"):
        assert name in fb.message


def test_cifar_wrong_types():
    assert not lesson06.check_cifar_params([896, 0]).ok
    fb = lesson06.check_cifar_params(answer(conv1="896"))
    assert not fb.ok and "whole number" in fb.message


def test_solutions_print():
    for name in ("conv_params", "cifar_params"):
        src = solution(name, show=False)
        assert "def " in src and "@register_solution" not in src


# --- issue item 7: a checker is never wrong -------------------------------------------------

from helpers.exercises import Feedback  # noqa: E402


def test_misspelled_key_is_named_not_called_right():
    # the exact answer of the issue: {"Conv1": 896} used to get "the 1 entries you filled in are right"
    fb = lesson06.check_cifar_params({"Conv1": 896})
    assert not fb.ok and fb.done
    assert 'you wrote "Conv1"; the expected key is "conv1"' in fb.message
    assert "Its value, 896, is right for conv1" in fb.message
    assert "you filled in are right" not in fb.message


def test_misspelled_key_in_a_full_answer():
    a = lesson06.cifar_params_solution()
    a["Conv1"] = a.pop("conv1")
    fb = lesson06.check_cifar_params(a)
    assert not fb.ok and fb.done
    assert 'you wrote "Conv1"; the expected key is "conv1"' in fb.message
    assert "Still to fill in" not in fb.message          # conv1 is not missing: it is misspelled


@pytest.mark.parametrize("key", ["Conv1", "CONV1", "conv 1", "conv_1", "cnv1", " conv1"])
def test_near_misses_are_mapped_to_the_key_they_mean(key):
    fb = lesson06.check_cifar_params({key: 896})
    assert not fb.ok and f'you wrote "{key}"; the expected key is "conv1"' in fb.message


def test_misspelled_key_with_a_wrong_value_gets_both():
    fb = lesson06.check_cifar_params({"Conv1": 864})
    assert not fb.ok
    assert 'the expected key is "conv1"' in fb.message and "bias is missing" in fb.message


@pytest.mark.parametrize("changes, words", [
    ({"relu1": 0}, 'the key "relu1" is not an entry'),
    ({"conv4": 9248}, 'the key "conv4" is not an entry'),
    ({"Conv1": 896}, 'the key "Conv1" repeats "conv1"'),
    ({1: 896}, "the key 1 is not an entry"),
])
def test_extra_keys_make_a_full_answer_wrong(changes, words):
    fb = lesson06.check_cifar_params(answer(**{}) | changes)
    assert not fb.ok and fb.done and words in fb.message, fb.message


def test_values_are_still_checked_with_exact_keys():
    assert lesson06.check_cifar_params(lesson06.cifar_params_solution()).ok
    fb = lesson06.check_cifar_params(answer(conv2=896))
    assert not fb.ok and "previous layer's output" in fb.message
    fb = lesson06.check_cifar_params(answer(conv1=np.array([896])))
    assert not fb.ok and "whole number" in fb.message
    assert lesson06.check_cifar_params(answer(conv1=np.int64(896), total=np.float64(86346.0))).ok


def test_one_right_entry_is_singular():
    fb = lesson06.check_cifar_params({"conv1": 896})
    assert not fb.ok and not fb.done and "the 1 entry you filled in is right" in fb.message


def test_conv_params_string_and_value_instead_of_function():
    fb = lesson06.check_conv_params(lambda *a: str(ref(*a)))
    assert not fb.ok and "string '168'" in fb.message and 'not "168"' in fb.message
    fb = lesson06.check_conv_params(896)
    assert not fb.ok and "pass your function itself" in fb.message


def _raises(*args, **kwargs):
    raise ValueError("boom")


ODD_VALUES = [None, 3, "3", [], np.zeros((0,)), np.float64("nan"), ..., {}, np.zeros((2, 2)),
              object(), 1j, True, float("inf")]
ODD_FUNCTIONS = [_raises, lambda *a, **k: None] + [lambda *a, v=v, **k: v for v in ODD_VALUES]


def _never_right(fb):
    assert isinstance(fb, Feedback) and not fb.ok
    assert isinstance(fb.message, str) and fb.message
    assert str(fb) and fb._repr_html_()


@pytest.mark.parametrize("odd", ODD_VALUES + ODD_FUNCTIONS)
def test_sweep_conv_params(odd):
    _never_right(lesson06.check_conv_params(odd))


@pytest.mark.parametrize("odd", ODD_VALUES + ODD_FUNCTIONS)
def test_sweep_cifar_params(odd):
    _never_right(lesson06.check_cifar_params(odd))
    _never_right(lesson06.check_cifar_params({"conv1": odd}))
    _never_right(lesson06.check_cifar_params(answer(conv1=odd)))
    _never_right(lesson06.check_cifar_params({"Conv1": odd}))
