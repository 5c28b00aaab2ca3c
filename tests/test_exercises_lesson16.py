from helpers.exercises import lesson16, solution
from helpers.layers import Conv2D, ReLU
from helpers.model import Residual, Sequential


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


# ---------------------------------------------------------------------------------------------
# down_block
# ---------------------------------------------------------------------------------------------
def test_down_block_reference_passes():
    fb = lesson16.check_down_block(lesson16.down_block_solution)
    assert fb.ok and "(32, 7, 7)" in fb.message and "1x1" in fb.message


def test_down_block_without_bn_passes_too():
    def fn(cin, cout):
        block = Sequential(Conv2D(cin, cout, 3, stride=2, padding=1), ReLU(),
                           Conv2D(cout, cout, 3, padding=1))
        return Sequential(Residual(block, Conv2D(cin, cout, 1, stride=2)), ReLU())
    assert lesson16.check_down_block(fn).ok


def test_down_block_mistakes():
    # no shortcut at all
    fb = lesson16.check_down_block(lambda cin, cout: Sequential(Conv2D(cin, cout, 3, stride=2, padding=1)))
    assert not fb.ok and "Residual" in fb.message
    # identity shortcut: the shapes cannot match
    fb = lesson16.check_down_block(
        lambda cin, cout: Residual(Sequential(Conv2D(cin, cout, 3, stride=2, padding=1))))
    assert not fb.ok and "projection" in fb.message
    # forgot the stride: (32, 14, 14)
    fb = lesson16.check_down_block(
        lambda cin, cout: Residual(Sequential(Conv2D(cin, cout, 3, padding=1)), Conv2D(cin, cout, 1)))
    assert not fb.ok and "(32, 14, 14)" in fb.message and "stride=2" in fb.message
    # a 3x3 projection
    fb = lesson16.check_down_block(
        lambda cin, cout: Residual(Sequential(Conv2D(cin, cout, 3, stride=2, padding=1)),
                                   Conv2D(cin, cout, 3, stride=2, padding=1)))
    assert not fb.ok and "1x1" in fb.message
    # not a layer
    fb = lesson16.check_down_block(lambda cin, cout: [Conv2D(cin, cout, 1)])
    assert not fb.ok and "list" in fb.message


def test_down_block_unfinished():
    assert not lesson16.check_down_block(None).done
    assert not lesson16.check_down_block(lambda cin, cout: None).done


def test_solutions_print(capsys):
    assert "out_channels * oh * ow" in solution("conv_macs")
    assert "Residual(block, shortcut)" in solution("down_block")
    capsys.readouterr()
