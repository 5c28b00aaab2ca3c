"""The im2col checker: the reference passes, and each typical mistake is named."""
import numpy as np
import pytest

from helpers import conv
from helpers.exercises import lesson07, solution

ref = lesson07.im2col_solution


def _out_hw(x, k, s, p):
    return conv.output_size(x.shape[2:], k, s, p)


def rows_oh_ow_swapped(x, k, stride=1, padding=0):
    cols = ref(x, k, stride, padding)
    oh, ow = _out_hw(x, k, stride, padding)
    return cols.reshape(x.shape[0], oh, ow, -1).transpose(0, 2, 1, 3).reshape(cols.shape)


def rows_image_innermost(x, k, stride=1, padding=0):
    cols = ref(x, k, stride, padding)
    oh, ow = _out_hw(x, k, stride, padding)
    return cols.reshape(x.shape[0], oh * ow, -1).transpose(1, 0, 2).reshape(cols.shape)


def rows_reversed(x, k, stride=1, padding=0):
    return ref(x, k, stride, padding)[::-1]


def channels_offsets_swapped(x, k, stride=1, padding=0):
    cols = ref(x, k, stride, padding)
    return cols.reshape(len(cols), x.shape[1], k, k).transpose(0, 2, 3, 1).reshape(cols.shape)


def kernel_rows_cols_swapped(x, k, stride=1, padding=0):
    cols = ref(x, k, stride, padding)
    return cols.reshape(len(cols), x.shape[1], k, k).transpose(0, 1, 3, 2).reshape(cols.shape)


def padding_missing(x, k, stride=1, padding=0):
    return ref(x, k, stride, 0)


def stride_ignored(x, k, stride=1, padding=0):
    return ref(x, k, 1, padding)


def padding_and_stride_ignored(x, k, stride=1, padding=0):
    return ref(x, k, 1, 0)


def transposed(x, k, stride=1, padding=0):
    return ref(x, k, stride, padding).T


def edge_padding(x, k, stride=1, padding=0):
    p = padding
    return ref(np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], mode="edge"), k, stride, 0)


def slices_without_padding(x, k, stride=1, padding=0):
    n, c, h, w = x.shape
    oh, ow = _out_hw(x, k, stride, padding)
    out = np.empty((n * oh * ow, c * k * k))
    r = 0
    for i in range(n):
        for a in range(oh):
            for b in range(ow):
                out[r] = x[i, :, a * stride:a * stride + k, b * stride:b * stride + k].reshape(-1)
                r += 1
    return out


def off_by_one(x, k, stride=1, padding=0):
    return ref(x, k, stride, padding) + 1


def modifies_input(x, k, stride=1, padding=0):
    out = ref(x, k, stride, padding)
    x[...] = 0
    return out


def test_reference_passes():
    fb = lesson07.check_im2col(ref)
    assert fb.ok and "all 5 test inputs" in fb.message


def test_helpers_version_passes():
    assert lesson07.check_im2col(lambda x, k, stride=1, padding=0: conv.im2col(x, k, stride, padding)).ok


@pytest.mark.parametrize("fn, words", [
    (rows_oh_ow_swapped, ["rows in the wrong order", "row 1", "belongs in row 2", "swapped"]),
    (rows_image_innermost, ["rows in the wrong order", "outermost"]),
    (rows_reversed, ["rows in the wrong order", "row 0", "belongs in row 3"]),
    (channels_offsets_swapped, ["channels and kernel offsets swapped", "(kh, kw, c)", "(c, kh, kw)"]),
    (kernel_rows_cols_swapped, ["kernel rows and columns swapped", "(c, kw, kh)"]),
    (padding_missing, ["padding missing", "(8, 27)", "(32, 27)"]),
    (stride_ignored, ["stride ignored", "(9, 18)", "(4, 18)"]),
    (transposed, ["transpose", "(18, 4)"]),
    (edge_padding, ["padding is not zeros"]),
    (slices_without_padding, ["raised", "did you pad x"]),
    (off_by_one, ["row 0", "column 0", "should be 1 = x[0, 0, 0, 0]", "yours is 2 = x[0, 0, 0, 1]"]),
    (modifies_input, ["changed x in place"]),
])
def test_typical_mistakes_are_named(fn, words):
    fb = lesson07.check_im2col(fn)
    assert not fb.ok and fb.done
    for word in words:
        assert word in fb.message, (word, fb.message)


def test_stride_and_padding_both_ignored():
    # the first input with a stride finds the stride; on an input with both, both are named
    fb = lesson07.check_im2col(padding_and_stride_ignored)
    assert not fb.ok and "stride ignored" in fb.message
    shape, k, s, p = lesson07.IM2COL_CASES[-1]
    assert s > 1 and p > 0
    x = np.arange(1, np.prod(shape) + 1, dtype=float).reshape(shape)
    fb = lesson07._shape_feedback(padding_and_stride_ignored(x, k, s, p), conv.im2col(x, k, s, p), shape, k, s, p)
    assert "padding missing" in fb.message and "stride ignored" in fb.message
    fb = lesson07._shape_feedback(padding_and_stride_ignored(x, k, s, p), conv.im2col(x, k, s, p), shape, k, s,
                                  p, x)
    assert "padding missing" in fb.message and "stride ignored" in fb.message


def test_rows_and_columns_both_wrong_are_both_named():
    fb = lesson07.check_im2col(lambda x, k, stride=1, padding=0: channels_offsets_swapped(x, k, stride, padding)[::-1])
    assert "rows in the wrong order" in fb.message and "channels and kernel offsets swapped" in fb.message


def test_unfinished_answers_are_not_errors():
    for fn in (None, ...):
        fb = lesson07.check_im2col(fn)
        assert not fb.ok and not fb.done and "your code here" in fb.message

    def todo(x, k, stride=1, padding=0):
        raise NotImplementedError
    fb = lesson07.check_im2col(todo)
    assert not fb.ok and not fb.done


def test_non_array_result():
    fb = lesson07.check_im2col(lambda x, k, stride=1, padding=0: "cols")
    assert not fb.ok and "not an array of numbers" in fb.message


def test_solution_prints_source(capsys):
    src = solution("im2col")
    assert "def im2col_solution" in src and "np.pad" in capsys.readouterr().out


# --- issue item 7: a checker is never wrong -------------------------------------------------

from helpers.exercises import Feedback  # noqa: E402


def padded_but_size_from_unpadded(x, k, stride=1, padding=0):
    """Pads x, but counts the windows with the unpadded H, W: the issue's wrong answer."""
    n, c, h, w = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1      # the slip: no 2 * padding
    xp = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    cols = np.empty((n * oh * ow, c * k * k))
    r = 0
    for i in range(n):
        for a in range(oh):
            for b in range(ow):
                cols[r] = xp[i, :, a * stride:a * stride + k, b * stride:b * stride + k].reshape(-1)
                r += 1
    return cols


def test_padded_but_size_from_unpadded_image_is_not_called_padding_missing():
    fb = lesson07.check_im2col(padded_but_size_from_unpadded)
    assert not fb.ok and fb.done
    assert "padding missing" not in fb.message
    assert "You padded x, but took the number of windows from the unpadded image" in fb.message
    assert "(H - KH)//S + 1 = (4 - 3)//1 + 1 = 2" in fb.message and "2x2 windows per image instead of 4x4" in fb.message
    assert "OH = (H + 2P - KH)//S + 1 = (4 + 2*1 - 3)//1 + 1 = 4" in fb.message
    assert "(8, 27)" in fb.message and "(32, 27)" in fb.message


def test_padding_really_missing_is_still_named():
    fb = lesson07.check_im2col(padding_missing)
    assert not fb.ok and "padding missing" in fb.message and "np.pad" in fb.message
    assert "unpadded image" not in fb.message


def test_too_few_windows_of_another_kind_is_not_called_padding_missing():
    # no padding and the rows reversed: the shape of "padding missing", but other values
    fb = lesson07.check_im2col(lambda x, k, stride=1, padding=0: padding_missing(x, k, stride, padding)[::-1]
                               if padding else ref(x, k, stride, padding))
    assert not fb.ok and "padding missing" not in fb.message
    assert "OH = (H + 2P - KH)//S + 1" in fb.message


def test_none_string_and_value_instead_of_function():
    fb = lesson07.check_im2col(lambda x, k, stride=1, padding=0: None)
    assert not fb.ok and fb.done and "return cols" in fb.message
    fb = lesson07.check_im2col(lambda x, k, stride=1, padding=0: "3")
    assert not fb.ok and "not an array of numbers" in fb.message
    fb = lesson07.check_im2col(np.zeros((4, 18)))
    assert not fb.ok and "pass your function itself" in fb.message


def _raises(*args, **kwargs):
    raise ValueError("boom")


ODD_VALUES = [None, 3, "3", [], np.zeros((0,)), np.float64("nan"), ..., {}, np.zeros((4, 18)),
              np.full((4, 18), np.nan), object(), 1j, True, np.zeros((18, 4, 1))]
ODD_FUNCTIONS = [_raises, lambda *a, **k: None] + [lambda *a, v=v, **k: v for v in ODD_VALUES]


@pytest.mark.parametrize("odd", ODD_VALUES + ODD_FUNCTIONS)
def test_sweep_odd_answers(odd):
    fb = lesson07.check_im2col(odd)
    assert isinstance(fb, Feedback) and not fb.ok
    assert isinstance(fb.message, str) and fb.message
    assert str(fb) and fb._repr_html_()
