"""Looking inside a trained CNN (lesson 14): activations, receptive fields, the input patches
that excite a filter most, occlusion maps and gradient saliency.

Pure functions of a model and arrays; nothing here trains or draws. Arrays are NCHW (one image
is (C, H, W)). A "model" is a ``helpers.model.Sequential`` (anything with ``.layers``,
``forward(x, train)`` and ``backward(dout)``); where only probabilities are needed, any function
``x (N, C, H, W) -> probabilities (N, K)`` works too.

- ``activations(model, x, layer)``: the output of one layer, computed in batches.
- ``receptive_field(model, layer)``: which input pixels one output pixel of a layer sees.
- ``top_activating_patches(model, x, layer)``: for every channel, the k input patches that
  drive it hardest (one per image).
- ``occlusion_map(model, image, target)``: slide a grey patch over the image and record how
  much the target class's probability drops (Zeiler and Fergus, 2014).
- ``gradient_saliency(model, image, target)``: |d score / d pixel| (Simonyan, Vedaldi and
  Zisserman, 2014), optionally averaged over noisy copies (SmoothGrad, Smilkov et al., 2017).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers import conv
from helpers.shapes import check_array, check_number
from helpers.layers import AvgPool2D, Conv2D, Dense, Flatten, GlobalAvgPool2D, MaxPool2D

__all__ = ["softmax", "layer_index", "activations", "receptive_field", "TopPatches",
           "top_activating_patches", "Occlusion", "occlusion_map", "gradient_saliency"]


def softmax(z):
    """Row-wise softmax, stable for any logits. z: (N, K) -> (N, K), rows sum to 1."""
    z = check_array(z, "z").astype(np.float64)
    if z.ndim < 1 or 0 in z.shape:
        raise ValueError(f"z must be logits (N, K) or (K,) with no empty axis, got shape {z.shape}")
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layer_index(model, layer):
    """The position of ``layer`` in ``model.layers``: layer is an int (negative counts from the
    end) or the layer object itself. Raises ValueError naming the valid range."""
    n = len(model.layers)
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -n <= layer < n:
            raise ValueError(f"layer must be an index in [0, {n - 1}] (or -1 for the last), got {layer}")
        return int(layer) % n
    for i, candidate in enumerate(model.layers):
        if candidate is layer:
            return i
    raise ValueError(f"layer {layer!r} is not one of the model's layers; pass an index in [0, {n - 1}]")


def _as_batch(x, name="x", one=False):
    """Images (N, C, H, W) from x: (N, C, H, W), one image (C, H, W) or (H, W); with one=True
    exactly one image."""
    x = check_array(x, name)
    if x.ndim == 2:                    # one grayscale image (H, W)
        x = x[None, None]
    elif x.ndim == 3:                  # one image (C, H, W)
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{name} must be images (N, C, H, W), one image (C, H, W) or (H, W); "
                         f"got shape {x.shape}")
    if 0 in x.shape[1:] or (one and x.shape[0] != 1):
        raise ValueError(f"{name} must be " + ("one image (C, H, W) or (H, W)" if one else
                         "images (N, C, H, W)") + f" with no empty axis, got shape {x.shape}")
    return x


def activations(model, x, layer, batch_size=256):
    """The output of ``model.layers[layer]`` for the inputs x, in evaluation mode.

    x: (N, C, H, W) (or one image (C, H, W)); layer: index into ``model.layers`` or the layer
    object. Returns (N, ...) as the layer gives it, e.g. (N, 30, 24, 24) after SimpleConvNet's
    convolution, (N, 100) after its hidden Dense layer.
    """
    x = _as_batch(x).astype(np.float32, copy=False)
    batch_size = check_number(batch_size, "batch_size", low=1, integer=True)
    stop = layer_index(model, layer) + 1
    outs = []
    for i in range(0, max(len(x), 1), batch_size):
        h = x[i:i + batch_size]
        outs.append(_fits(lambda: _forward(model.layers[:stop], h), x, "x"))
    return np.concatenate(outs)


def _forward(layers, h):
    for lay in layers:
        h = lay.forward(h, train=False)
    return h


def _fits(run, x, name):
    """run(); a ValueError of the model's layers says that ``name`` does not fit the model."""
    try:
        return run()
    except ValueError as exc:
        raise ValueError(f"{name} of shape {x.shape} does not fit the model: {exc}") from None


def receptive_field(model, layer):
    """Which input pixels one output pixel of ``model.layers[layer]`` depends on.

    Returns (size, jump, start) in input pixels: output pixel (i, j) of that layer sees the
    input rows ``start + i*jump`` to ``start + i*jump + size - 1`` (columns alike). start is
    negative when zero padding lets a window hang over the edge. Per layer with kernel k,
    stride s, dilation d and padding p (top/left): start += -p*jump; size += d*(k - 1)*jump;
    jump *= s. Activations, batch norm and dropout change nothing. Square kernels and strides
    only. Raises ValueError for layers after Flatten or Dense (they see the whole input).
    """
    stop = layer_index(model, layer) + 1
    size, jump, start = 1, 1, 0
    for lay in model.layers[:stop]:
        if isinstance(lay, (Flatten, Dense, GlobalAvgPool2D)):
            raise ValueError(f"{type(lay).__name__} mixes every position: from there on, every unit "
                             f"sees the whole input; pick a convolution or pooling layer")
        if isinstance(lay, (Conv2D, MaxPool2D, AvgPool2D)):
            k = lay.kernel_size[0]
            s = lay.stride[0]
            d = getattr(lay, "dilation", (1, 1))[0]
            (top, _), _ = conv.resolve_padding(lay.padding, lay.kernel_size, (d, d))
            start -= top * jump
            size += d * (k - 1) * jump
            jump *= s
        elif getattr(lay, "layers", None) is not None or hasattr(lay, "branches"):
            raise ValueError(f"receptive_field follows a plain chain of layers; {type(lay).__name__} "
                             f"has branches")
    return size, jump, start


@dataclass
class TopPatches:
    """What ``top_activating_patches`` returns, for F channels and the top k images each.

    values: (F, k) the largest activation of each channel in each of its top images, best
    first; where: (F, k, 3) integer (image index n, row i, column j) of that activation in the
    layer's output; patches: (F, k, C, S, S) the input window (receptive field, S = size) of
    each, zero where the window hangs over the image edge; size, jump, start: the receptive
    field (``receptive_field``).
    """

    values: np.ndarray
    where: np.ndarray
    patches: np.ndarray
    size: int
    jump: int
    start: int


def _patch(image, top, left, size):
    """image (C, H, W) -> (C, size, size) window at (top, left), zero outside the image."""
    c, h, w = image.shape
    out = np.zeros((c, size, size), dtype=image.dtype)
    r0, r1 = max(top, 0), min(top + size, h)
    c0, c1 = max(left, 0), min(left + size, w)
    if r0 < r1 and c0 < c1:
        out[:, r0 - top:r1 - top, c0 - left:c1 - left] = image[:, r0:r1, c0:c1]
    return out


def top_activating_patches(model, x, layer, k=9, batch_size=500):
    """For every channel of ``model.layers[layer]``, the k images of x that excite it most.

    x: (N, C, H, W) images (e.g. the test set); layer: a convolution (or a layer after it,
    before Flatten). Each image counts once per channel, at its strongest position, so the k
    patches come from k different images (otherwise the top few are often the same stripe
    seen one pixel apart). Runs in batches and keeps only a running top k, so 10,000 images
    need no more memory than one batch. Returns a :class:`TopPatches`.
    """
    x = _as_batch(x).astype(np.float32, copy=False)
    batch_size = check_number(batch_size, "batch_size", low=1, integer=True)
    k = check_number(k, "k", integer=True)
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be between 1 and the number of images ({len(x)}), got {k}")
    size, jump, start = receptive_field(model, layer)
    best_v = best_w = None
    for i in range(0, len(x), batch_size):
        a = activations(model, x[i:i + batch_size], layer, batch_size=batch_size)   # (B, F, OH, OW)
        if a.ndim != 4:
            raise ValueError(f"layer {layer} gives shape {a.shape[1:]}; top_activating_patches "
                             f"needs feature maps (F, OH, OW)")
        b, f, oh, ow = a.shape
        flat = a.reshape(b, f, oh * ow)
        pos = flat.argmax(axis=2)                                   # (B, F) strongest position
        val = np.take_along_axis(flat, pos[..., None], axis=2)[..., 0]
        where = np.stack([np.broadcast_to(np.arange(i, i + b)[:, None], (b, f)),
                          pos // ow, pos % ow], axis=-1)            # (B, F, 3)
        v = val.T if best_v is None else np.concatenate([best_v, val.T], axis=1)       # (F, *)
        w = where.transpose(1, 0, 2) if best_w is None else np.concatenate(
            [best_w, where.transpose(1, 0, 2)], axis=1)
        keep = np.argsort(-v, axis=1, kind="stable")[:, :k]
        best_v = np.take_along_axis(v, keep, axis=1)
        best_w = np.take_along_axis(w, keep[..., None], axis=1)
    f = best_v.shape[0]
    patches = np.zeros((f, k, x.shape[1], size, size), dtype=x.dtype)
    for ch in range(f):
        for r in range(k):
            n, oi, oj = best_w[ch, r]
            patches[ch, r] = _patch(x[n], start + oi * jump, start + oj * jump, size)
    return TopPatches(best_v, best_w.astype(np.int64), patches, size, jump, start)


def _score_fn(model, score):
    """x (N, C, H, W) -> (N, K): probabilities or logits of ``model``."""
    if score == "probability":
        if hasattr(model, "predict_proba"):
            return model.predict_proba
        if callable(model) and not hasattr(model, "forward"):
            return model
        raise TypeError("model must have predict_proba (a Sequential) or be a function "
                        "x (N, C, H, W) -> probabilities (N, K)")
    if score == "logit":
        if not hasattr(model, "forward"):
            raise TypeError("score='logit' needs a model with forward (a Sequential); a plain "
                            "function gives only probabilities")
        return lambda x: model.forward(x, train=False)
    raise ValueError(f"score must be 'probability' or 'logit', got {score!r}")


@dataclass
class Occlusion:
    """What ``occlusion_map`` returns.

    grid: (OH, OW) the drop s(target | image) - s(target | image with the patch at (i*stride,
    j*stride)), where s is the probability or the logit (``score``); positive where covering
    the image hurts the class. heat: (H, W) the mean drop over all patch positions that cover
    each pixel, for drawing over the image. base: s(target) with nothing covered.
    occluded: (OH, OW, K) every class's score for every patch position.
    """

    grid: np.ndarray
    heat: np.ndarray
    base: float
    occluded: np.ndarray
    patch_size: int
    stride: int
    score: str


def occlusion_map(model, image, target, patch_size=6, stride=2, fill=0.0, score="probability",
                  batch_size=256):
    """Slide a square of constant value ``fill`` over one image; record the target's drop.

    model: a Sequential, or (for score="probability") a function x (N, C, H, W) ->
    probabilities (N, K); image: (C, H, W) or (H, W); target: class index. patch_size, stride:
    in pixels. fill: the patch's value; for standardised inputs 0.0 is the data set's mean, a
    mid grey. score: "probability" (Zeiler and Fergus) or "logit", the class score before
    softmax, which keeps moving when the probability is stuck at 100 %. All the occluded copies
    go through the model in batches. Returns an :class:`Occlusion` with grid (OH, OW) and heat
    (H, W), OH = (H - patch_size) // stride + 1 (``conv.output_size``: the patch slides like a
    kernel).
    """
    img = _as_batch(image, "image", one=True)[0].astype(np.float32, copy=False)
    c, h, w = img.shape
    patch_size = check_number(patch_size, "patch_size", low=1, integer=True)
    stride = check_number(stride, "stride", low=1, integer=True)
    fill = check_number(fill, "fill")
    batch_size = check_number(batch_size, "batch_size", low=1, integer=True)
    target = check_number(target, "target (a class index)", low=0, integer=True)
    if patch_size > min(h, w):
        raise ValueError(f"patch_size {patch_size} is larger than the image ({h}x{w})")
    oh, ow = conv.output_size((h, w), patch_size, stride)
    fn = _score_fn(model, score)
    base_scores = np.asarray(_fits(lambda: fn(img[None]), img, "image"))[0]
    k = base_scores.shape[0]
    if not 0 <= int(target) < k:
        raise ValueError(f"target must be a class index in [0, {k - 1}], got {target}")
    target = int(target)
    occluded = np.empty((oh * ow, c, h, w), dtype=img.dtype)
    occluded[:] = img
    for i in range(oh):
        for j in range(ow):
            occluded[i * ow + j, :, i * stride:i * stride + patch_size,
                     j * stride:j * stride + patch_size] = fill
    scores = np.concatenate([np.asarray(fn(occluded[s:s + batch_size]))
                             for s in range(0, len(occluded), batch_size)]).reshape(oh, ow, k)
    grid = base_scores[target] - scores[..., target]
    total = np.zeros((h, w))
    count = np.zeros((h, w))
    for i in range(oh):
        for j in range(ow):
            total[i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] += grid[i, j]
            count[i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] += 1
    heat = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return Occlusion(grid, heat, float(base_scores[target]), scores, int(patch_size), int(stride),
                     score)


def gradient_saliency(model, image, target, n_samples=1, noise=0.0, seed=0):
    """|d logit_target / d pixel| for one image: which pixels would change the score fastest.

    model: a Sequential (needs forward and backward); image: (C, H, W) or (H, W); target: class
    index. The gradient of the target's *logit* (the score before softmax) is used, as Simonyan
    et al. do: the probability's gradient also depends on every other class. With n_samples > 1
    the gradients of n noisy copies (Gaussian noise of standard deviation ``noise``, in input
    units) are averaged (SmoothGrad), which removes much of the speckle. Returns (H, W): the
    largest absolute gradient over the channels. Side effect: the layers' grads are overwritten.
    """
    img = _as_batch(image, "image", one=True)[0].astype(np.float32, copy=False)
    n_samples = check_number(n_samples, "n_samples", low=1, integer=True)
    noise = check_number(noise, "noise (a standard deviation)", low=0)
    target = check_number(target, "target (a class index)", low=0, integer=True)
    rng = np.random.default_rng(seed)
    batch = np.repeat(img[None], n_samples, axis=0)
    if noise > 0:
        batch = batch + rng.normal(0.0, noise, batch.shape).astype(np.float32)
    logits = _fits(lambda: model.forward(batch, train=False), img, "image")
    k = logits.shape[1]
    if not 0 <= int(target) < k:
        raise ValueError(f"target must be a class index in [0, {k - 1}], got {target}")
    dout = np.zeros_like(logits)
    dout[:, int(target)] = 1.0                    # d logit_target / d logits
    dx = model.backward(dout)                     # (n, C, H, W)
    return np.abs(dx).mean(axis=0).max(axis=0)
