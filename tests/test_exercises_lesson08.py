"""Lesson 08 checkers: the reference passes, and each typical slip gets its own message."""
import numpy as np
import pytest

from helpers import conv
from helpers.exercises import lesson08, solution

# --- max pooling by hand -----------------------------------------------------------------------


def test_reference_pooled_passes():
    fb = lesson08.check_max_pool_by_hand(lesson08.max_pool_by_hand_solution())
    assert fb.ok
    assert np.array_equal(lesson08.max_pool_by_hand_solution(),
                          conv.max_pool2d(lesson08.POOL_X[None, None].astype(float), 2)[0, 0])


def test_pooled_accepts_arrays_and_floats():
    assert lesson08.check_max_pool_by_hand(np.array([[7.0, 9.0], [8.0, 6.0]])).ok


@pytest.mark.parametrize("value", [None, ...])
def test_pooled_unfinished(value):
    fb = lesson08.check_max_pool_by_hand(value)
    assert not fb.ok and not fb.done


def test_pooled_partly_filled_is_not_done():
    fb = lesson08.check_max_pool_by_hand([[7, None], [8, 6]])
    assert not fb.ok and not fb.done


@pytest.mark.parametrize("answer, words", [
    ([[3.75, 4.25], [4.5, 3.75]], "average pooling"),
    ([[1, 1], [2, 0]], "smallest value"),
    ([[15, 17], [18, 15]], "sum of each window"),
    ([[7, 8], [9, 6]], "transposed"),
    ([[7, 4, 9], [8, 6, 6], [8, 6, 6]], "stride 1"),
    ([[7, 9, 1], [8, 6, 1]], "should be 2x2"),
    ([[7, 9], [8, 5]], "output [1, 1] is 5"),
    ([[4, 9], [8, 6]], "x[0:2, 0:2] = [[1, 3], [7, 4]] has maximum 7"),
    ("seven", "nested list"),
])
def test_pooled_slips(answer, words):
    fb = lesson08.check_max_pool_by_hand(answer)
    assert not fb.ok and fb.done
    assert words in fb.message, fb.message


# --- pooled output size ------------------------------------------------------------------------

def test_reference_size_passes():
    fb = lesson08.check_pool_output_size(lesson08.pool_output_size_solution)
    assert fb.ok and "27" in fb.message
    for n, k, s in lesson08.SIZE_CASES:
        assert lesson08.pool_output_size_solution(n, k, s) == conv.output_size(n, k, stride=s)


def test_size_unfinished():
    def pool_output_size(n, kernel_size, stride):
        raise NotImplementedError
    assert not lesson08.check_pool_output_size(pool_output_size).done
    assert not lesson08.check_pool_output_size(None).done


@pytest.mark.parametrize("fn, words", [
    (lambda n, k, s: n // s, "tile the input"),
    (lambda n, k, s: n // k, "ignores the stride"),
    (lambda n, k, s: (n - k) // s, "forgot the + 1"),
    (lambda n, k, s: -(-(n - k) // s) + 1, "rounded up"),
    (lambda n, k, s: (n - k) / s + 1, "floor division"),
    (lambda n, k, s: None, "forget the `return`"),
    (lambda n, k, s: n - k + 1, "expected"),
    (lambda n, k, s: [][0], "IndexError"),
])
def test_size_slips(fn, words):
    fb = lesson08.check_pool_output_size(fn)
    assert not fb.ok and fb.done
    assert words in fb.message, fb.message


def test_size_accepts_whole_floats():
    assert lesson08.check_pool_output_size(lambda n, k, s: float((n - k) // s + 1)).ok


# --- max pooling backward ----------------------------------------------------------------------

def test_reference_backward_passes_and_matches_helpers():
    assert lesson08.check_max_pool_backward(lesson08.max_pool_backward_solution).ok
    for _, x, dout, k, s in lesson08._backward_cases():
        _, cache = conv.max_pool2d_forward(x[None, None], k, s)
        expected = conv.max_pool2d_backward(dout[None, None], cache)[0, 0]
        assert np.allclose(lesson08.max_pool_backward_solution(x, dout, k, s), expected)


def test_backward_cases_have_no_ties_and_overlap():
    cases = lesson08._backward_cases()
    for _, x, *_ in cases:
        assert len(np.unique(x)) == x.size
    overlapping = [c for c in cases if c[4] < c[3]]
    assert overlapping
    # in an overlapping case some pixel collects more than one gradient
    _, x, dout, k, s = overlapping[0]
    dx = lesson08.max_pool_backward_solution(x, dout, k, s)
    assert dx.max() > dout.max()


def test_backward_unfinished():
    def max_pool_backward(x, dout, kernel_size, stride):
        raise NotImplementedError
    assert not lesson08.check_max_pool_backward(max_pool_backward).done
    assert not lesson08.check_max_pool_backward(None).done


@pytest.mark.parametrize("fn, words", [
    (lesson08._overwrite, "add with +="),
    (lesson08._spread, "*average* pooling"),
    (lesson08._ones, "put the gradient that arrives"),
    (lesson08._corner, "top-left corner"),
    (lambda x, dout, k, s: np.zeros_like(dout), "shape of x"),
    (lambda x, dout, k, s: None, "forget the `return`"),
    (lambda x, dout, k, s: np.zeros_like(x), "expected"),
    (lambda x, dout, k, s: x / 0 if False else x["a"], "raised"),
])
def test_backward_slips(fn, words):
    fb = lesson08.check_max_pool_backward(fn)
    assert not fb.ok and fb.done
    assert words in fb.message, fb.message


def test_overwrite_passes_the_non_overlapping_case():
    # the reason the checker has overlapping cases: '=' is right without overlap
    desc, x, dout, k, s = lesson08._backward_cases()[0]
    assert s == k
    assert np.array_equal(lesson08._overwrite(x, dout, k, s), lesson08.max_pool_backward_solution(x, dout, k, s))
    fb = lesson08.check_max_pool_backward(lesson08._overwrite)
    assert "overlapping" in fb.message


def test_backward_does_not_mind_learner_changing_inputs():
    def sloppy(x, dout, k, s):
        dx = lesson08.max_pool_backward_solution(x, dout, k, s)
        x[...] = 0
        return dx
    assert lesson08.check_max_pool_backward(sloppy).ok


def test_solutions_print():
    for name in ("max_pool_by_hand", "pool_output_size", "max_pool_backward"):
        src = solution(name, show=False)
        assert "def " in src and "@register_solution" not in src


# --- issue 29: cases the checker fuzzer found (tests/test_fuzz_checkers.py) ------------------

@pytest.mark.parametrize("returned, says", [
    (np.array([], dtype=bool), "returned ndarray array([], dtype=bool); return one whole number"),
    (np.array([1, 2]), "returned ndarray array([1, 2]); return one whole number"),
    ("14", "returned str '14'"), (True, "returned bool True"),
    (float("nan"), "returned nan, not a whole number"), (float("inf"), "not a whole number")])
def test_pool_output_size_names_a_result_that_is_no_number(returned, says):
    """An empty array made the checker raise ("the truth value of an empty array is
    ambiguous"); float('inf') raised OverflowError in float(got).is_integer()."""
    fb = lesson08.check_pool_output_size(lambda n, k, s: returned)
    assert not fb.ok and fb.done and says in fb.message, fb.message


def test_pool_output_size_takes_numpy_numbers():
    fb = lesson08.check_pool_output_size(lambda n, k, s: np.int64((n - k) // s + 1))
    assert fb.ok, fb.message
    fb = lesson08.check_pool_output_size(lambda n, k, s: np.array(float((n - k) // s + 1)))
    assert fb.ok, fb.message
