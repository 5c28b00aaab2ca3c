"""Exercise of lesson 16 (LeNet, AlexNet and VGG): counting a convolution's multiply-adds.
(The residual block that halves the feature map is lesson 17's: helpers.exercises.lesson17.)"""
from __future__ import annotations

from . import Feedback, call_learner, correct, is_unfinished, not_done, register_solution, wrong


# ---------------------------------------------------------------------------------------------
# Exercise 1: multiply-adds of one convolution
# ---------------------------------------------------------------------------------------------
@register_solution("conv_macs")
def conv_macs_solution(in_shape, out_channels, kernel_size, stride=1, padding=0):
    # One output value = one dot product of the kernel with a window: C_in * K * K multiply-adds.
    c_in, h, w = in_shape
    oh = (h + 2 * padding - kernel_size) // stride + 1
    ow = (w + 2 * padding - kernel_size) // stride + 1
    return out_channels * oh * ow * c_in * kernel_size * kernel_size


# (in_shape, out_channels, kernel_size, stride, padding): a 'same' 3x3, a stride-2 layer, a 1x1
# bottleneck, VGG's first layer and a 5x5 without padding (so input and output sizes differ)
_MAC_CASES = [
    ((3, 32, 32), 16, 3, 1, 1),
    ((16, 28, 28), 32, 3, 2, 1),
    ((192, 28, 28), 16, 1, 1, 0),
    ((3, 224, 224), 64, 3, 1, 1),
    ((10, 12, 12), 20, 5, 1, 0),
]


def _mac_variants(in_shape, out_channels, k, stride, padding):
    """Typical wrong answers, each with the advice that fits it."""
    c_in, h, w = in_shape
    oh = (h + 2 * padding - k) // stride + 1
    ow = (w + 2 * padding - k) // stride + 1
    right = out_channels * oh * ow * c_in * k * k
    no_pad_h, no_pad_w = (h - k) // stride + 1, (w - k) // stride + 1
    no_one_h, no_one_w = (h + 2 * padding - k) // stride, (w + 2 * padding - k) // stride
    true_h, true_w = (h + 2 * padding - k) / stride + 1, (w + 2 * padding - k) / stride + 1
    return right, [
        (out_channels * no_pad_h * no_pad_w * c_in * k * k,
         f"you forgot the padding: with padding={padding} the input is {h + 2 * padding} pixels "
         f"high, not {h}, so OH = (H + 2*padding - K) // stride + 1"),
        (out_channels * no_one_h * no_one_w * c_in * k * k,
         "you left out the + 1 in the output size: OH = (H + 2*padding - K) // stride + 1 (the "
         "first window sits at position 0, and (H + 2*padding - K) // stride more follow it)"),
        (out_channels * true_h * true_w * c_in * k * k,
         f"you divided with / instead of //: (H + 2*padding - K) / stride + 1 is "
         f"{true_h:g} here, but a window that does not fit is not computed; use integer "
         f"division, OH = (H + 2*padding - K) // stride + 1 = {oh}"),
        (out_channels * oh * ow * k * k,
         "you left out the input channels: each output value sums over all C_in channels of "
         "the window, so one dot product is C_in * K * K multiply-adds"),
        (out_channels * h * w * c_in * k * k,
         "you used the input's height and width; count the OUTPUT pixels, "
         "OH = (H + 2*padding - K) // stride + 1"),
        (out_channels * oh * ow * (c_in * k * k + 1),
         "you counted the bias as one more multiply-add per output value; leave the biases out "
         "(the convention of the lesson and of most papers)"),
        (2 * right,
         "that is twice the answer: you counted multiplications and additions separately "
         "(FLOPs ~ 2 x MACs). Count one multiply-add per kernel weight and output value"),
        (oh * ow * c_in * k * k,
         "you left out the output channels: every one of the out_channels filters computes its "
         "own dot product at every output pixel"),
        (out_channels * c_in * k * k,
         "that is the number of weights; multiply by the number of output pixels OH * OW, since "
         "every weight is used once per output pixel"),
    ]


def check_conv_macs(fn) -> Feedback:
    """Check conv_macs(in_shape, out_channels, kernel_size, stride=1, padding=0) -> int."""
    if is_unfinished(fn):
        return not_done("Write conv_macs(in_shape, out_channels, kernel_size, stride=1, padding=0).")
    for case in _MAC_CASES:
        in_shape, c_out, k, s, p = case
        got, problem = call_learner(fn, in_shape, c_out, k, stride=s, padding=p)
        if problem is not None:
            return problem
        if is_unfinished(got):
            return not_done("Your function returned None: return the number of multiply-adds.")
        call = f"conv_macs({in_shape}, {c_out}, {k}, stride={s}, padding={p})"
        try:
            value = int(got)
        except (TypeError, ValueError, OverflowError):
            return wrong(f"{call} returned {got!r}; return one integer, the number of multiply-adds.")
        if value != got:
            return wrong(f"{call} returned {got!r}, which is not a whole number: you divided with "
                         f"/ somewhere. Use integer division (//) for the output size, "
                         f"OH = (H + 2*padding - K) // stride + 1.")
        right, variants = _mac_variants(*case)
        if value == right:
            continue
        for wrong_value, advice in variants:
            if value == wrong_value or got == wrong_value:
                return wrong(f"{call} returned {value:,} but the answer is {right:,}: {advice}.")
        return wrong(f"{call} returned {value:,} but the answer is {right:,}. Count, for each of the "
                     f"out_channels * OH * OW output values, the C_in * K * K products it sums.")
    return correct("all five layers are right. For VGG's first layer (3x224x224 -> 64 maps, 3x3) "
                   "that is 86,704,128 multiply-adds per image, for only 1,728 weights.")
