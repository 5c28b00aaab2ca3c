from helpers.exercises import lesson00, solution


def test_reference_solution_passes():
    fb = lesson00.check_weights_in_a_filter(lesson00.weights_in_a_filter_solution())
    assert fb.ok and "27" in fb.message


def test_typical_wrong_answers_get_specific_feedback():
    assert "one channel" in lesson00.check_weights_in_a_filter(9).message
    assert "bias" in lesson00.check_weights_in_a_filter(28).message
    assert not lesson00.check_weights_in_a_filter(12).ok
    assert "number" in lesson00.check_weights_in_a_filter("27").message


def test_unfinished_answer_is_not_an_error():
    fb = lesson00.check_weights_in_a_filter(None)
    assert not fb.ok and not fb.done and "your code here" in fb.message
    assert "Not done yet" in str(fb) and "<div" in fb._repr_html_()


def test_solution_prints_source(capsys):
    src = solution("weights_in_a_filter")
    assert "3 * 3 * 3" in src and "3 * 3 * 3" in capsys.readouterr().out


# --- issue item 7: a checker is never wrong -------------------------------------------------

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.exercises import Feedback  # noqa: E402


@pytest.mark.parametrize("right", [27, np.int64(27), np.int32(27), np.uint8(27), np.array(27),
                                   27.0, np.float64(27.0)])
def test_any_number_equal_to_27_is_right(right):
    fb = lesson00.check_weights_in_a_filter(right)
    assert fb.ok, fb.message
    assert "27 = 3 x 3 weights" in fb.message


def test_numpy_int64_27_was_rejected_and_is_now_right():
    # the exact answer of the issue: np.int64 is no Python int, and it used to be called "not a number"
    fb = lesson00.check_weights_in_a_filter(np.int64(27))
    assert fb.ok and "number of weights; you gave" not in fb.message


@pytest.mark.parametrize("answer, words", [
    (np.int64(9), "one channel's kernel"),
    (np.int32(28), "counts the bias"),
    (27.5, "not a whole number"),
    (np.int64(12), "12 is not it"),
    ("27", "string"),
    (True, "yes/no value"),
    (np.bool_(True), "yes/no value"),
    ([27], "list or array"),
    (np.array([27]), "list or array"),
    (np.float64("nan"), "not a count"),
    (float("inf"), "not a count"),
    (lambda: 27, "a function"),
])
def test_wrong_answers_get_a_specific_message(answer, words):
    fb = lesson00.check_weights_in_a_filter(answer)
    assert not fb.ok and fb.done
    assert words in fb.message, fb.message


def test_string_27_is_told_to_drop_the_quotes():
    fb = lesson00.check_weights_in_a_filter("27")
    assert not fb.ok and "without quotes" in fb.message


def _raises(*args, **kwargs):
    raise ValueError("boom")


ODD_ANSWERS = [None, 3, "3", [], np.zeros((0,)), np.float64("nan"), _raises, lambda *a, **k: None,
               ..., {}, (), np.zeros((2, 3)), 1j, object()]


@pytest.mark.parametrize("odd", ODD_ANSWERS)
def test_odd_answers_never_raise_and_are_never_right(odd):
    fb = lesson00.check_weights_in_a_filter(odd)
    assert isinstance(fb, Feedback) and not fb.ok
    assert isinstance(fb.message, str) and fb.message
    assert str(fb) and fb._repr_html_()
