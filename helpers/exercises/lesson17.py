"""Exercise of lesson 17 (Inception, ResNet, DenseNet and EfficientNet): a residual block that
halves the feature map and changes the number of channels."""
from __future__ import annotations

from . import Feedback, call_learner, correct, is_unfinished, not_done, register_solution, wrong


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


#: the call the checker makes first, and a second one with other numbers: an answer that writes
#: 16 and 32 by hand passes the first and fails the second
_FIRST = (16, 32, (16, 14, 14), (32, 7, 7))
_SECOND = (24, 40, (24, 10, 10), (40, 5, 5))


def _find(layer, cls):
    """Every sub-layer of type cls, depth first."""
    found = [layer] if isinstance(layer, cls) else []
    children = getattr(layer, "named_children", None)
    for _, child in (children() if callable(children) else []):
        found += _find(child, cls)
    return found


def _input_of(layer, target, shape):
    """The shape that reaches `target` inside `layer` for an input of `shape` (a chain of
    Sequentials), or None when it cannot be followed."""
    from helpers.model import Sequential

    if layer is target:
        return shape
    if isinstance(layer, Sequential):
        for child in layer.layers:
            found = _input_of(child, target, shape)
            if found is not None:
                return found
            shape = child.output_shape(shape)
    return None


def _residual_advice(res, in_shape, want):
    """Specific advice when block(x) and shortcut(x) cannot be added (or the sum has the wrong
    shape): what each side gives, and how to make it `want` (C_out, H/2, W/2)."""
    c_out, oh, ow = want
    h = in_shape[1]
    try:
        block_shape = tuple(res.block.output_shape(in_shape))
    except ValueError as e:
        return f"the convolutions of the block do not fit together: {e}"
    try:
        short_shape = (tuple(res.shortcut.output_shape(in_shape)) if res.shortcut is not None
                       else tuple(in_shape))
    except ValueError as e:
        return f"the shortcut does not fit the input: {e}"
    advice = []
    if block_shape[1:] != (oh, ow):
        if block_shape[1] == (h - 3) // 2 + 1 and block_shape[1] != oh:
            advice.append(f"the block turns {h}x{h} into {block_shape[1]}x{block_shape[2]}: the "
                          f"3x3 convolution with stride=2 needs padding=1 to give {oh}x{ow} "
                          f"(({h} + 2 - 3) // 2 + 1 = {oh})")
        else:
            advice.append(f"the block turns {h}x{h} into {block_shape[1]}x{block_shape[2]}: halve "
                          f"H and W once, with stride=2 and padding=1 in its first 3x3 convolution "
                          f"(the other one keeps the size: stride=1, padding=1)")
    if block_shape[0] != c_out:
        advice.append(f"the block gives {block_shape[0]} channels; its last convolution must give "
                      f"out_channels = {c_out}")
    if res.shortcut is None:
        advice.append(f"the identity shortcut gives x unchanged, {tuple(in_shape)}; a projection "
                      f"Conv2D(in_channels, out_channels, 1, stride=2) gives {want}")
    elif short_shape != want:
        advice.append(f"the shortcut gives {short_shape}; make it "
                      f"Conv2D(in_channels, out_channels, 1, stride=2), which gives {want}")
    if not advice:
        return None
    return "; ".join(advice)


def _check_call(fn, in_channels, out_channels, in_shape, want):
    """Build and run down_block(in_channels, out_channels); a Feedback when something is wrong,
    else (layer, Residual)."""
    import numpy as np

    from helpers.layers import Conv2D, Layer
    from helpers.model import Residual

    call = f"down_block({in_channels}, {out_channels})"
    layer, problem = call_learner(fn, in_channels, out_channels)
    if problem is not None:
        return problem
    if is_unfinished(layer):
        return not_done("down_block returned None: return the layer you built.")
    if not isinstance(layer, Layer):
        return wrong(f"{call} returned a {type(layer).__name__}; return a layer, e.g. "
                     f"Sequential(Residual(block, shortcut), ReLU()).")
    residuals = _find(layer, Residual)
    if not residuals:
        return wrong("there is no shortcut: wrap the convolutions in helpers.model.Residual(block, "
                     "shortcut) so that the output is block(x) + shortcut(x).")
    res = residuals[0]
    try:
        shape = tuple(layer.output_shape(in_shape))
    except ValueError as e:
        try:
            res_in = _input_of(layer, res, tuple(in_shape))
        except ValueError:
            res_in = None
        advice = _residual_advice(res, res_in, want) if res_in == tuple(in_shape) else None
        return wrong(f"for an input of shape {tuple(in_shape)}, {call} does not fit together: "
                     + (advice if advice else str(e)) + ".")
    except Exception as e:  # noqa: BLE001 - a learner's layer that is broken in another way
        return wrong(f"{call}.output_shape({tuple(in_shape)}) failed: {type(e).__name__}: {e}")
    if shape != want:
        advice = _residual_advice(res, tuple(in_shape), want) or (
            "the layers after the Residual change the shape; end with ReLU()")
        return wrong(f"{call} turns {tuple(in_shape)} into {shape}, expected {want}: {advice}.")
    if res.shortcut is None:
        return wrong(f"the shortcut is the identity, which cannot turn {tuple(in_shape)} into "
                     f"{want}; give Residual a projection: "
                     f"shortcut=Conv2D({in_channels}, {out_channels}, 1, stride=2).")
    convs = _find(res.shortcut, Conv2D)
    if not convs or any(c.kernel_size != (1, 1) for c in convs):
        kinds = ", ".join(f"{c.kernel_size[0]}x{c.kernel_size[1]}" for c in convs) or "none"
        return wrong(f"the projection shortcut should be a 1x1 convolution with stride 2 (ResNet's "
                     f"option B); yours has convolutions: {kinds}. A 1x1 kernel only changes the "
                     f"channels, so the block does all the spatial work.")
    try:
        x = np.random.default_rng(0).standard_normal((2, *in_shape)).astype(np.float32)
        out = layer.forward(x, train=True)
        dx = layer.backward(np.ones_like(out))
    except Exception as e:  # noqa: BLE001 - report the learner's bug kindly
        return wrong(f"running a batch {(2, *in_shape)} through {call} failed: "
                     f"{type(e).__name__}: {e}")
    if getattr(out, "shape", None) != (2, *want) or getattr(dx, "shape", None) != x.shape:
        return wrong(f"forward gave {getattr(out, 'shape', out)} and backward "
                     f"{getattr(dx, 'shape', dx)}; expected {(2, *want)} and {x.shape}.")
    return layer, res


def check_down_block(fn) -> Feedback:
    """Check down_block(in_channels, out_channels): (C_in, H, W) -> (C_out, H/2, W/2) with a
    shortcut connection (helpers.model.Residual), for two pairs of channel counts."""
    from helpers.layers import Conv2D

    if is_unfinished(fn):
        return not_done("Write down_block(in_channels, out_channels) returning a layer.")
    first = _check_call(fn, *_FIRST)
    if isinstance(first, Feedback):
        return first
    layer, res = first
    c_in, c_out, in_shape, want = _SECOND
    second = _check_call(fn, *_SECOND)
    if isinstance(second, Feedback):
        if not second.done:
            return second
        return wrong(f"down_block(16, 32) is right, but down_block({c_in}, {c_out}) is not: "
                     f"{second.message} Did you write 16 or 32 by hand? Use the arguments "
                     f"in_channels and out_channels in every layer.")
    n_convs = len(_find(res.block, Conv2D))
    n_params = sum(layer.count_params())
    return correct(f"(16, 14, 14) -> (32, 7, 7) and ({c_in}, 10, 10) -> ({c_out}, 5, 5), with a 1x1 "
                   f"projection shortcut; {n_convs} convolutions in the block and {n_params:,} "
                   f"parameters for down_block(16, 32). This is the block ResNet uses where a "
                   f"stage begins.")
