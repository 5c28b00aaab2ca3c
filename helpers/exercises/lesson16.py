"""Exercises of lesson 16 (landmark architectures): counting a convolution's multiply-adds, and
building a residual block that halves the feature map."""
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
    return right, [
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
        except (TypeError, ValueError):
            return wrong(f"{call} returned {got!r}; return one integer, the number of multiply-adds.")
        if value != got:
            return wrong(f"{call} returned {got!r}, which is not a whole number; use integer "
                         f"division (//) for the output size.")
        right, variants = _mac_variants(*case)
        if value == right:
            continue
        for wrong_value, advice in variants:
            if value == wrong_value:
                return wrong(f"{call} returned {value:,} but the answer is {right:,}: {advice}.")
        return wrong(f"{call} returned {value:,} but the answer is {right:,}. Count, for each of the "
                     f"out_channels * OH * OW output values, the C_in * K * K products it sums.")
    return correct("all five layers are right. For VGG's first layer (3x224x224 -> 64 maps, 3x3) "
                   "that is 86,704,128 multiply-adds per image, for only 1,728 weights.")


# ---------------------------------------------------------------------------------------------
# Exercise 2: a residual block that halves H and W and changes the channels
# ---------------------------------------------------------------------------------------------
@register_solution("down_block")
def down_block_solution(in_channels, out_channels):
    from helpers.layers import BatchNorm2D, Conv2D, ReLU
    from helpers.model import Residual, Sequential

    block = Sequential(
        Conv2D(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
        BatchNorm2D(out_channels), ReLU(),
        Conv2D(out_channels, out_channels, 3, padding=1, bias=False),
        BatchNorm2D(out_channels),
    )
    # x and block(x) differ in channels and size: a 1x1 convolution with stride 2 matches them
    shortcut = Sequential(Conv2D(in_channels, out_channels, 1, stride=2, bias=False),
                          BatchNorm2D(out_channels))
    return Sequential(Residual(block, shortcut), ReLU())


def _find(layer, cls):
    """Every sub-layer of type cls, depth first."""
    found = [layer] if isinstance(layer, cls) else []
    for _, child in getattr(layer, "named_children", lambda: [])():
        found += _find(child, cls)
    return found


def check_down_block(fn) -> Feedback:
    """Check down_block(in_channels, out_channels): (C_in, H, W) -> (C_out, H/2, W/2) with a
    shortcut connection (helpers.model.Residual)."""
    import numpy as np

    from helpers.layers import Conv2D, Layer
    from helpers.model import Residual

    if is_unfinished(fn):
        return not_done("Write down_block(in_channels, out_channels) returning a layer.")
    layer, problem = call_learner(fn, 16, 32)
    if problem is not None:
        return problem
    if is_unfinished(layer):
        return not_done("down_block returned None: return the layer you built.")
    if not isinstance(layer, Layer):
        return wrong(f"down_block(16, 32) returned a {type(layer).__name__}; return a layer, e.g. "
                     f"Sequential(Residual(block, shortcut), ReLU()).")
    residuals = _find(layer, Residual)
    if not residuals:
        return wrong("there is no shortcut: wrap the convolutions in helpers.model.Residual(block, "
                     "shortcut) so that the output is block(x) + shortcut(x).")
    try:
        shape = tuple(layer.output_shape((16, 14, 14)))
    except ValueError as e:
        return wrong(f"for an input of shape (16, 14, 14) the layer does not fit together: {e}")
    if shape != (32, 7, 7):
        advice = []
        if shape[0] != 32:
            advice.append("the last convolution must give out_channels = 32 maps")
        if shape[1:] != (7, 7):
            advice.append("halve H and W with stride=2 in the first 3x3 convolution "
                          "(padding=1) and in the 1x1 shortcut")
        return wrong(f"down_block(16, 32) turns (16, 14, 14) into {shape}, expected (32, 7, 7): "
                     + "; ".join(advice) + ".")
    res = residuals[0]
    if res.shortcut is None:
        return wrong("the shortcut is the identity, which cannot turn 16x14x14 into 32x7x7; give "
                     "Residual a projection: shortcut=Conv2D(16, 32, 1, stride=2).")
    convs = _find(res.shortcut, Conv2D)
    if not convs or any(c.kernel_size != (1, 1) for c in convs):
        kinds = ", ".join(f"{c.kernel_size[0]}x{c.kernel_size[1]}" for c in convs) or "none"
        return wrong(f"the projection shortcut should be a 1x1 convolution with stride 2 (ResNet's "
                     f"option B); yours has convolutions: {kinds}. A 1x1 kernel only changes the "
                     f"channels, so the block does all the spatial work.")
    try:
        x = np.random.default_rng(0).standard_normal((2, 16, 14, 14)).astype(np.float32)
        out = layer.forward(x, train=True)
        dx = layer.backward(np.ones_like(out))
    except Exception as e:  # noqa: BLE001 - report the learner's bug kindly
        return wrong(f"running a batch (2, 16, 14, 14) through it failed: {type(e).__name__}: {e}")
    if out.shape != (2, 32, 7, 7) or dx.shape != x.shape:
        return wrong(f"forward gave {out.shape} and backward {dx.shape}; expected (2, 32, 7, 7) "
                     f"and (2, 16, 14, 14).")
    convs_block = _find(res.block, Conv2D)
    n_params = sum(layer.count_params())
    return correct(f"(16, 14, 14) -> (32, 7, 7) with a 1x1 projection shortcut; {len(convs_block)} "
                   f"convolutions in the block and {n_params:,} parameters. This is the block "
                   f"ResNet uses where a stage begins.")
