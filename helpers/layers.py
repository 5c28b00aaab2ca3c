"""Layers of a CNN, one class each, forward and backward side by side.

Every layer follows the same small protocol (as in "Deep Learning from Scratch", common/layers.py):

- ``forward(x, train=True)`` computes the output and keeps in ``self.cache`` what backward needs;
- ``backward(dout)`` takes dL/d(output) and returns dL/dx, storing dL/d(param) in ``self.grads``;
- ``params`` and ``grads`` are dicts of arrays with the same keys (``"W"``, ``"b"``, ...);
- ``trainable``: a frozen layer (``trainable = False``, for transfer learning) still passes dx back,
  but the optimizers leave its parameters alone;
- ``output_shape(in_shape)`` gives the output shape for an input shape *without* the batch axis,
  e.g. ``Conv2D(1, 6, 5).output_shape((1, 32, 32)) == (6, 28, 28)``; no data is needed.

Arrays are NCHW: ``x: (N, C, H, W)``, float32 unless you ask for float64 (gradient checks).

Randomness: every ``rng`` argument is a ``np.random.Generator``, an int seed, or None (the module's
default generator, which ``seed(n)`` resets), so ``seed(0)`` followed by the same model code gives
the same weights every time.
"""

import contextlib
import math
import os

import numpy as np

from helpers import conv, fast, shapes

__all__ = [
    "use_engine", "engine", "seed", "input_grad", "sublayers", "Parameter", "Layer", "Conv2D", "MaxPool2D", "AvgPool2D",
    "GlobalAvgPool2D", "ReLU", "Sigmoid", "Tanh", "Flatten", "Dense", "Dropout", "BatchNorm2D", "SoftmaxCrossEntropy",
]

# ----------------------------------------------------------------------------------------------
# The engine the layers compute with
# ----------------------------------------------------------------------------------------------
ENGINES = {"fast": fast, "reference": conv}
_engine = [os.environ.get("HELPERS_ENGINE", "fast").strip().lower() or "fast"]


def engine():
    """The name of the engine the layers compute with: "fast" (``helpers.fast``, the default)
    or "reference" (``helpers.conv``: after ``use_engine("reference")``, or with
    HELPERS_ENGINE=reference in the environment). ``ENGINES[engine()]`` is the module."""
    name = _engine[-1]
    if name not in ENGINES:
        raise ValueError(f"the engine must be 'fast' or 'reference', got {name!r} (check the "
                         f"environment variable HELPERS_ENGINE)")
    return name


class use_engine:
    """Choose what every Conv2D, MaxPool2D and AvgPool2D computes with: "fast" (``helpers.fast``,
    the default) or "reference" (``helpers.conv``, the code lessons 07-10 derive). Both give the
    same results; the reference is slower. As a call it lasts until the next call; as a
    ``with`` block it lasts for the block:

    >>> with use_engine("reference"):
    ...     pass                       # layers here run on helpers.conv
    """

    def __init__(self, name):
        if name not in ENGINES:
            raise ValueError(f"use_engine: name must be 'fast' or 'reference', got {name!r}")
        self.previous = _engine[-1]
        _engine[-1] = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _engine[-1] = self.previous


# ----------------------------------------------------------------------------------------------
# Random numbers
# ----------------------------------------------------------------------------------------------
_default_rng = np.random.default_rng(0)


def seed(n):
    """Reset the module's default generator, used by every layer created with ``rng=None``."""
    global _default_rng
    _default_rng = np.random.default_rng(n)


def _generator(rng):
    """rng: Generator, int seed or None (module default) -> a np.random.Generator."""
    if rng is None:
        return _default_rng
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    hint = (" (the argument after the sizes is rng: to leave out the bias, write bias=False)"
            if isinstance(rng, bool) else "")
    raise TypeError(f"rng must be a np.random.Generator, an int seed or None, "
                    f"not {type(rng).__name__}{hint}")


def _child_seed(rng):
    """Draw one integer from ``rng``: the seed of a layer's own generator.

    A layer draws its weights from its own generator, seeded here, when the weights are first
    used. So the weights depend only on the order in which layers are *created*, not on when
    they are first used (``summary()`` never draws 138 million numbers for VGG-16).
    """
    return int(_generator(rng).integers(2**63))


# ----------------------------------------------------------------------------------------------
# Checks shared by several layers (geometry checks live in helpers.shapes)
# ----------------------------------------------------------------------------------------------
def sublayers(layer):
    """Yield ``layer`` and every layer inside it, depth first (composites such as Sequential,
    Concat and Residual have ``named_children``)."""
    yield layer
    for _, child in getattr(layer, "named_children", list)():
        yield from sublayers(child)


def _floats(x, name="x"):
    """x as an array of real numbers (``shapes.check_array``: no bool, complex, object or text);
    integers (uint8 pixels, say) become float32, the layers' default dtype, so that every layer
    gives floats whatever it is fed."""
    x = shapes.check_array(x, name)
    if np.issubdtype(x.dtype, np.floating):
        return x
    shapes.check_memory(x.shape, np.float32, f"{name} as float32", "use fewer images at a time")
    return x.astype(np.float32)


def _check_4d(x, layer):
    x = _floats(x)
    if x.ndim != 4:
        hint = ""
        if x.ndim == 3:
            hint = f"; for one image add a batch axis: x[None] has shape {(1, *x.shape)}"
        elif x.ndim == 2:
            hint = f"; for one gray image use x.reshape(1, 1, {x.shape[0]}, {x.shape[1]})"
        raise ValueError(f"{layer} expects a 4-D input x of shape (N, C, H, W) "
                         f"but x has shape {x.shape}{hint}")
    if 0 in x.shape[1:]:
        raise ValueError(f"{layer} expects x of shape (N, C, H, W) with C, H, W >= 1 (N = 0 is "
                         f"fine), but x has shape {x.shape}")
    return x


def _check_channels(n_channels, expected, layer, argname, shape=None):
    if n_channels != expected:
        hint = ""
        if shape is not None and len(shape) == 4 and shape[-1] == expected:
            hint = (f"; x looks channels-last (N, H, W, C): use x.transpose(0, 3, 1, 2) "
                    f"to make it (N, C, H, W)")
        raise ValueError(f"{layer} expects {expected} input channels ({argname}={expected}) "
                         f"but x has {n_channels}{hint}")


def _check_bool(v, name):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {v!r}")
    return bool(v)


def _check_dout(dout, layer, shape):
    """dout as an array of the forward output's shape (no silent broadcasting)."""
    dout = shapes.check_array(dout, "dout")
    if dout.shape != tuple(shape):
        raise ValueError(f"{layer}.backward: dout must have the shape of the forward output "
                         f"{tuple(shape)}, got {dout.shape}")
    return dout


def _check_dtype(dtype):
    if (not isinstance(dtype, (type, str, np.dtype))      # np.dtype(None) would be float64,
            or isinstance(dtype, str) and not dtype.strip()):   # and so would np.dtype("")
        raise TypeError(f"dtype must be float32 or float64, not {dtype!r}")
    try:
        dtype = np.dtype(dtype)
    except Exception:                     # TypeError, and for some texts ValueError, SyntaxError
        raise TypeError(f"dtype must be float32 or float64, not {dtype!r}") from None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, not {dtype}")
    return dtype


# ----------------------------------------------------------------------------------------------
# Base class
# ----------------------------------------------------------------------------------------------
class Parameter:
    """One learnable array of a layer, as the optimizers see it (like ``torch.nn.Parameter``).

    ``data`` is the layer's array itself (optimizers update it in place), ``grad`` the gradient
    the last backward stored (or None), ``trainable`` the layer's flag.
    """

    def __init__(self, layer, key, name=None):
        self.layer, self.key, self.name = layer, key, name or key

    @property
    def data(self):
        return self.layer.params[self.key]

    @property
    def grad(self):
        return self.layer.grads.get(self.key)

    @property
    def trainable(self):
        return self.layer.trainable

    def __repr__(self):
        return f"Parameter({self.name!r}, shape={self.data.shape}, trainable={self.trainable})"


class Layer:
    """Base class: no parameters, identity shape. Subclasses override what they need.

    Parameters are created lazily: ``param_shapes()`` says what they will be (enough for
    ``summary``), ``init_params()`` draws them the first time ``params`` is used.
    """

    trainable = True
    # False: backward need not compute dx (set for a while by ``input_grad(layer, False)``, as
    # Sequential.backward does for its first layer); layers that save work by it return None
    needs_input_grad = True

    def __init__(self):
        self._params = None   # dict name -> array, created on first use of .params
        self.grads = {}       # dict name -> array, filled by backward
        self.buffers = {}     # state that is saved but not trained (BatchNorm running stats)
        self._cache = None    # what forward keeps for backward (see ``cache``)

    # --- what forward keeps for backward --------------------------------------------------------
    @property
    def cache(self):
        """What the last forward kept for backward. Reading it before any forward (a backward
        called first) raises a RuntimeError that says so, instead of failing somewhere inside
        backward on None."""
        if not self.__dict__.get("_ran", False):
            name = type(self).__name__
            raise RuntimeError(f"{name}.backward needs what forward keeps: call {name}.forward "
                               f"first, then backward (it differentiates that forward's input)")
        return self._cache

    @cache.setter
    def cache(self, value):
        self._cache = value
        self._ran = True

    # --- parameters ---------------------------------------------------------------------------
    @property
    def params(self):
        """dict name -> array (the weights are drawn here on first use)."""
        if self._params is None:
            self._params = self.init_params()
        return self._params

    @params.setter
    def params(self, value):          # so a layer of your own may simply set self.params = {...}
        self._params = value

    def init_params(self):
        """Create and return the parameter arrays (called once, on first use of ``params``)."""
        return {}

    def param_shapes(self):
        """dict name -> shape of each parameter, known without creating the arrays."""
        return {}

    def count_params(self):
        """(trainable, non_trainable) numbers of values; buffers are non-trainable (as Keras)."""
        n_params = sum(math.prod(s) for s in self.param_shapes().values())
        n_buffers = sum(b.size for b in self.buffers.values())
        if self.trainable:
            return n_params, n_buffers
        return 0, n_params + n_buffers

    def parameters(self):
        """List of Parameter views, for the optimizers: ``Adam(layer.parameters())``."""
        return [Parameter(self, k) for k in self.params]

    def state_dict(self):
        """dict name -> array of everything that is saved: parameters and buffers."""
        return {**self.params, **self.buffers}

    def astype(self, dtype):
        """Convert parameters and buffers to ``dtype`` (float32 or float64); returns self."""
        dtype = _check_dtype(dtype)
        self.dtype = dtype
        if self._params is not None:
            self._params = {k: v.astype(dtype) for k, v in self._params.items()}
        self.buffers = {k: v.astype(dtype) for k, v in self.buffers.items()}
        self.grads = {}
        return self

    # --- computation --------------------------------------------------------------------------
    def forward(self, x, train=True):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    def __call__(self, x, train=True):
        return self.forward(x, train)

    def output_shape(self, in_shape):
        """Shape of the output for an input of shape ``in_shape`` (no batch axis)."""
        return tuple(in_shape)

    def _repr_args(self):
        return ""

    def __repr__(self):
        args = self._repr_args()
        if not self.trainable:
            args = f"{args}, trainable=False" if args else "trainable=False"
        return f"{type(self).__name__}({args})"


@contextlib.contextmanager
def input_grad(layer, needed):
    """Within ``with input_grad(layer, False):`` the layer's backward may skip computing dx
    (``layer.needs_input_grad`` is False; a Conv2D then returns None). Restored afterwards."""
    before = layer.needs_input_grad
    layer.needs_input_grad = bool(needed)
    try:
        yield layer
    finally:
        layer.needs_input_grad = before


def _fmt(v):
    """(3, 3) -> '3' when both sides are equal, for short reprs like PyTorch's."""
    if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1] and not isinstance(v[0], tuple):
        return str(v[0])
    return str(v) if not isinstance(v, str) else repr(v)


# ----------------------------------------------------------------------------------------------
# Convolution and pooling (the arithmetic lives in helpers.conv and helpers.fast)
# ----------------------------------------------------------------------------------------------
class Conv2D(Layer):
    """2-D convolution (cross-correlation, as every library computes it).

    x: (N, in_channels, H, W) -> out: (N, out_channels, OH, OW), with
    OH = (H + pad_top + pad_bottom - dilation*(KH - 1) - 1) // stride + 1 (``conv.output_size``).
    W: (out_channels, in_channels, KH, KW), b: (out_channels,). padding: int, (ph, pw), "valid"
    or "same". dilation=1 is an ordinary kernel (PyTorch's convention).
    init: "he" (for ReLU networks, std = sqrt(2 / fan_in)) or "xavier" (std = sqrt(1 / fan_in)).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, rng=None, init="he", dtype=np.float32):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Conv2D: {name} must be a positive int, got {v!r}")
        if init not in ("he", "xavier"):
            raise ValueError(f"Conv2D: init must be 'he' or 'xavier', got {init!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = conv.pair(kernel_size, "kernel_size")
        self.stride = conv.pair(stride, "stride")
        self.dilation = conv.pair(dilation, "dilation")
        conv.resolve_padding(padding, self.kernel_size, self.dilation, self.stride)  # validates
        self.padding = padding if isinstance(padding, str) else conv.pair(padding, "padding")
        self.bias, self.init, self.dtype = _check_bool(bias, "bias"), init, _check_dtype(dtype)
        shapes.check_memory((self.out_channels, self.in_channels, *self.kernel_size), self.dtype,
                            "Conv2D: the weights W (out_channels, in_channels, *kernel_size)",
                            "use a smaller kernel_size or fewer channels")
        self._seed = _child_seed(rng)

    def param_shapes(self):
        shapes = {"W": (self.out_channels, self.in_channels, *self.kernel_size)}
        if self.bias:
            shapes["b"] = (self.out_channels,)
        return shapes

    def init_params(self):
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        std = math.sqrt((2.0 if self.init == "he" else 1.0) / fan_in)
        rng = np.random.default_rng(self._seed)
        shapes = self.param_shapes()
        params = {"W": rng.standard_normal(shapes["W"], dtype=self.dtype) * self.dtype.type(std)}
        if self.bias:
            params["b"] = np.zeros(shapes["b"], dtype=self.dtype)
        return params

    def forward(self, x, train=True):
        x = _check_4d(x, "Conv2D")
        _check_channels(x.shape[1], self.in_channels, "Conv2D", "in_channels", x.shape)
        self.output_shape(x.shape[1:])          # the kernel fits x: checked before drawing W
        p = self.params
        name = engine()
        out, cache = ENGINES[name].conv2d_forward(x, p["W"], p.get("b"), self.stride,
                                                  self.padding, self.dilation)
        self.cache = (name, cache)          # the backward pass of the engine that made it
        return out

    def backward(self, dout):
        name, cache = self.cache
        dx, dw, db = ENGINES[name].conv2d_backward(dout, cache, need_dx=self.needs_input_grad)
        if self.trainable:
            self.grads["W"] = dw
            if self.bias:
                self.grads["b"] = db
        return dx

    def output_shape(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"Conv2D expects an input shape (C, H, W) but got {tuple(in_shape)}")
        _check_channels(in_shape[0], self.in_channels, "Conv2D", "in_channels")
        oh, ow = conv.output_size(tuple(in_shape[1:]), self.kernel_size, self.stride,
                                  self.padding, self.dilation)
        return (self.out_channels, oh, ow)

    def _repr_args(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={_fmt(self.kernel_size)}"
        if self.stride != (1, 1):
            s += f", stride={_fmt(self.stride)}"
        if self.padding != (0, 0):
            s += f", padding={_fmt(self.padding)}"
        if self.dilation != (1, 1):
            s += f", dilation={_fmt(self.dilation)}"
        if not self.bias:
            s += ", bias=False"
        return s


class _Pool2D(Layer):
    """What MaxPool2D and AvgPool2D share: arguments, shapes, repr. stride=None means
    stride = kernel_size (windows side by side)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = conv.pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else conv.pair(stride, "stride")
        if isinstance(padding, str):              # "valid" or "same", as helpers.conv takes them
            try:
                conv.resolve_padding(padding, self.kernel_size, 1, self.stride)
            except ValueError as e:
                if stride is None and padding == "same":
                    raise ValueError(f"{e}. {type(self).__name__}'s stride defaults to "
                                     f"kernel_size; pass stride=1 for 'same'") from None
                raise
            self.padding, numeric = padding, (0, 0)
        else:
            self.padding = numeric = conv.pair(padding, "padding")
        # helpers.conv checks the padding rule (at most half the window), on a stand-in input
        self._geometry((1, *(k + 2 * p for k, p in zip(self.kernel_size, numeric))))

    def _geometry(self, in_shape):
        """(C, H, W) -> (OH, OW), validated by helpers.shapes (a zero-cost stand-in array)."""
        if min(in_shape) < 1:
            raise ValueError(f"{type(self).__name__} expects an input shape (C, H, W) with no "
                             f"empty axis, got {tuple(in_shape)}")
        return shapes.pool_output_size(tuple(in_shape[1:]), self.kernel_size, self.stride,
                                       self.padding)

    def output_shape(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"{type(self).__name__} expects an input shape (C, H, W) "
                             f"but got {tuple(in_shape)}")
        return (in_shape[0], *self._geometry(tuple(in_shape)))

    def _repr_args(self):
        s = f"kernel_size={_fmt(self.kernel_size)}"
        if self.stride != self.kernel_size:
            s += f", stride={_fmt(self.stride)}"
        if self.padding != (0, 0):
            s += f", padding={_fmt(self.padding)}"
        return s


class MaxPool2D(_Pool2D):
    """Max pooling: x: (N, C, H, W) -> (N, C, OH, OW). The gradient goes to each window's
    maximum (the first one on ties); padding is -inf, so it never wins."""

    def forward(self, x, train=True):
        x = _check_4d(x, "MaxPool2D")
        name = engine()
        out, cache = ENGINES[name].max_pool2d_forward(x, self.kernel_size, self.stride,
                                                       self.padding)
        self.cache = (name, cache)
        return out

    def backward(self, dout):
        name, cache = self.cache
        return ENGINES[name].max_pool2d_backward(dout, cache)


class AvgPool2D(_Pool2D):
    """Average pooling: x: (N, C, H, W) -> (N, C, OH, OW); each pixel of a window gets
    dout / (KH*KW) back. Zero padding counts in the average (PyTorch's default)."""

    def forward(self, x, train=True):
        x = _check_4d(x, "AvgPool2D")
        name = engine()
        out, cache = ENGINES[name].avg_pool2d_forward(x, self.kernel_size, self.stride,
                                                       self.padding)
        self.cache = (name, cache)
        return out

    def backward(self, dout):
        name, cache = self.cache
        return ENGINES[name].avg_pool2d_backward(dout, cache)


class GlobalAvgPool2D(Layer):
    """Mean over each whole feature map: x: (N, C, H, W) -> (N, C), ready for Dense (as Keras)."""

    def forward(self, x, train=True):
        x = _check_4d(x, "GlobalAvgPool2D")
        self.cache = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dout):
        n, c, h, w = self.cache
        dout = _check_dout(dout, "GlobalAvgPool2D", (n, c))
        # every pixel of a map contributed 1/(H*W) of the mean
        return np.broadcast_to((dout / (h * w))[:, :, None, None], (n, c, h, w)).copy()

    def output_shape(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"GlobalAvgPool2D expects an input shape (C, H, W) "
                             f"but got {tuple(in_shape)}")
        return (in_shape[0],)


# ----------------------------------------------------------------------------------------------
# Activations (any shape in, same shape out)
# ----------------------------------------------------------------------------------------------
class ReLU(Layer):
    """max(0, x), elementwise. The gradient passes where x > 0."""

    def forward(self, x, train=True):
        x = _floats(x)
        self.cache = x > 0                       # mask
        return np.maximum(x, 0, dtype=x.dtype)

    def backward(self, dout):
        return _check_dout(dout, "ReLU", self.cache.shape) * self.cache


class Sigmoid(Layer):
    """1 / (1 + exp(-x)), elementwise; d/dx = out * (1 - out)."""

    def forward(self, x, train=True):
        # exp of a large positive number overflows; tanh gives the same function stably
        x = _floats(x)
        out = 0.5 * (1 + np.tanh(0.5 * x))
        self.cache = out
        return out

    def backward(self, dout):
        out = self.cache
        return _check_dout(dout, "Sigmoid", out.shape) * out * (1 - out)


class Tanh(Layer):
    """tanh(x), elementwise; d/dx = 1 - out**2."""

    def forward(self, x, train=True):
        out = np.tanh(_floats(x))
        self.cache = out
        return out

    def backward(self, dout):
        return _check_dout(dout, "Tanh", self.cache.shape) * (1 - self.cache * self.cache)


# ----------------------------------------------------------------------------------------------
# Shape and fully connected layers
# ----------------------------------------------------------------------------------------------
class Flatten(Layer):
    """x: (N, C, H, W) (or any (N, ...)) -> (N, C*H*W); backward reshapes back."""

    def forward(self, x, train=True):
        x = _floats(x)
        if x.ndim < 1:
            raise ValueError(f"Flatten expects x of shape (N, ...) with a batch axis, got a 0-d "
                             f"array")
        self.cache = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))     # not -1: N may be 0

    def backward(self, dout):
        shape = self.cache
        return _check_dout(dout, "Flatten", (shape[0], math.prod(shape[1:]))).reshape(shape)

    def output_shape(self, in_shape):
        return (math.prod(in_shape),)


class Dense(Layer):
    """Fully connected layer: x: (N, in_features) -> x @ W + b: (N, out_features).

    W: (in_features, out_features) (Keras's layout; PyTorch's Linear stores the transpose),
    b: (out_features,). init: "he" (std = sqrt(2 / in_features), for ReLU networks) or
    "xavier" (std = sqrt(1 / in_features)).
    """

    def __init__(self, in_features, out_features, rng=None, bias=True, init="he",
                 dtype=np.float32):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Dense: {name} must be a positive int, got {v!r}")
        if init not in ("he", "xavier"):
            raise ValueError(f"Dense: init must be 'he' or 'xavier', got {init!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.bias, self.init, self.dtype = _check_bool(bias, "bias"), init, _check_dtype(dtype)
        shapes.check_memory((self.in_features, self.out_features), self.dtype,
                            "Dense: the weights W (in_features, out_features)",
                            "use fewer in_features or out_features")
        self._seed = _child_seed(rng)

    def param_shapes(self):
        shapes = {"W": (self.in_features, self.out_features)}
        if self.bias:
            shapes["b"] = (self.out_features,)
        return shapes

    def init_params(self):
        std = math.sqrt((2.0 if self.init == "he" else 1.0) / self.in_features)
        rng = np.random.default_rng(self._seed)
        shapes = self.param_shapes()
        params = {"W": rng.standard_normal(shapes["W"], dtype=self.dtype) * self.dtype.type(std)}
        if self.bias:
            params["b"] = np.zeros(shapes["b"], dtype=self.dtype)
        return params

    def _check_input(self, shape):
        if len(shape) != 2:
            n = math.prod(shape[1:]) if len(shape) > 2 else None
            hint = (f"; put Flatten() before it (it turns {tuple(shape[1:])} into {n} features)"
                    if n else "")
            raise ValueError(f"Dense expects a 2-D input x of shape (N, in_features) but x has "
                             f"shape {tuple(shape)}{hint}")
        if shape[1] != self.in_features:
            raise ValueError(f"Dense expects {self.in_features} input features "
                             f"(in_features={self.in_features}) but x has {shape[1]}; "
                             f"use Dense({shape[1]}, {self.out_features}) to fit this input")

    def forward(self, x, train=True):
        x = _floats(x)
        self._check_input(x.shape)
        self.cache = x
        out = x @ self.params["W"]
        if self.bias:
            out += self.params["b"]
        return out

    def backward(self, dout):
        x = self.cache
        dout = _check_dout(dout, "Dense", (x.shape[0], self.out_features))
        if self.trainable:
            self.grads["W"] = x.T @ dout            # (in, N) @ (N, out)
            if self.bias:
                self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T            # (N, out) @ (out, in)

    def output_shape(self, in_shape):
        self._check_input((None, *in_shape))
        return (self.out_features,)

    def _repr_args(self):
        return f"{self.in_features}, {self.out_features}" + ("" if self.bias else ", bias=False")


class Dropout(Layer):
    """Inverted dropout: in training each value is zeroed with probability p and the rest are
    scaled by 1/(1 - p), so nothing changes at test time (train=False passes x through).
    x: any shape -> same shape.
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p < 1:
            hint = ""
            if isinstance(p, (int, float)) and 1 < p <= 100:
                hint = f"; for {p} % write p={p / 100:g}"
            raise ValueError(f"Dropout: p is the probability of dropping a value and must be in "
                             f"[0, 1), got {p!r}{hint}")
        self.p = float(p)
        self.rng = np.random.default_rng(_child_seed(rng))

    def reseed(self, seed):
        """Start the dropping pattern afresh from ``seed`` (``fit(seed=...)`` does this)."""
        self.rng = np.random.default_rng(seed)

    def forward(self, x, train=True):
        x = _floats(x)                  # integers could not hold the 1/(1 - p) scale
        if not train or self.p == 0:
            self.cache = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self.cache = keep * x.dtype.type(1 / (1 - self.p))   # mask already scaled, x's dtype
        return x * self.cache

    def backward(self, dout):
        if self.cache is None:
            return shapes.check_array(dout, "dout")
        return _check_dout(dout, "Dropout", self.cache.shape) * self.cache

    def _repr_args(self):
        return f"p={self.p}"


class BatchNorm2D(Layer):
    """Batch normalisation over (N, H, W) for each channel: x: (N, C, H, W) -> same shape.

    Training: normalise with the batch's mean and variance, then scale by gamma and shift by
    beta (both (C,), trained), and update the running averages
    ``running = (1 - momentum) * running + momentum * batch`` (PyTorch's convention; the running
    variance uses the unbiased batch variance). Evaluation (train=False): use the running
    averages. They are buffers: saved with the model, counted as non-trainable in summary.
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype=np.float32):
        super().__init__()
        if (isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer))
                or num_features < 1):
            raise ValueError(f"BatchNorm2D: num_features must be a positive int (the channels "
                             f"of its input), got {num_features!r}")
        if not (isinstance(momentum, (int, float, np.floating))
                and not isinstance(momentum, bool) and 0 <= momentum <= 1):
            raise ValueError(f"BatchNorm2D: momentum is the weight of each new batch in the "
                             f"running averages and must be in [0, 1], got {momentum!r} "
                             f"(PyTorch's convention: 0.1; Keras' 0.99 is 1 - momentum here)")
        if not (isinstance(eps, (int, float, np.floating)) and not isinstance(eps, bool)
                and 0 < eps < math.inf):
            raise ValueError(f"BatchNorm2D: eps must be a positive number (it keeps the "
                             f"division away from 0), got {eps!r}")
        self.num_features, self.momentum, self.eps = int(num_features), momentum, eps
        self.dtype = _check_dtype(dtype)
        self.buffers = {"running_mean": np.zeros(num_features, self.dtype),
                        "running_var": np.ones(num_features, self.dtype)}

    def param_shapes(self):
        return {"gamma": (self.num_features,), "beta": (self.num_features,)}

    def init_params(self):
        return {"gamma": np.ones(self.num_features, self.dtype),
                "beta": np.zeros(self.num_features, self.dtype)}

    def forward(self, x, train=True):
        x = _check_4d(x, "BatchNorm2D")
        _check_channels(x.shape[1], self.num_features, "BatchNorm2D", "num_features", x.shape)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if train:
            m = x.shape[0] * x.shape[2] * x.shape[3]          # values per channel
            if m < 2:
                raise ValueError(f"BatchNorm2D in training needs more than one value per channel "
                                 f"to normalise with (N*H*W > 1), but x has shape {x.shape}: "
                                 f"use a larger batch, or forward(x, train=False) to use the "
                                 f"running statistics")
            mean = _channel_sum(x) / m
            xc = x - mean[:, None, None]
            var = _channel_sum(xc, xc) / m                    # (two passes: stable in float32)
            r = self.momentum
            self.buffers["running_mean"] *= 1 - r
            self.buffers["running_mean"] += r * mean
            self.buffers["running_var"] *= 1 - r
            self.buffers["running_var"] += (r * m / max(m - 1, 1)) * var
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            xc = x - mean[:, None, None]
        inv_std = (1 / np.sqrt(var + self.eps)).astype(x.dtype)          # (C,)
        # out = gamma * x_hat + beta with x_hat = xc * inv_std, in one pass over the data
        out = xc * (gamma * inv_std)[:, None, None]
        out += beta[:, None, None]
        self.cache = (xc, inv_std, train)
        return out

    def backward(self, dout):
        xc, inv_std, train = self.cache
        dout = _check_dout(dout, "BatchNorm2D", xc.shape)
        gamma = self.params["gamma"]
        dbeta = _channel_sum(dout)
        dgamma = _channel_sum(dout, xc) * inv_std                   # sum(dout * x_hat)
        if self.trainable:
            self.grads["gamma"], self.grads["beta"] = dgamma, dbeta
        scale = gamma * inv_std                                      # (C,)
        if not train:                 # fixed mean and variance: just an affine map
            return dout * scale[:, None, None]
        m = dout.shape[0] * dout.shape[2] * dout.shape[3]
        # dx = scale * (dout - dbeta/m - x_hat * dgamma/m): the mean and the variance depend
        # on every x too, and the last two terms account for that; x_hat = xc * inv_std
        dx = dout * scale[:, None, None]
        dx -= xc * (scale * inv_std * dgamma / m)[:, None, None]
        dx -= (scale * dbeta / m)[:, None, None]
        return dx

    def output_shape(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"BatchNorm2D expects an input shape (C, H, W) "
                             f"but got {tuple(in_shape)}")
        _check_channels(in_shape[0], self.num_features, "BatchNorm2D", "num_features")
        return tuple(in_shape)

    def _repr_args(self):
        return str(self.num_features)


def _channel_sum(a, b=None):
    """Per-channel sum of a (N, C, H, W) array, or of a * b: -> (C,). Sums over the batch axis
    first, then each channel's contiguous row: several times faster than a.sum(axis=(0, 2, 3))."""
    if b is None:
        return a.sum(axis=0).reshape(a.shape[1], -1).sum(axis=1)
    return np.einsum("nchw,nchw->c", a, b)


# ----------------------------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------------------------
class SoftmaxCrossEntropy(Layer):
    """Softmax followed by the cross-entropy loss, averaged over the batch.

    forward(logits, y): logits (N, K) floats, y (N,) integer class labels in [0, K) -> float loss.
    backward(dout=1.0) -> dlogits (N, K) = (softmax(logits) - onehot(y)) / N * dout.
    Stable for any logits: it subtracts each row's maximum before exp (log-sum-exp trick).
    """

    def forward(self, logits, y, train=True):
        logits = shapes.check_array(logits, "logits")
        if logits.ndim != 2:
            hint = ("; put Flatten() and Dense(..., n_classes) before the loss"
                    if logits.ndim > 2 else "")
            raise ValueError(f"SoftmaxCrossEntropy expects logits of shape (N, n_classes) but got "
                             f"shape {logits.shape}{hint}")
        n, k = logits.shape
        if n == 0 or k == 0:
            raise ValueError(f"SoftmaxCrossEntropy needs at least one example and one class, but "
                             f"logits has shape {logits.shape}; the mean loss of an empty batch "
                             f"is undefined")
        try:
            y = np.asarray(y)
        except ValueError:
            raise ValueError("y must be an array of integer class labels of shape (N,); the "
                             "nested lists have different lengths") from None
        if y.ndim == 2 and y.shape == logits.shape:
            raise ValueError("SoftmaxCrossEntropy expects y as integer class labels of shape (N,), "
                             "not one-hot rows; use y.argmax(axis=1)")
        if y.ndim != 1 or y.dtype.kind not in "iu":           # not bool, not timedelta
            raise ValueError(f"SoftmaxCrossEntropy expects y as integer class labels of shape (N,) "
                             f"but y has shape {y.shape} and dtype {y.dtype}")
        if len(y) != n:
            raise ValueError(f"label and batch sizes do not match: logits has {n} rows "
                             f"(batch size) but y has {len(y)} labels")
        if n and (y.min() < 0 or y.max() >= k):
            bad = y.min() if y.min() < 0 else y.max()
            raise ValueError(f"labels must be in [0, {k - 1}] for {k} classes (logits has {k} "
                             f"columns) but y contains {bad}")
        if not np.isfinite(logits).all():
            raise ValueError("NaN or inf reached the loss: training diverged. Try a lower learning "
                             "rate (e.g. 10x smaller), and check that the inputs are scaled "
                             "(x / 255) and contain no NaN")
        if not np.issubdtype(logits.dtype, np.floating):
            logits = logits.astype(np.float64)
        dtype = logits.dtype
        with np.errstate(over="ignore"):
            z = logits - logits.max(axis=1, keepdims=True)      # every row's max is now 0
        if not np.isfinite(z).all():      # a row spans more than the dtype holds (float32: 3.4e38)
            z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        rows = np.arange(n)
        self.cache = (np.exp(log_probs).astype(dtype, copy=False), y)
        return float(-log_probs[rows, y].mean()) + 0.0          # + 0.0: never print -0.0

    def __call__(self, logits, y):
        return self.forward(logits, y)

    def backward(self, dout=1.0):
        probs, y = self.cache
        dout = shapes.check_number(dout, "dout (the gradient of the loss, a number)")
        n = len(y)
        dlogits = probs.copy()
        dlogits[np.arange(n), y] -= 1
        dlogits *= dlogits.dtype.type(dout / n)
        return dlogits

    def output_shape(self, in_shape):
        return ()
