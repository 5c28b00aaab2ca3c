"""Gradient checking: compare backward with numerical derivatives (central differences).

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)          error O(h**2)

Run checks in float64: in float32 the rounding error (~1e-7 / h) swamps the answer.
A maximum relative error below ~1e-7 means backward is right; above ~1e-3 it is wrong.
"""

import math

import numpy as np

from helpers.layers import sublayers
from helpers.shapes import check_array, check_number

__all__ = ["numerical_gradient", "numerical_gradient_array", "rel_error", "check_layer",
           "check_model"]


def numerical_gradient(f, x, h=1e-5):
    """Gradient of a scalar function by central differences.

    f: called as f(x) -> float; x: float array, perturbed in place one entry at a time (and
    restored). Returns an array of x's shape with df/dx.
    """
    x, h = _perturbable(x, h)
    grad = np.zeros_like(x)
    if x.size == 0:
        return grad
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(f, x, dout, h=1e-5):
    """Numerical gradient of ``sum(f(x) * dout)`` for an array-valued f (as CS231n's).

    f(x) -> array like dout. Subtracting the two outputs *before* the sum keeps the rounding
    error small: outputs that x_i does not touch cancel exactly.
    """
    x, h = _perturbable(x, h)
    dout = check_array(dout, "dout")
    grad = np.zeros_like(x)
    if x.size == 0:
        return grad
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        out_plus = np.array(f(x), copy=True)
        x[i] = old - h
        out_minus = np.array(f(x), copy=True)
        x[i] = old
        grad[i] = np.sum((out_plus - out_minus) * dout) / (2 * h)
    return grad


def _perturbable(x, h):
    """x must be a float array (it is perturbed in place; integers cannot hold x + h) and h a
    positive step."""
    if not (isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)):
        check_array(x, "x")
        raise TypeError(f"x must be a float NumPy array, perturbed in place, got "
                        f"{type(x).__name__}" + (f" of dtype {x.dtype}" if hasattr(x, "dtype")
                                                 else "") + "; use np.array(x, dtype=np.float64)")
    return x, check_number(h, "h (the step)", low=0, low_open=True)


def rel_error(a, b):
    """Maximum relative error max |a - b| / max(|a| + |b|, 1e-8), elementwise (CS231n's)."""
    a = check_array(a, "a").astype(np.float64)
    b = check_array(b, "b").astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs a and b of the same shape, got a {a.shape} and "
                         f"b {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def _random_layers(layer):
    """Every sub-layer that draws random numbers (has an ``rng``), e.g. Dropout."""
    return [sub for sub in sublayers(layer)
            if isinstance(getattr(sub, "rng", None), np.random.Generator)]


def _repeatable(layer):
    """A function that rewinds every random generator in ``layer``, so each forward in a
    check draws the same dropout mask."""
    states = [(l, l.rng.bit_generator.state) for l in _random_layers(layer)]

    def rewind():
        for l, state in states:
            l.rng.bit_generator.state = state
    return rewind


def _missing(layer, grads, errors):
    """A trainable parameter for which backward stored no gradient is an error too (inf):
    a forgotten ``self.grads[...] = ...`` must not pass as "nothing to check". Frozen layers
    (trainable = False) store none, by design."""
    for p in layer.parameters():
        if p.trainable and p.name not in grads:
            errors[p.name] = math.inf
    return errors


def check_layer(layer, x, train=True, h=1e-5, seed=12345):
    """Check a layer's backward against numerical gradients.

    layer: any layer (or Sequential, Concat, Residual); it is converted to float64 in place.
    x: input array (converted to float64). The upstream gradient dout is random (seeded by
    ``seed``; not 0, the seed tests often use for x, as dout must not resemble x), so every
    output counts. Returns {'x': max rel error of dx, 'W': ..., ...} for x and each parameter.
    A parameter whose true gradient is exactly 0 (a conv bias right before BatchNorm) gives a
    meaningless relative error: leave such biases out (bias=False).
    """
    x = check_array(x, "x").astype(np.float64)
    h = check_number(h, "h (the step)", low=0, low_open=True)
    layer.astype(np.float64)
    rewind = _repeatable(layer)

    def f(_):
        rewind()
        return layer.forward(x, train)

    out = f(x)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    rewind()
    layer.forward(x, train)
    dx = layer.backward(dout)
    grads = {k: np.array(v, copy=True) for k, v in layer.grads.items()}
    errors = {"x": rel_error(dx, numerical_gradient_array(f, x, dout, h))}
    for name, p in layer.params.items():
        if name in grads:
            errors[name] = rel_error(grads[name], numerical_gradient_array(f, p, dout, h))
    return _missing(layer, grads, errors)


def check_model(model, loss, x, y, train=True, h=1e-5):
    """Check a whole model plus loss: numerical gradients of the scalar loss.

    model: converted to float64 in place; x: (N, ...) input, y: (N,) labels.
    Returns {'x': max rel error, '0.W': ..., ...} for the input and every parameter.
    """
    x = check_array(x, "x").astype(np.float64)
    h = check_number(h, "h (the step)", low=0, low_open=True)
    model.astype(np.float64)
    rewind = _repeatable(model)

    def f(_):
        rewind()
        return loss.forward(model.forward(x, train), y)

    rewind()
    loss.forward(model.forward(x, train), y)
    dx = model.backward(loss.backward())
    grads = {k: np.array(v, copy=True) for k, v in model.grads.items()}
    errors = {"x": rel_error(dx, numerical_gradient(f, x, h))}
    for name, p in model.params.items():
        if name in grads:
            errors[name] = rel_error(grads[name], numerical_gradient(f, p, h))
    return _missing(model, grads, errors)
