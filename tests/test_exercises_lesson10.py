"""The conv-backward checker: the reference passes; each usual mistake is found and named."""
import numpy as np
import pytest

from helpers import conv
from helpers.exercises import lesson10, solution

ref = lesson10.conv_backward_solution


def via_im2col(dout, x, w, padding=0):
    f, c, kh, kw = w.shape
    cols = conv.im2col(x, (kh, kw), 1, padding)
    d = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    dw = (cols.T @ d).T.reshape(w.shape)
    dx = conv.col2im(d @ w.reshape(f, -1), x.shape, (kh, kw), 1, padding)
    return dx, dw, d.sum(axis=0)


def forgot_flip(dout, x, w, padding=0):
    dx = ref(dout, x, w[:, :, ::-1, ::-1], padding)[0]      # flips the flipped kernel back
    return dx, *ref(dout, x, w, padding)[1:]


def flip_one_axis(dout, x, w, padding=0):
    dx = ref(dout, x, w[:, :, ::-1, :], padding)[0]
    return dx, *ref(dout, x, w, padding)[1:]


def db_not_summed_over_batch(dout, x, w, padding=0):
    dx, dw, _ = ref(dout, x, w, padding)
    return dx, dw, dout.sum(axis=(2, 3))


def db_not_summed_over_positions(dout, x, w, padding=0):
    dx, dw, _ = ref(dout, x, w, padding)
    return dx, dw, dout.sum(axis=0)


def db_mean(dout, x, w, padding=0):
    dx, dw, _ = ref(dout, x, w, padding)
    return dx, dw, dout.mean(axis=(0, 2, 3))


def db_first_image(dout, x, w, padding=0):
    dx, dw, _ = ref(dout, x, w, padding)
    return dx, dw, dout[0].sum(axis=(1, 2))


def dw_f_c_swapped(dout, x, w, padding=0):
    dx, dw, db = ref(dout, x, w, padding)
    return dx, dw.transpose(1, 0, 2, 3), db


def dw_reshaped_without_transpose(dout, x, w, padding=0):
    dx, dw, db = ref(dout, x, w, padding)
    return dx, dw.reshape(w.shape[0], -1).T.reshape(w.shape), db


def dw_flipped(dout, x, w, padding=0):
    dx, dw, db = ref(dout, x, w, padding)
    return dx, dw[:, :, ::-1, ::-1], db


def dx_still_padded(dout, x, w, padding=0):
    kh, kw = w.shape[2:]
    dxp = conv.conv2d(dout, w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), padding=(kh - 1, kw - 1))
    return dxp, *ref(dout, x, w, padding)[1:]


def dx_and_db_wrong(dout, x, w, padding=0):
    return forgot_flip(dout, x, w, padding)[0], ref(dout, x, w, padding)[1], dout.sum(axis=0)


def test_reference_and_im2col_versions_pass():
    for fn in (ref, via_im2col, lambda dout, x, w, padding=0: conv.conv2d_backward_naive(
            dout, x, w, np.zeros(w.shape[0]), padding=padding)):
        fb = lesson10.check_conv_backward(fn)
        assert fb.ok, fb.message
        assert "dx: relative error" in fb.message and "padding=1" in fb.message


@pytest.mark.parametrize("fn, wrong_one, words", [
    (forgot_flip, "dx", ["not flipped", "w[:, :, ::-1, ::-1]"]),
    (flip_one_axis, "dx", ["only one axis"]),
    (db_not_summed_over_batch, "db", ["not over the batch", "axis=(0, 2, 3)"]),
    (db_not_summed_over_positions, "db", ["not over the positions", "axis=(0, 2, 3)"]),
    (db_mean, "db", ["mean"]),
    (db_first_image, "db", ["first image"]),
    (dw_f_c_swapped, "dw", ["F and C are swapped", ".transpose(1, 0, 2, 3)"]),
    (dw_reshaped_without_transpose, "dw", ["scrambled", "without transposing"]),
    (dw_flipped, "dw", ["dw is flipped"]),
    (dx_still_padded, "dx", ["padded input", "drop the 1 padding"]),
])
def test_the_wrong_gradient_is_named(fn, wrong_one, words):
    fb = lesson10.check_conv_backward(fn)
    assert not fb.ok and fb.done
    lines = fb.message.splitlines()
    flagged = [ln.strip().split(":")[0] for ln in lines if "WRONG" in ln or "expected" in ln]
    assert flagged == [wrong_one], fb.message
    for word in words:
        assert word in fb.message, (word, fb.message)


def test_two_wrong_gradients_are_both_reported():
    fb = lesson10.check_conv_backward(dx_and_db_wrong)
    assert "dx: dx looks like" in fb.message and "db: db has shape" in fb.message
    assert "dw: relative error" in fb.message and "ok" in fb.message


def test_dw_transposed_when_f_equals_c():
    # the third test input has C == F == 2, where only the values show the transpose
    from helpers.exercises.lesson10 import _case_data, _diagnose_dw
    x, w, b, p, dout = _case_data(lesson10.CONV_BACKWARD_CASES[2], seed=2)
    dw = ref(dout, x, w, p)[1]
    assert "transposed" in _diagnose_dw(dw.transpose(1, 0, 2, 3), dw, x, w, p, dout)


def test_unfinished_and_broken_answers():
    assert not lesson10.check_conv_backward(None).done

    def todo(dout, x, w, padding=0):
        raise NotImplementedError
    assert not lesson10.check_conv_backward(todo).done
    fb = lesson10.check_conv_backward(lambda dout, x, w, padding=0: (None, None, dout.sum(axis=(0, 2, 3))))
    assert not fb.done and "dx and dw are still None" in fb.message
    fb = lesson10.check_conv_backward(lambda dout, x, w, padding=0: ref(dout, x, w, padding)[:2])
    assert not fb.ok and "three arrays" in fb.message and "2 values" in fb.message
    fb = lesson10.check_conv_backward(lambda dout, x, w, padding=0: x @ w)
    assert not fb.ok and "raised ValueError" in fb.message


def test_solution_prints_source(capsys):
    src = solution("conv_backward")
    assert "::-1, ::-1" in src and "dout.sum(axis=(0, 2, 3))" in capsys.readouterr().out


# --- issue 26, item 1: mistakes that make helpers.conv raise get the right diagnosis ------------

def dx_flipped_not_transposed(dout, x, w, padding=0):
    """A learner's real slip: the kernel for dx is flipped, but left as (F, C, KH, KW)."""
    p = padding
    kh, kw = w.shape[2:]
    dxp = conv.conv2d(dout, w[:, :, ::-1, ::-1], padding=(kh - 1, kw - 1))
    dx = dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]]
    return dx, *ref(dout, x, w, padding)[1:]


def dw_from_unpadded_x(dout, x, w, padding=0):
    """A learner's real slip: dw cross-correlates x, not the padded x, with dout."""
    dw = conv.conv2d(x.transpose(1, 0, 2, 3), dout.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    dx, _, db = ref(dout, x, w, padding)
    return dx, dw, db


def test_kernel_flipped_but_not_transposed_is_named_where_it_raises():
    fb = lesson10.check_conv_backward(dx_flipped_not_transposed)
    assert not fb.ok and fb.done
    assert "channels-last" not in fb.message, fb.message        # the wrong fix is not suggested
    first = fb.message.split("Where your function ran")[0]
    assert "raised ValueError" in first and "flipped but not transposed" in first, fb.message
    assert "(C, F, KH, KW) = (3, 4, 3, 3)" in first and ".transpose(1, 0, 2, 3)" in first


def test_kernel_flipped_but_not_transposed_is_named_from_values_where_c_equals_f():
    fb = lesson10.check_conv_backward(dx_flipped_not_transposed)
    ran = fb.message.split("Where your function ran")[1]
    assert "(3, 2, 4, 4)" in ran and "dx: relative error" in ran and "WRONG" in ran, fb.message
    assert "dx: dx uses the kernel flipped but not transposed" in ran


def test_dw_from_the_unpadded_input_is_named_not_a_raw_size_error():
    fb = lesson10.check_conv_backward(dw_from_unpadded_x)
    assert not fb.ok and fb.done
    assert "padding=1" in fb.message and "dw step done on the unpadded x" in fb.message, fb.message
    assert "xp = conv.pad(x, padding)" in fb.message
    assert "use padding >=" not in fb.message                  # padding dout would be the wrong fix


def test_dw_from_the_unpadded_input_is_named_by_its_shape_where_it_does_not_raise():
    # with a 5x5 kernel and padding 1 the unpadded x still fits: dw comes out 3x3, not 5x5
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 2, 7, 7)), rng.standard_normal((3, 2, 5, 5))
    dout = rng.standard_normal(conv.conv2d(x, w, padding=1).shape)
    got = dw_from_unpadded_x(dout, x, w, padding=1)[1]
    assert got.shape == (3, 2, 3, 3)
    msg = lesson10._diagnose_dw(got, ref(dout, x, w, 1)[1], x, w, 1, dout)
    assert "unpadded x" in msg and "conv.pad(x, padding)" in msg, msg


def test_an_unrecognised_error_is_reported_as_it_is():
    def broken(dout, x, w, padding=0):
        raise IndexError("index 5 is out of bounds for axis 2 with size 5")
    fb = lesson10.check_conv_backward(broken)
    assert not fb.ok and fb.done
    assert fb.message.startswith("For x of shape (2, 3, 5, 5)") and "IndexError" in fb.message
    assert "This looks like" not in fb.message


@pytest.mark.parametrize("bad", [
    lambda dout, x, w, padding=0: (x.astype(complex), w, dout.sum(axis=(0, 2, 3))),
    lambda dout, x, w, padding=0: ("dx", w, dout.sum(axis=(0, 2, 3))),
    lambda dout, x, w, padding=0: (x, [[1], [2, 3]], dout.sum(axis=(0, 2, 3))),
])
def test_values_that_are_not_arrays_of_real_numbers_get_feedback(bad):
    fb = lesson10.check_conv_backward(bad)
    assert not fb.ok and fb.done and "three arrays of numbers" in fb.message, fb.message
