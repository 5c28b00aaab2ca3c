"""Landmark CNNs built from helpers' layers, and the arithmetic to compare them.

Builders (each returns a ``helpers.model.Sequential``, or a ``Concat`` for one Inception module):

- ``lenet5(classic=True)``: LeNet-5 as published (tanh, average-pool subsampling, LeCun's
  initialisation) or ``classic=False``, the modern LeNet (ReLU, max pooling, He initialisation).
- ``source_cnn()``: the two-convolution PyTorch net of the source posts (flattens 320 values).
- ``inception_module(in_channels)`` and ``inception_net()``: the source's "InceptionA" module
  (88 output channels) and its small two-module network (flattens 1408 values).
- ``alexnet()`` (the paper's layers as one tower, with ``LocalResponseNorm``; 62,378,344
  parameters) and ``alexnet(variant="torchvision")`` (61,100,840), ``vgg16()`` (138,357,544),
  ``cifar_cnn()`` (the source's Keras CIFAR-10 net), ``resnet18()`` (11,689,512 trainable).
- ``residual_block(...)``, ``deep_net(n_layers, residual=...)``: for the degradation experiment.
- ``transfer_body()`` / ``transfer_head(n, pool)``: the small CNN of the transfer-learning lesson.

Arithmetic without data: ``count_macs(model, input_shape)`` (multiply-adds per image),
``receptive_fields(model, input_shape)``, ``clone(model)``.

All shapes are NCHW. Building a model never draws its weights: layers create them on first use,
so ``vgg16().summary((3, 224, 224))`` costs nothing.
"""

from __future__ import annotations

import copy

import numpy as np

from helpers.layers import (AvgPool2D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten,
                            GlobalAvgPool2D, Layer, MaxPool2D, ReLU, Tanh, _check_4d,
                            _generator)
from helpers.model import Concat, Residual, Sequential

__all__ = [
    "LocalResponseNorm", "lenet5", "source_cnn", "inception_module", "inception_net", "alexnet",
    "vgg16", "cifar_cnn", "residual_block", "resnet18", "deep_net", "transfer_body",
    "transfer_head", "count_macs", "receptive_fields", "clone",
]


# ----------------------------------------------------------------------------------------------
# Local response normalisation (AlexNet, 2012), a layer helpers.layers does not have
# ----------------------------------------------------------------------------------------------
class LocalResponseNorm(Layer):
    """Local response normalisation across channels (AlexNet), PyTorch's convention.

    x: (N, C, H, W) -> same shape. At every pixel, each channel is divided by a power of the
    energy of its ``size`` neighbouring channels (itself included):

        y_c = x_c / (k + alpha / size * sum_{j in window(c)} x_j**2) ** beta

    window(c) = channels c - size//2 ... c + (size-1)//2 (cut at 0 and C-1). No parameters are
    learned. AlexNet's paper writes alpha without the 1/size: its k=2, n=5, alpha=1e-4,
    beta=0.75 are ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)`` here (and in PyTorch).
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise ValueError(f"LocalResponseNorm: size (number of neighbouring channels) must be a "
                             f"positive int, got {size!r}")
        self.size, self.alpha, self.beta, self.k = int(size), float(alpha), float(beta), float(k)

    def _window_sum(self, a, before, after):
        """Sum of a (N, C, H, W) over channels c-before ... c+after (zero outside)."""
        n, c = a.shape[:2]
        padded = np.concatenate([np.zeros((n, before + 1, *a.shape[2:]), a.dtype), a,
                                 np.zeros((n, after, *a.shape[2:]), a.dtype)], axis=1)
        csum = np.cumsum(padded, axis=1)
        # channel c of a is padded[c + before + 1]; window ends at c + before + 1 + after
        return csum[:, before + after + 1:before + after + 1 + c] - csum[:, :c]

    def forward(self, x, train=True):
        x = _check_4d(x, "LocalResponseNorm")
        before, after = self.size // 2, (self.size - 1) // 2
        d = self.k + (self.alpha / self.size) * self._window_sum(x * x, before, after)
        scale = d ** -self.beta
        self.cache = (x, d, scale)
        return x * scale

    def backward(self, dout):
        x, d, scale = self.cache
        before, after = self.size // 2, (self.size - 1) // 2
        # y_c = x_c d_c^-beta; d_c depends on x_j for j in window(c), so x_m receives from every
        # c whose window holds m: the same window, mirrored (before and after swap).
        t = dout * x * scale / d                                   # g_c x_c d_c^(-beta-1)
        back = self._window_sum(t, after, before)
        return dout * scale - (2 * self.alpha * self.beta / self.size) * x * back

    def _repr_args(self):
        return f"size={self.size}, alpha={self.alpha:g}, beta={self.beta:g}, k={self.k:g}"


# ----------------------------------------------------------------------------------------------
# LeNet-5 and the source's small nets
# ----------------------------------------------------------------------------------------------
def lenet5(classic=True, n_classes=10, rng=None):
    """LeNet-5 for (1, 28, 28) inputs (padding 2 in the first layer = the paper's 32x32 input).

    classic=True: tanh after every layer, 2x2 average pooling ("subsampling"), LeCun's
    initialisation (std = 1/sqrt(fan_in), ``init="xavier"`` in helpers).
    classic=False: the modern LeNet: ReLU, 2x2 max pooling, He initialisation.
    Both: conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> 120 -> 84 -> n_classes; 61,706 parameters.
    Simplified from the paper in three places: C3 connects every input map (the paper's table
    leaves some out), S2/S4 have no trainable coefficient, the output is a Dense layer, not RBFs.
    """
    act, pool, init = (Tanh, AvgPool2D, "xavier") if classic else (ReLU, MaxPool2D, "he")
    return Sequential(
        Conv2D(1, 6, 5, padding=2, init=init, rng=rng), act(), pool(2),       # C1, S2: 6x14x14
        Conv2D(6, 16, 5, init=init, rng=rng), act(), pool(2),                 # C3, S4: 16x5x5
        Flatten(),
        Dense(400, 120, init=init, rng=rng), act(),                           # C5
        Dense(120, 84, init=init, rng=rng), act(),                            # F6
        Dense(84, n_classes, init=init, rng=rng),                             # output (logits)
    )


def source_cnn(rng=None):
    """The source's PyTorch net: conv 10@5x5, max-pool 2, ReLU, conv 20@5x5, max-pool 2, ReLU,
    flatten (20*4*4 = 320), Dense(320, 10). x: (N, 1, 28, 28) -> logits (N, 10)."""
    return Sequential(
        Conv2D(1, 10, 5, rng=rng), MaxPool2D(2), ReLU(),
        Conv2D(10, 20, 5, rng=rng), MaxPool2D(2), ReLU(),
        Flatten(), Dense(320, 10, rng=rng),
    )


def inception_module(in_channels, rng=None):
    """The source's "InceptionA" module: four branches joined on channels (16 + 24 + 24 + 24 = 88).

    1x1 conv 16 | 1x1 conv 16, 5x5 conv 24 | 1x1 conv 16, 3x3 conv 24, 3x3 conv 24 |
    3x3 average pool (stride 1, padding 1), 1x1 conv 24. Padding keeps H and W.
    x: (N, in_channels, H, W) -> (N, 88, H, W). As in the source, no ReLU inside the branches.
    """
    return Concat(
        Sequential(Conv2D(in_channels, 16, 1, rng=rng)),
        Sequential(Conv2D(in_channels, 16, 1, rng=rng), Conv2D(16, 24, 5, padding=2, rng=rng)),
        Sequential(Conv2D(in_channels, 16, 1, rng=rng), Conv2D(16, 24, 3, padding=1, rng=rng),
                   Conv2D(24, 24, 3, padding=1, rng=rng)),
        Sequential(AvgPool2D(3, stride=1, padding=1), Conv2D(in_channels, 24, 1, rng=rng)),
    )


def inception_net(rng=None):
    """The source's small Inception net for (1, 28, 28) inputs:

    conv 10@5x5, max-pool 2, ReLU (10x12x12), inception (88x12x12), conv 20@5x5, max-pool 2,
    ReLU (20x4x4), inception (88x4x4), flatten (88*4*4 = 1408), Dense(1408, 10).
    """
    return Sequential(
        Conv2D(1, 10, 5, rng=rng), MaxPool2D(2), ReLU(),
        inception_module(10, rng=rng),
        Conv2D(88, 20, 5, rng=rng), MaxPool2D(2), ReLU(),
        inception_module(20, rng=rng),
        Flatten(), Dense(1408, 10, rng=rng),
    )


# ----------------------------------------------------------------------------------------------
# ImageNet-scale networks (for summaries and arithmetic; too big to train in NumPy)
# ----------------------------------------------------------------------------------------------
def alexnet(n_classes=1000, lrn=True, variant="paper", rng=None):
    """AlexNet as one tower (no split over two GPUs).

    variant="paper" (Krizhevsky, Sutskever and Hinton, 2012), for (3, 227, 227) inputs:
    conv 96@11x11 stride 4, ReLU, [LRN], overlapping max-pool 3 stride 2; conv 256@5x5, ReLU,
    [LRN], pool; conv 384, 384, 256 @3x3; pool (256x6x6); Dense 4096, 4096 with dropout 0.5;
    Dense n_classes. 62,378,344 parameters for 1000 classes. (The paper split conv2, conv4 and
    conv5 over two GPUs, each half reading only its own half of the channels: 60,965,224.)

    variant="torchvision": the network ``torchvision.models.alexnet()`` builds, for (3, 224, 224)
    inputs: the variant of Krizhevsky's "One weird trick" (2014), with 64, 192, 384, 256, 256
    channels, padding 2 in conv1 and no LRN (``lrn`` is ignored): 61,100,840 parameters.
    Keras ships no AlexNet.
    """
    if variant not in ("paper", "torchvision"):
        raise ValueError(f"alexnet: variant must be 'paper' or 'torchvision', got {variant!r}")
    if variant == "paper":
        widths, pad1 = (96, 256, 384, 384, 256), 0
    else:
        widths, pad1, lrn = (64, 192, 384, 256, 256), 2, False
    c1, c2, c3, c4, c5 = widths
    norm = (lambda: LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)) if lrn else (lambda: None)
    layers = [Conv2D(3, c1, 11, stride=4, padding=pad1, rng=rng), ReLU(), norm(),
              MaxPool2D(3, stride=2),
              Conv2D(c1, c2, 5, padding=2, rng=rng), ReLU(), norm(), MaxPool2D(3, stride=2),
              Conv2D(c2, c3, 3, padding=1, rng=rng), ReLU(),
              Conv2D(c3, c4, 3, padding=1, rng=rng), ReLU(),
              Conv2D(c4, c5, 3, padding=1, rng=rng), ReLU(), MaxPool2D(3, stride=2),
              Flatten(),
              Dropout(0.5, rng=rng), Dense(c5 * 6 * 6, 4096, rng=rng), ReLU(),
              Dropout(0.5, rng=rng), Dense(4096, 4096, rng=rng), ReLU(),
              Dense(4096, n_classes, rng=rng)]
    return Sequential(*[layer for layer in layers if layer is not None])


VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                512, 512, 512, "M")


def vgg16(n_classes=1000, include_top=True, in_channels=3, rng=None):
    """VGG-16 (Simonyan and Zisserman, 2014): 13 convolutions 3x3 (padding 1) in five blocks, each
    block ending in a 2x2 max-pool, then Dense 4096, 4096 (dropout 0.5) and n_classes.

    For (3, 224, 224) inputs the convolutions end at 512x7x7 = 25,088 values; with the top the
    model has 138,357,544 parameters. include_top=False returns the 13-convolution base
    (14,714,688 parameters) that accepts any input of at least 32x32.
    """
    layers, c = [], in_channels
    for v in VGG16_CONFIG:
        if v == "M":
            layers.append(MaxPool2D(2))
        else:
            layers += [Conv2D(c, v, 3, padding=1, rng=rng), ReLU()]
            c = v
    if include_top:
        layers += [Flatten(),
                   Dense(512 * 7 * 7, 4096, rng=rng), ReLU(), Dropout(0.5, rng=rng),
                   Dense(4096, 4096, rng=rng), ReLU(), Dropout(0.5, rng=rng),
                   Dense(4096, n_classes, rng=rng)]
    return Sequential(*layers)


def cifar_cnn(n_classes=10, rng=None):
    """The source's Keras CIFAR-10 CNN in helpers, for (3, 32, 32) inputs: three times
    [conv 32@3x3 'same', ReLU, max-pool 2] (32x4x4 = 512 values), Dense 128, ReLU, Dense 10.
    86,346 parameters."""
    layers, c = [], 3
    for _ in range(3):
        layers += [Conv2D(c, 32, 3, padding="same", rng=rng), ReLU(), MaxPool2D(2)]
        c = 32
    layers += [Flatten(), Dense(512, 128, rng=rng), ReLU(), Dense(128, n_classes, rng=rng)]
    return Sequential(*layers)


# ----------------------------------------------------------------------------------------------
# ResNet
# ----------------------------------------------------------------------------------------------
def residual_block(in_channels, out_channels, stride=1, batchnorm=True, rng=None):
    """A ResNet "basic block": ReLU(block(x) + shortcut(x)), block = conv 3x3 (stride), [BN],
    ReLU, conv 3x3, [BN]. The shortcut is the identity when shapes match, else a 1x1 convolution
    with the same stride (a projection, followed by BN when batchnorm=True).
    x: (N, in_channels, H, W) -> (N, out_channels, H/stride, W/stride).
    """
    bn = BatchNorm2D if batchnorm else None
    block = [Conv2D(in_channels, out_channels, 3, stride=stride, padding=1, bias=not batchnorm,
                    rng=rng)]
    block += [bn(out_channels)] if bn else []
    block += [ReLU(), Conv2D(out_channels, out_channels, 3, padding=1, bias=not batchnorm, rng=rng)]
    block += [bn(out_channels)] if bn else []
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        proj = [Conv2D(in_channels, out_channels, 1, stride=stride, bias=not batchnorm, rng=rng)]
        proj += [bn(out_channels)] if bn else []
        shortcut = Sequential(*proj)
    return Sequential(Residual(Sequential(*block), shortcut), ReLU())


def resnet18(n_classes=1000, rng=None):
    """ResNet-18 (He et al., 2015) for (3, 224, 224) inputs, as torchvision builds it:
    conv 64@7x7 stride 2, BN, ReLU, max-pool 3 stride 2; four stages of two basic blocks
    (64, 128, 256, 512 channels; stages 2-4 halve H and W with a stride-2 convolution);
    global average pooling; Dense n_classes. 11,689,512 trainable parameters (as PyTorch counts
    them) plus 9,600 BatchNorm running statistics (non-trainable buffers).
    """
    layers = [Conv2D(3, 64, 7, stride=2, padding=3, bias=False, rng=rng), BatchNorm2D(64), ReLU(),
              MaxPool2D(3, stride=2, padding=1)]
    c = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [residual_block(c, width, stride, rng=rng), residual_block(width, width, rng=rng)]
        c = width
    layers += [GlobalAvgPool2D(), Dense(512, n_classes, rng=rng)]
    return Sequential(*layers)


def deep_net(n_layers, channels=16, residual=False, batchnorm=False, n_classes=10, rng=None):
    """A deep, narrow CNN for (1, 28, 28) inputs, to see what depth does to training.

    stem: conv 3x3 stride 2 (1 -> channels), ReLU, max-pool 2 (channels x 7 x 7); then
    ``n_layers`` convolutions 3x3 (channels -> channels, padding 1), each followed by [BN and]
    ReLU; global average pooling; Dense(channels, n_classes).
    residual=False: a plain stack. residual=True: the same convolutions grouped in pairs, each
    pair wrapped in ``Residual`` with the identity shortcut, ResNet's basic block:
    out = ReLU(x + [BN] conv(ReLU([BN] conv(x)))). n_layers must be even.
    For the same rng the two versions have exactly the same parameters, with the same initial
    values: only the shortcuts differ.
    """
    if n_layers % 2:
        raise ValueError(f"deep_net: n_layers must be even (convolutions come in pairs), got {n_layers}")
    rng = _generator(rng)              # one generator for all layers: same seed, same weights
    layers = [Conv2D(1, channels, 3, stride=2, padding=1, rng=rng), ReLU(), MaxPool2D(2)]

    def conv_bn():
        c = Conv2D(channels, channels, 3, padding=1, bias=not batchnorm, rng=rng)
        return [c, BatchNorm2D(channels)] if batchnorm else [c]

    for _ in range(n_layers // 2):
        first, second = conv_bn(), conv_bn()
        if residual:
            layers += [Residual(Sequential(*first, ReLU(), *second)), ReLU()]
        else:
            layers += [*first, ReLU(), *second, ReLU()]
    layers += [GlobalAvgPool2D(), Dense(channels, n_classes, rng=rng)]
    return Sequential(*layers)


# ----------------------------------------------------------------------------------------------
# The transfer-learning CNN
# ----------------------------------------------------------------------------------------------
def transfer_body(rng=None):
    """The feature extractor of the transfer-learning lesson, for (1, 28, 28) inputs:
    three blocks [conv 3x3 padding 1, ReLU, max-pool 2] with 16, 32, 64 channels:
    x (N, 1, 28, 28) -> feature maps (N, 64, 3, 3). 23,296 parameters."""
    return Sequential(
        Conv2D(1, 16, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),      # 16x14x14
        Conv2D(16, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),     # 32x7x7
        Conv2D(32, 64, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),     # 64x3x3
    )


def transfer_head(n_classes, pool="flatten", in_shape=(64, 3, 3), hidden=None, rng=None):
    """A new classifier head on feature maps of shape in_shape (C, H, W):
    pool="flatten": Flatten, Dense(C*H*W, n_classes) (2,885 parameters for 5 classes on 64x3x3);
    pool="gap": GlobalAvgPool2D, Dense(C, n_classes) (325 parameters). With hidden units, a
    Dense(..., hidden) and ReLU come first. maps (N, C, H, W) -> logits (N, n_classes)."""
    if pool not in ("flatten", "gap"):
        raise ValueError(f"transfer_head: pool must be 'flatten' or 'gap', got {pool!r}")
    c, h, w = in_shape
    layers = [Flatten()] if pool == "flatten" else [GlobalAvgPool2D()]
    n = c * h * w if pool == "flatten" else c
    if hidden:
        layers += [Dense(n, hidden, rng=rng), ReLU()]
        n = hidden
    layers.append(Dense(n, n_classes, rng=rng))
    return Sequential(*layers)


# ----------------------------------------------------------------------------------------------
# Arithmetic on models, without data
# ----------------------------------------------------------------------------------------------
def _children(layer):
    return [c for _, c in layer.named_children()] if hasattr(layer, "named_children") else []


def count_macs(model, input_shape):
    """Multiply-adds (MACs) of one forward pass for ONE image of shape input_shape (C, H, W).

    Conv2D: out_channels * OH * OW * in_channels * KH * KW; Dense: in_features * out_features.
    Pooling, activations, normalisation and the additions of biases and shortcuts are left out
    (they are small next to these). Works through Sequential, Concat and Residual.
    Returns an int.
    """
    def walk(layer, shape):
        if isinstance(layer, Conv2D):
            c_out, oh, ow = layer.output_shape(shape)
            kh, kw = layer.kernel_size
            return c_out * oh * ow * layer.in_channels * kh * kw
        if isinstance(layer, Dense):
            return layer.in_features * layer.out_features
        if isinstance(layer, Sequential):
            total = 0
            for child in layer.layers:
                total += walk(child, shape)
                shape = child.output_shape(shape)
            return total
        return sum(walk(child, shape) for child in _children(layer))  # Concat, Residual
    return int(walk(model, tuple(input_shape)))


def receptive_fields(model, input_shape):
    """Receptive field of every layer of a plain chain of convolutions and pools.

    Returns a list of (layer repr, output shape, receptive field, jump): the receptive field is
    the side of the input square one output pixel sees; jump is the distance in input pixels
    between neighbouring output pixels (the product of the strides so far). Rule per layer with
    kernel k, stride s, dilation d: rf += d*(k - 1) * jump; jump *= s. Stops at Flatten, Dense
    or global pooling (they see everything).
    """
    rows, rf, jump, shape = [], 1, 1, tuple(input_shape)
    for layer in model.layers:
        if isinstance(layer, (Flatten, Dense, GlobalAvgPool2D)):
            break
        shape = layer.output_shape(shape)
        if isinstance(layer, (Conv2D, MaxPool2D, AvgPool2D)):
            k = layer.kernel_size[0]
            d = getattr(layer, "dilation", (1, 1))[0]
            rf += d * (k - 1) * jump
            jump *= layer.stride[0]
        elif _children(layer):
            raise ValueError(f"receptive_fields follows a plain chain; {type(layer).__name__} "
                             f"has branches")
        rows.append((repr(layer), shape, rf, jump))
    return rows


def clone(model):
    """An independent copy of a model, weights included (for fine-tuning a copy of a trained
    network while keeping the original)."""
    _ = model.params            # draw the weights first, so the copy has the same ones
    return copy.deepcopy(model)
