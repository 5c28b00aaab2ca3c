"""The lesson 03 checkers: reference solutions pass; the usual slips (forgetting the +1,
forgetting 2p, ceil, floats, dilation, an even kernel, the end of a range) get named."""
import math

import pytest

from helpers import conv
from helpers.exercises import solution
from helpers.exercises.lesson03 import (SIZE_CASES, check_fitting_strides, check_out_size,
                                        check_same_padding, fitting_strides, out_size, same_padding)


def k_eff(k, d):
    return d * (k - 1) + 1


# --- out_size -------------------------------------------------------------------------------

def test_reference_agrees_with_helpers_conv():
    for case in SIZE_CASES:
        assert out_size(*case) == conv.output_size(*case)


def test_reference_passes():
    fb = check_out_size(out_size)
    assert fb.ok and "14 cases" in fb.message


def test_unfinished():
    def todo(n, k, s=1, p=0, d=1):
        raise NotImplementedError
    for answer in (None, todo):
        fb = check_out_size(answer)
        assert not fb.ok and not fb.done


@pytest.mark.parametrize("wrong, words", [
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - k_eff(k, d)) // s, "+1 is missing"),
    (lambda n, k, s=1, p=0, d=1: (n + p - k_eff(k, d)) // s + 1, "padding is counted once"),
    (lambda n, k, s=1, p=0, d=1: (n - k_eff(k, d)) // s + 1, "padding seems to be left out"),
    (lambda n, k, s=1, p=0, d=1: math.ceil((n + 2 * p - k_eff(k, d)) / s) + 1, "round up (ceil)"),
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - k) // s + 1, "dilation seems to be ignored"),
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * k) // s + 1, "d(k - 1) + 1"),
    (lambda n, k, s=1, p=0, d=1: (n + 2 * p - k_eff(k, d) + 1) // s, "+1 seems to be inside the division"),
    (lambda n, k, s=1, p=0, d=1: round((n + 2 * p - k_eff(k, d)) / s) + 1, "nearest integer"),
])
def test_typical_slips_are_named(wrong, words):
    fb = check_out_size(wrong)
    assert not fb.ok and fb.done
    assert words in fb.message, fb.message
    assert "you return" in fb.message and "expected" in fb.message


def test_true_division_and_floats():
    fb = check_out_size(lambda n, k, s=1, p=0, d=1: (n + 2 * p - k_eff(k, d)) / s + 1)
    assert not fb.ok and "a fraction" in fb.message and "//" in fb.message
    fb = check_out_size(lambda n, k, s=1, p=0, d=1: float(out_size(n, k, s, p, d)))
    assert not fb.ok and "floats" in fb.message


def test_unknown_mistake_gets_the_formula_with_numbers():
    fb = check_out_size(lambda n, k, s=1, p=0, d=1: 7)
    assert not fb.ok and "floor((5 + 2·0 - 3) / 1) + 1" in fb.message


def test_crash_is_reported_kindly():
    fb = check_out_size(lambda n, k, s=1, p=0, d=1: n // 0)
    assert not fb.ok and "ZeroDivisionError" in fb.message


# --- same_padding ---------------------------------------------------------------------------

def test_same_padding_reference():
    assert check_same_padding(same_padding).ok
    assert [same_padding(k) for k in range(1, 8)] == [0, None, 1, None, 2, None, 3]
    assert same_padding(3, 2) == 2 and same_padding(2, 2) == 1 and same_padding(2, 3) is None
    for k in range(1, 8):
        for d in range(1, 4):
            p = same_padding(k, d)
            if p is not None:
                assert conv.output_size(10, k, 1, p, d) == 10


def test_same_padding_even_kernel_needs_none():
    fb = check_same_padding(lambda k, d=1: k // 2)
    assert not fb.ok and "k=2" in fb.message and "11 outputs" in fb.message and "return None" in fb.message


def test_same_padding_forgetting_dilation():
    fb = check_same_padding(lambda k, d=1: (k - 1) // 2 if k % 2 else None)
    assert not fb.ok and "dilation is left out" in fb.message


def test_same_padding_full_padding():
    fb = check_same_padding(lambda k, d=1: d * (k - 1))
    assert not fb.ok and "'full' padding" in fb.message


def test_same_padding_one_too_many_and_none_for_odd():
    fb = check_same_padding(lambda k, d=1: None if k_eff(k, d) % 2 == 0 else (k_eff(k, d) + 1) // 2)
    assert not fb.ok and "One too many" in fb.message
    fb = check_same_padding(lambda k, d=1: None)
    assert not fb.ok and "you return None, but k_eff = 1 is odd" in fb.message


def test_same_padding_unfinished():
    assert not check_same_padding(None).done


# --- fitting_strides ------------------------------------------------------------------------

def test_fitting_strides_reference():
    assert check_fitting_strides(fitting_strides).ok
    assert fitting_strides(15, 3) == [1, 2, 3, 4, 6, 12]
    assert fitting_strides(224, 7, 3) == [1, 223]
    for s in fitting_strides(15, 3):
        conv.output_size(15, 3, s, exact=True)           # raises if a row were dropped


def test_fitting_strides_missing_the_last():
    def off_by_one(n, k, p=0, d=1):
        span = n + 2 * p - k_eff(k, d)
        return [s for s in range(1, span) if span % s == 0]
    fb = check_fitting_strides(off_by_one)
    assert not fb.ok and "stride 12 is missing" in fb.message and "range(1, 12 + 1)" in fb.message


def test_fitting_strides_listing_strides_that_drop_rows():
    fb = check_fitting_strides(lambda n, k, p=0, d=1: list(range(1, 6)))
    assert not fb.ok and "stride 5" in fb.message and "not a multiple of 5" in fb.message
    assert "last 2 row(s)" in fb.message


def test_fitting_strides_forgetting_padding_or_dilation():
    fb = check_fitting_strides(lambda n, k, p=0, d=1: fitting_strides(n, k, 0, d))
    assert not fb.ok and "224" in fb.message
    fb = check_fitting_strides(lambda n, k, p=0, d=1: fitting_strides(n, k, p, 1))
    assert not fb.ok and "d=2" in fb.message


def test_fitting_strides_odd_return_values():
    assert "None" in check_fitting_strides(lambda n, k, p=0, d=1: None).message
    assert "whole numbers" in check_fitting_strides(lambda n, k, p=0, d=1: ["a"]).message
    assert check_fitting_strides(lambda n, k, p=0, d=1: tuple(reversed(fitting_strides(n, k, p, d)))).ok
    assert not check_fitting_strides(None).done


def test_solutions_are_registered():
    for name in ("out_size", "same_padding", "fitting_strides"):
        assert f"def {name}" in solution(name, show=False)


# --- issue item 7: a checker is never wrong -------------------------------------------------

import numpy as np  # noqa: E402

from helpers.exercises import Feedback  # noqa: E402


def test_string_answer_is_named_a_string_not_a_mismatch():
    # the exact answer of the issue: "3" used to get "you return 3, expected 3"
    fb = check_out_size(lambda n, k, s=1, p=0, d=1: str(out_size(n, k, s, p, d)))
    assert not fb.ok and fb.done
    assert "you return 3, expected 3" not in fb.message
    assert "string '3'" in fb.message and 'return 3, not "3"' in fb.message
    assert "number" in fb.message


def test_string_answers_in_the_other_lesson02_checkers():
    fb = check_same_padding(lambda k, d=1: None if same_padding(k, d) is None else str(same_padding(k, d)))
    assert not fb.ok and "string '0'" in fb.message and 'return 0, not "0"' in fb.message
    fb = check_fitting_strides(lambda n, k, p=0, d=1: [str(s) for s in fitting_strides(n, k, p, d)])
    assert not fb.ok and "'1'" in fb.message and "whole number" in fb.message
    fb = check_fitting_strides(lambda n, k, p=0, d=1: "1, 2, 3")
    assert not fb.ok and "not strings" in fb.message


def test_numpy_integers_are_right():
    assert check_out_size(lambda *a: np.int64(out_size(*a))).ok
    assert check_out_size(lambda *a: np.array(out_size(*a))).ok
    assert check_same_padding(lambda k, d=1: None if same_padding(k, d) is None else np.int32(same_padding(k, d))).ok
    assert check_fitting_strides(lambda *a: np.array(fitting_strides(*a))).ok


@pytest.mark.parametrize("fn, words", [
    (lambda n, k, s=1, p=0, d=1: [out_size(n, k, s, p, d)], "not one number"),
    (lambda n, k, s=1, p=0, d=1: np.array([out_size(n, k, s, p, d)]), "not one number"),
    (lambda n, k, s=1, p=0, d=1: True, "yes/no value"),
    (lambda n, k, s=1, p=0, d=1: float("nan"), "you return nan"),
    (lambda n, k, s=1, p=0, d=1: "three", "string 'three'"),
])
def test_out_size_non_numbers_are_named(fn, words):
    fb = check_out_size(fn)
    assert not fb.ok and fb.done and words in fb.message, fb.message


def test_same_padding_fractions_and_floats():
    fb = check_same_padding(lambda k, d=1: (d * (k - 1)) / 2)          # 0.5 for k = 2
    assert not fb.ok and "a fraction of a pixel" in fb.message and "Expected None" in fb.message
    fb = check_same_padding(lambda k, d=1: None if same_padding(k, d) is None else float(same_padding(k, d)))
    assert not fb.ok and "floats" in fb.message


def test_fitting_strides_fractions_are_not_truncated_into_a_right_answer():
    # int(1.5) == 1: these used to be accepted
    fb = check_fitting_strides(lambda n, k, p=0, d=1: [s + 0.5 for s in fitting_strides(n, k, p, d)])
    assert not fb.ok and "1.5" in fb.message and "whole number" in fb.message
    fb = check_fitting_strides(lambda n, k, p=0, d=1: [float(s) for s in fitting_strides(n, k, p, d)])
    assert not fb.ok and "floats" in fb.message
    fb = check_fitting_strides(lambda n, k, p=0, d=1: [True] + fitting_strides(n, k, p, d)[1:])
    assert not fb.ok


def test_passing_a_value_instead_of_the_function():
    fb = check_out_size(3)
    assert not fb.ok and "pass your function itself" in fb.message and "check_out_size(out_size)" in fb.message


def _raises(*args, **kwargs):
    raise ValueError("boom")


ODD_VALUES = [None, 3, "3", [], np.zeros((0,)), np.float64("nan"), ..., {}, np.zeros((2, 2)),
              object(), 1j, -1, float("inf")]
ODD_FUNCTIONS = [_raises, lambda *a, **k: None] + [lambda *a, v=v, **k: v for v in ODD_VALUES]


@pytest.mark.parametrize("checker", [check_out_size, check_same_padding, check_fitting_strides])
@pytest.mark.parametrize("odd", ODD_VALUES + ODD_FUNCTIONS)
def test_sweep_odd_answers(checker, odd):
    fb = checker(odd)
    assert isinstance(fb, Feedback) and not fb.ok
    assert isinstance(fb.message, str) and fb.message
    assert str(fb) and fb._repr_html_()
