"""The lesson 01 checkers: the reference solutions pass, typical wrong answers get specific,
kind feedback, and nothing unfinished makes a checker raise."""
import numpy as np
import pytest

from helpers.exercises import solution
from helpers.exercises.lesson02 import (EXAMPLE_IMAGE, EXAMPLE_KERNEL, check_correlate2d,
                                        check_vertical_edge_filter, correlate2d_taps, edge_responses,
                                        vertical_edge_filter)
from helpers.widgets import conv_stepper


def window_loop(image, kernel, flip=False, short=False):
    k = kernel[::-1, ::-1] if flip else kernel
    H, W = image.shape
    KH, KW = k.shape
    oh, ow = H - KH + (0 if short else 1), W - KW + (0 if short else 1)
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = np.sum(image[i:i + KH, j:j + KW] * k)
    return out


# --- correlate2d ----------------------------------------------------------------------------

def test_example_is_the_one_the_widget_shows():
    np.testing.assert_array_equal(EXAMPLE_IMAGE, conv_stepper.EXAMPLE_IMAGE)
    np.testing.assert_array_equal(EXAMPLE_KERNEL, conv_stepper.EXAMPLE_KERNEL)


def test_reference_and_window_loop_pass():
    for fn in (correlate2d_taps, window_loop):
        fb = check_correlate2d(fn)
        assert fb.ok, fb.message
        assert "agrees with helpers.conv.conv2d_naive" in fb.message


@pytest.mark.parametrize("unfinished", [None, ..., lambda image, kernel: (_ for _ in ()).throw(NotImplementedError())])
def test_unfinished_says_not_done(unfinished):
    fb = check_correlate2d(unfinished)
    assert not fb.ok and not fb.done
    assert "your code here" in fb.message


def test_flipped_kernel_is_named_convolution():
    fb = check_correlate2d(lambda i, k: window_loop(i, k, flip=True))
    assert not fb.ok and "flips the kernel" in fb.message and "cross-correlation" in fb.message


def test_missing_plus_one():
    fb = check_correlate2d(lambda i, k: window_loop(i, k, short=True))
    assert not fb.ok and "(3, 3)" in fb.message and "expected (4, 4)" in fb.message
    assert "the +1" in fb.message


def test_output_as_large_as_the_input():
    fb = check_correlate2d(lambda i, k: np.zeros(i.shape))
    assert not fb.ok and "input's size" in fb.message


def test_kernel_height_used_for_the_width_shows_on_the_non_square_case():
    def square_only(image, kernel):
        K = kernel.shape[0]                       # the slip: the height used for both directions
        H, W = image.shape
        out = np.zeros((H - K + 1, W - K + 1))
        for i in range(H - K + 1):
            for j in range(W - K + 1):
                out[i, j] = np.sum(image[i:i + K, j:j + K] * kernel[:K, :K])
        return out
    fb = check_correlate2d(square_only)
    assert not fb.ok and "6×7 image with a 2×3 kernel" in fb.message and "expected (5, 5)" in fb.message
    assert "KH, KW = kernel.shape" in fb.message


def test_returns_none_or_raises():
    fb = check_correlate2d(lambda i, k: None)
    assert not fb.ok and fb.done and "return out" in fb.message
    fb = check_correlate2d(lambda i, k: i[10])
    assert not fb.ok and "IndexError" in fb.message


def test_transposed_output_shape():
    fb = check_correlate2d(lambda i, k: window_loop(i, k).T)
    assert not fb.ok  # on the 5x5 case the transpose has the right shape but wrong numbers
    assert "out[" in fb.message or "swapped" in fb.message


# --- vertical edge filter -------------------------------------------------------------------

def test_sobel_x_and_simple_differences_pass():
    for w in (vertical_edge_filter(), [[1, -1]], [[-1, 0, 1]] * 3, -vertical_edge_filter()):
        fb = check_vertical_edge_filter(w)
        assert fb.ok, fb.message
        assert "finds vertical edges" in fb.message
    assert "positive" in check_vertical_edge_filter(vertical_edge_filter()).message
    assert "negative" in check_vertical_edge_filter(-vertical_edge_filter()).message


def test_horizontal_edge_filter_is_told_to_turn():
    fb = check_vertical_edge_filter(vertical_edge_filter().T)
    assert not fb.ok and "horizontal edges" in fb.message and "w.T" in fb.message
    assert "horizontal edge: 4" in fb.message


def test_blur_is_recognised():
    fb = check_vertical_edge_filter(np.ones((3, 3)) / 9)
    assert not fb.ok and "sum to 1" in fb.message and "blur" in fb.message
    assert "flat grey area: 0.5" in fb.message


def test_weights_not_summing_to_zero():
    fb = check_vertical_edge_filter([[-1, 0, 1], [-2, 0, 2], [-1, 0, 2]])
    assert not fb.ok and "sum to 1, not 0" in fb.message and "blur" not in fb.message


def test_laplacian_and_diagonal_respond_to_both():
    for w in ([[0, 1, 0], [1, -4, 1], [0, 1, 0]], [[1, 0], [0, -1]]):
        fb = check_vertical_edge_filter(w)
        assert not fb.ok and "vertical and to horizontal edges alike" in fb.message
        assert "each row of weights sum to 0" in fb.message


def test_checkerboard_responds_to_neither():
    fb = check_vertical_edge_filter([[1, -1], [-1, 1]])
    assert not fb.ok and "neither" in fb.message


@pytest.mark.parametrize("bad, words", [
    (None, "Not done"), (np.zeros((3, 3)), "responds to nothing"), (np.ones(3), "2-D"),
    (np.ones((12, 12)), "small filter"), ([[1, np.nan]], "NaN"), ("edge", "numbers"),
])
def test_odd_answers_get_a_clear_message(bad, words):
    fb = check_vertical_edge_filter(bad)
    assert not fb.ok and words in str(fb)


def test_edge_responses_numbers():
    r = edge_responses(vertical_edge_filter())
    assert r == {"vertical edge": 4.0, "horizontal edge": 0.0, "flat grey": 0.0}


def test_solutions_are_registered():
    assert "def correlate2d_taps" in solution("correlate2d_taps", show=False)
    assert "[-2, 0, 2]" in solution("vertical_edge_filter", show=False)


# --- issue item 7: a checker is never wrong -------------------------------------------------

from helpers.exercises import Feedback  # noqa: E402

SOBEL_5 = np.array([[-1, -2, 0, 2, 1], [-4, -8, 0, 8, 4], [-6, -12, 0, 12, 6],
                    [-4, -8, 0, 8, 4], [-1, -2, 0, 2, 1]], dtype=float)
PREWITT_X = np.array([[-1, 0, 1]] * 3, dtype=float)
SCHARR_X = np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], dtype=float)
LINE_DETECTOR = np.array([[-1, 2, -1]] * 3, dtype=float)


@pytest.mark.parametrize("w", [vertical_edge_filter(), -vertical_edge_filter(), PREWITT_X, SCHARR_X,
                               SOBEL_5, [[1, -1]], [[-1, -1, 1, 1]], [[-2, 1, 1]] * 3,
                               vertical_edge_filter().astype(np.int64)])
def test_real_vertical_edge_filters_pass(w):
    fb = check_vertical_edge_filter(w)
    assert fb.ok, fb.message


def test_only_sobel_x_of_the_classic_filters_passes():
    # the notebook asserts this on its table of classic filters
    from helpers.widgets.filter_explorer import make_filter
    names = ["identity", "box blur", "sharpen", "sobel x", "sobel y", "laplacian"]
    assert [n for n in names if check_vertical_edge_filter(make_filter(n, 3)).ok] == ["sobel x"]


def test_line_detector_is_not_a_vertical_edge_filter():
    # the exact answer of the issue: [[-1, 2, -1]] x 3 responds to the vertical edge (3), ignores
    # the horizontal edge and the flat area, and was called right
    assert edge_responses(LINE_DETECTOR) == {"vertical edge": 3.0, "horizontal edge": 0.0, "flat grey": 0.0}
    fb = check_vertical_edge_filter(LINE_DETECTOR)
    assert not fb.ok and fb.done
    assert "line detector, not an edge detector" in fb.message
    assert "+3 on one side of the edge and -3 on the other" in fb.message
    assert "smooth ramp" in fb.message and "[-1, 0, 1]" in fb.message


@pytest.mark.parametrize("w", [-LINE_DETECTOR, [[1, -2, 1]], [[-1, 3, -2]] * 3, [[0, -1, 2, -1]]])
def test_other_line_detectors_are_named(w):
    fb = check_vertical_edge_filter(w)
    assert not fb.ok and "line detector" in fb.message


@pytest.mark.parametrize("w, wt", [
    (vertical_edge_filter().T, "[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]"),
    (PREWITT_X.T, "[[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]"),
    (np.array([[1], [-1]]), "[[1, -1]]"),
    (SOBEL_5.T, "[[-1, -2, 0, 2, 1]"),
    (-SCHARR_X.T, "[[3, 0, -3]"),
])
def test_transposed_kernel_is_told_to_transpose(w, wt):
    fb = check_vertical_edge_filter(w)
    assert not fb.ok and fb.done
    assert "this finds horizontal edges" in fb.message and "transpose it" in fb.message
    assert f"w.T = {wt}" in fb.message
    assert check_vertical_edge_filter(np.asarray(w).T).ok        # and the transpose passes


def test_transposed_line_detector_is_not_told_to_transpose():
    fb = check_vertical_edge_filter(LINE_DETECTOR.T)
    assert not fb.ok and "horizontal lines" in fb.message and "still be a line detector" in fb.message
    assert "transpose it" not in fb.message


def test_typical_wrong_filters_are_still_rejected():
    for w in ([[1, 0, -1], [2, 0, -2], [1, 0, 2]], np.ones((3, 3)), [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
              [[1, -1], [-1, 1]]):
        assert not check_vertical_edge_filter(w).ok


@pytest.mark.parametrize("odd, words", [("3", "string"), (lambda: PREWITT_X, "function"),
                                        ([-1, 0, 1], "[[-1, 0, 1]]")])
def test_odd_filters_get_a_specific_message(odd, words):
    fb = check_vertical_edge_filter(odd)
    assert not fb.ok and words in fb.message


def _raises(*args, **kwargs):
    raise ValueError("boom")


ODD_VALUES = [None, 3, "3", [], np.zeros((0,)), np.float64("nan"), ..., {}, np.zeros((0, 3)),
              np.array([["a", "b"]]), object(), 1j, np.full((2, 2), np.inf)]
ODD_FUNCTIONS = [_raises, lambda *a, **k: None] + [lambda *a, v=v, **k: v for v in ODD_VALUES]


def _never_right(fb):
    assert isinstance(fb, Feedback) and not fb.ok
    assert isinstance(fb.message, str) and fb.message
    assert str(fb) and fb._repr_html_()


@pytest.mark.parametrize("odd", ODD_VALUES + ODD_FUNCTIONS)
def test_sweep_vertical_edge_filter(odd):
    _never_right(check_vertical_edge_filter(odd))


@pytest.mark.parametrize("odd", ODD_VALUES + ODD_FUNCTIONS)
def test_sweep_correlate2d(odd):
    _never_right(check_correlate2d(odd))
