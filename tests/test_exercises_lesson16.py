from helpers.exercises import lesson16, solution


# ---------------------------------------------------------------------------------------------
# conv_macs
# ---------------------------------------------------------------------------------------------
def test_conv_macs_reference_passes():
    fb = lesson16.check_conv_macs(lesson16.conv_macs_solution)
    assert fb.ok and "86,704,128" in fb.message


def _macs(variant):
    def fn(in_shape, out_channels, kernel_size, stride=1, padding=0):
        c, h, w = in_shape
        oh = (h + 2 * padding - kernel_size) // stride + 1
        ow = (w + 2 * padding - kernel_size) // stride + 1
        k2 = kernel_size * kernel_size
        return {
            "no_cin": out_channels * oh * ow * k2,
            "input_size": out_channels * h * w * c * k2,
            "bias": out_channels * oh * ow * (c * k2 + 1),
            "flops": 2 * out_channels * oh * ow * c * k2,
            "no_cout": oh * ow * c * k2,
            "weights": out_channels * c * k2,
            "other": 7,
        }[variant]
    return fn


def test_conv_macs_typical_mistakes_get_specific_advice():
    assert "input channels" in lesson16.check_conv_macs(_macs("no_cin")).message
    assert "OUTPUT pixels" in lesson16.check_conv_macs(_macs("input_size")).message
    assert "bias" in lesson16.check_conv_macs(_macs("bias")).message
    assert "FLOPs" in lesson16.check_conv_macs(_macs("flops")).message
    assert "output channels" in lesson16.check_conv_macs(_macs("no_cout")).message
    assert "number of weights" in lesson16.check_conv_macs(_macs("weights")).message
    fb = lesson16.check_conv_macs(_macs("other"))
    assert not fb.ok and fb.done and "442,368" in fb.message


def test_input_size_mistake_is_caught_on_the_strided_case():
    fb = lesson16.check_conv_macs(_macs("input_size"))
    assert "stride=2" in fb.message


def test_conv_macs_unfinished_and_broken_answers():
    assert not lesson16.check_conv_macs(None).done

    def todo(*a, **k):
        raise NotImplementedError
    assert not lesson16.check_conv_macs(todo).done
    assert not lesson16.check_conv_macs(lambda *a, **k: None).done

    def crashes(*a, **k):
        return 1 / 0
    fb = lesson16.check_conv_macs(crashes)
    assert not fb.ok and "ZeroDivisionError" in fb.message
    fb = lesson16.check_conv_macs(lambda *a, **k: 442_368.5)
    assert "whole number" in fb.message
    fb = lesson16.check_conv_macs(lambda *a, **k: "many")
    assert "one integer" in fb.message


def test_solutions_print(capsys):
    assert "out_channels * oh * ow" in solution("conv_macs")
    capsys.readouterr()


# ---------------------------------------------------------------------------------------------
# the output size written wrong: answers as learners write them
# ---------------------------------------------------------------------------------------------
def no_padding(in_shape, out_channels, kernel_size, stride=1, padding=0):
    c_in, h, w = in_shape
    oh = (h - kernel_size) // stride + 1          # padding forgotten
    ow = (w - kernel_size) // stride + 1
    return out_channels * oh * ow * c_in * kernel_size * kernel_size


def no_plus_one(in_shape, out_channels, kernel_size, stride=1, padding=0):
    c_in, h, w = in_shape
    oh = (h + 2 * padding - kernel_size) // stride  # + 1 forgotten
    ow = (w + 2 * padding - kernel_size) // stride
    return out_channels * oh * ow * c_in * kernel_size * kernel_size


def true_division(in_shape, out_channels, kernel_size, stride=1, padding=0):
    c_in, h, w = in_shape
    oh = (h + 2 * padding - kernel_size) / stride + 1   # "/" where "//" belongs
    ow = (w + 2 * padding - kernel_size) / stride + 1
    return out_channels * oh * ow * c_in * kernel_size * kernel_size


def true_division_as_int(in_shape, out_channels, kernel_size, stride=1, padding=0):
    return int(true_division(in_shape, out_channels, kernel_size, stride, padding))


def test_forgotten_padding_is_named():
    fb = lesson16.check_conv_macs(no_padding)
    assert not fb.ok and fb.done
    assert "forgot the padding" in fb.message and "padding=1" in fb.message
    assert "388,800" in fb.message and "442,368" in fb.message


def test_missing_plus_one_is_named():
    fb = lesson16.check_conv_macs(no_plus_one)
    assert not fb.ok and fb.done
    assert "+ 1" in fb.message and "415,152" in fb.message
    assert "forgot the padding" not in fb.message


def test_true_division_is_named_even_when_the_result_is_whole():
    # (28 + 2 - 3) / 2 + 1 = 14.5, and 32 * 14.5 * 14.5 * 16 * 9 = 968,832.0: a whole float
    assert true_division((16, 28, 28), 32, 3, stride=2, padding=1) == 968_832.0
    for fn in (true_division, true_division_as_int):
        fb = lesson16.check_conv_macs(fn)
        assert not fb.ok and fb.done
        assert "/ instead of //" in fb.message and "14.5" in fb.message and "stride=2" in fb.message


def test_a_float_that_is_not_whole_points_to_integer_division():
    fb = lesson16.check_conv_macs(lambda *a, **k: 442_368.5)
    assert not fb.ok and "//" in fb.message


def test_each_advice_is_kept_apart():
    """Every wrong answer gets its own advice, never another mistake's."""
    answers = {no_padding: "forgot the padding", no_plus_one: "+ 1 in the output size",
               true_division: "/ instead of //", _macs("no_cin"): "input channels",
               _macs("bias"): "bias", _macs("flops"): "FLOPs", _macs("weights"): "number of weights"}
    for fn, words in answers.items():
        message = lesson16.check_conv_macs(fn).message
        others = [w for f, w in answers.items() if f is not fn and w in message]
        assert words in message and not others, (fn, message)


def test_infinite_or_nan_answers_do_not_crash():
    for value in (float("inf"), float("nan"), -float("inf")):
        fb = lesson16.check_conv_macs(lambda *a, v=value, **k: v)
        assert not fb.ok and fb.done
