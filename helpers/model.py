"""Models built from layers: Sequential, and two composite layers for the architectures lesson.

- ``Sequential(*layers)`` runs layers one after another (forward) and back (backward);
  ``summary(input_shape)`` prints a Keras-style table; ``save`` / ``load`` use ``.npz`` files.
- ``Concat(*branches)`` runs branches side by side on the same input and joins their outputs on
  the channel axis (an Inception module).
- ``Residual(block, shortcut=None)`` computes ``block(x) + shortcut(x)`` (a ResNet block; the
  shortcut is the identity or a 1x1 projection). Put a ReLU after it as ResNet does.

All three are layers themselves (same protocol as helpers.layers), so they nest. Their
parameters are named like PyTorch's state_dict keys: ``"0.W"``, ``"3.block.1.gamma"``.
"""

import os
import tempfile

import numpy as np

from helpers.layers import Layer, Parameter
from helpers.layers import input_grad as _input_grad
from helpers.shapes import check_array, check_number

__all__ = ["Sequential", "Concat", "Residual", "Summary"]


def float_images(x, dtype=None, name="x"):
    """x as a float array (in ``dtype`` when given), or a ValueError for integer images, which
    still need scaling (fit, evaluate and predict all check this here)."""
    x = check_array(x, name)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} has dtype {x.dtype}; scale images to floats first, e.g. "
                         f"{name} = {name}.astype(np.float32) / 255")
    return x if dtype is None else x.astype(dtype, copy=False)


def weights_dtype(model, default=None):
    """The dtype of the model's weights (its first parameter), or ``default`` without any."""
    params = model.parameters()
    return params[0].data.dtype if params else default


class _Composite(Layer):
    """A layer made of named child layers; parameters are the children's, with prefixed names."""

    def __init__(self, children):
        super().__init__()
        for name, child in children:
            if not isinstance(child, Layer):
                raise TypeError(f"{type(self).__name__}: {name} must be a layer (from "
                                f"helpers.layers or helpers.model), got {type(child).__name__}")
        self._children = list(children)   # list of (name, layer)

    def named_children(self):
        return list(self._children)

    # parameters: views onto the children's dicts, keyed "child.name"
    @property
    def params(self):
        return {f"{n}.{k}": v for n, c in self._children for k, v in c.params.items()}

    @property
    def grads(self):
        return {f"{n}.{k}": v for n, c in self._children for k, v in c.grads.items()}

    @grads.setter
    def grads(self, value):       # Layer.__init__ sets grads = {}; children hold the real ones
        pass

    @property
    def buffers(self):
        return {f"{n}.{k}": v for n, c in self._children for k, v in c.buffers.items()}

    @buffers.setter
    def buffers(self, value):
        pass

    def param_shapes(self):
        return {f"{n}.{k}": s for n, c in self._children for k, s in c.param_shapes().items()}

    def count_params(self):
        counts = [c.count_params() for _, c in self._children]
        return sum(t for t, _ in counts), sum(nt for _, nt in counts)

    def parameters(self):
        return [Parameter(p.layer, p.key, f"{n}.{p.name}")
                for n, c in self._children for p in c.parameters()]

    def state_dict(self):
        return {f"{n}.{k}": v for n, c in self._children for k, v in c.state_dict().items()}

    def astype(self, dtype):
        for _, c in self._children:
            c.astype(dtype)
        return self

    @property
    def trainable(self):
        """True if any child is trainable; setting it freezes or unfreezes every child."""
        return any(c.trainable for _, c in self._children) if self._children else True

    @trainable.setter
    def trainable(self, value):
        for _, c in self._children:
            c.trainable = value

    def summary_rows(self, in_shape, depth=0):
        """Rows (name, output shape, parameter count, depth) for summary; children indented."""
        out_shape = self.output_shape(in_shape)
        rows = [(_short_repr(self), out_shape, sum(self.count_params()), depth)]
        rows += self._child_rows(in_shape, depth + 1)
        return rows

    def _child_rows(self, in_shape, depth):
        rows = []
        for name, c in self._children:
            sub = _layer_rows(c, in_shape, depth)
            sub[0] = (f"{name}: {sub[0][0]}", *sub[0][1:])
            rows += sub
        return rows


def _short_repr(layer):
    return type(layer).__name__ if isinstance(layer, _Composite) else repr(layer)


def _layer_rows(layer, in_shape, depth):
    if isinstance(layer, _Composite):
        return layer.summary_rows(in_shape, depth)
    return [(repr(layer), layer.output_shape(in_shape), sum(layer.count_params()), depth)]


class Summary:
    """What ``Sequential.summary`` returns: the table as text and its numbers.

    rows: list of (layer, output_shape, n_params, depth); total_params, trainable_params,
    non_trainable_params: ints; text: the printed table (``str(summary)``).
    """

    def __init__(self, rows, trainable, non_trainable, input_shape):
        self.rows = rows
        self.input_shape = input_shape
        self.trainable_params = trainable
        self.non_trainable_params = non_trainable
        self.total_params = trainable + non_trainable
        self.text = self._table()

    def _table(self):
        names = [("  " * d + (n if d == 0 else "- " + n)) for n, _, _, d in self.rows]
        shapes = [str((None, *s)) for _, s, _, _ in self.rows]
        counts = [f"{p:,}" for _, _, p, _ in self.rows]
        w1 = max([len("Layer (type)"), *map(len, names)]) + 2
        w2 = max([len("Output shape"), *map(len, shapes)]) + 2
        w3 = max([len("Param #"), *map(len, counts)])
        line = "=" * (w1 + w2 + w3)
        out = [f"Input shape: {(None, *self.input_shape)}  (None = batch size; NCHW)",
               f"{'Layer (type)':<{w1}}{'Output shape':<{w2}}{'Param #':>{w3}}", line]
        out += [f"{a:<{w1}}{b:<{w2}}{c:>{w3}}" for a, b, c in zip(names, shapes, counts)]
        out += [line,
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.non_trainable_params:,}"]
        if any(d > 0 for *_, d in self.rows):
            out.append("(indented rows are parts of the layer above; counted once in the totals)")
        return "\n".join(out)

    def __str__(self):
        return self.text

    def __repr__(self):
        return (f"Summary(total_params={self.total_params:,}, trainable_params="
                f"{self.trainable_params:,}, non_trainable_params={self.non_trainable_params:,})")


class Sequential(_Composite):
    """Layers applied one after another: ``Sequential(Conv2D(1, 8, 3), ReLU(), Flatten(), ...)``.

    forward(x, train=True): x: (N, ...) -> output of the last layer (logits (N, K) for a
    classifier). backward(dout, input_grad=None) -> dx, filling each layer's grads.
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        super().__init__([(str(i), layer) for i, layer in enumerate(layers)])
        self.layers = list(layers)

    def forward(self, x, train=True):
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dout, input_grad=None):
        """dout: dL/d(output) -> dx = dL/dx, filling each layer's grads.

        input_grad=False: the caller has no use for dx (``fit``: nobody needs the gradient of
        the images), so the first layer may skip computing it (a convolution saves a third of
        its backward pass) and None may come back. None (default): the model's own
        ``needs_input_grad``, True unless an enclosing model switched it off.
        """
        if input_grad is None:
            input_grad = self.needs_input_grad
        for layer in reversed(self.layers[1:]):
            dout = layer.backward(dout)
        if not self.layers:
            return dout
        with _input_grad(self.layers[0], input_grad) as first:
            return first.backward(dout)

    def output_shape(self, in_shape):
        shape = tuple(in_shape)
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.output_shape(shape)
            except ValueError as e:
                raise ValueError(f"layer {i} ({_short_repr(layer)}) with input shape {shape}: "
                                 f"{e}") from None
        return shape

    def _child_rows(self, in_shape, depth):
        rows, shape = [], tuple(in_shape)
        for i, layer in enumerate(self.layers):     # each layer gets the previous one's output
            sub = _layer_rows(layer, shape, depth)
            sub[0] = (f"{i}: {sub[0][0]}", *sub[0][1:])
            rows += sub
            shape = layer.output_shape(shape)
        return rows

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def _predict_logits(self, x, batch_size):
        x = float_images(x, weights_dtype(self))              # float64 input, float32 model
        if x.ndim == 0 or len(x) == 0:                        # no batches: one empty forward
            return self.forward(x, train=False)
        return np.concatenate([self.forward(x[i:i + batch_size], train=False)
                               for i in range(0, len(x), batch_size)])

    def predict(self, x, batch_size=256):
        """x: (N, ...) -> (N,) predicted class indices (argmax of the logits), eval mode."""
        check_number(batch_size, "batch_size", low=1, integer=True)
        return self._predict_logits(x, batch_size).argmax(axis=1)

    def predict_proba(self, x, batch_size=256):
        """x: (N, ...) -> (N, K) class probabilities (softmax of the logits), eval mode."""
        check_number(batch_size, "batch_size", low=1, integer=True)
        z = self._predict_logits(x, batch_size)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def summary(self, input_shape, print_table=True):
        """Print and return a Keras-style table for inputs of shape ``input_shape`` (no batch
        axis, e.g. (1, 28, 28)). Shapes come from ``output_shape``: no data runs and no
        weights are drawn, so VGG-16 takes a moment, not 0.5 GB.
        Returns a Summary (``.rows``, ``.total_params``, ``.trainable_params``,
        ``.non_trainable_params``, ``.text``).
        """
        input_shape = tuple(input_shape)
        rows, shape = [], input_shape
        for i, layer in enumerate(self.layers):
            try:
                sub = _layer_rows(layer, shape, 0)
                shape = layer.output_shape(shape)
            except ValueError as e:
                raise ValueError(f"layer {i} ({_short_repr(layer)}) with input shape {shape}: "
                                 f"{e}") from None
            rows += sub
        trainable, non_trainable = self.count_params()
        s = Summary(rows, trainable, non_trainable, input_shape)
        if print_table:
            print(s.text)
        return s

    def __repr__(self):
        inner = "".join(f"\n  ({i}): " + repr(layer).replace("\n", "\n  ")
                        for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)" if self.layers else "Sequential()"

    # --- saving ------------------------------------------------------------------------------
    def save(self, path):
        """Save parameters and buffers to ``path`` (.npz, no pickle), with the architecture
        as text (``__architecture__``). Like ``np.savez``, ".npz" is added to a path without
        it. The file is written whole or not at all: first to a temporary file in the same
        folder, which then replaces ``path`` (so a save that fails half-way, a full disk say,
        leaves an earlier file intact). Returns the path written."""
        arrays = {**self.state_dict(), "__architecture__": np.array(repr(self))}
        if hasattr(path, "write"):                       # an open file: write to it directly
            np.savez(path, **arrays)
            return path
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part",
                                   dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)                         # mkstemp's files are private (0600)
            os.replace(tmp, path)                        # atomic: the old file or the new one
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return path

    def load(self, path, strict=True):
        """Load parameters saved by ``save`` into this model, in place (bit-exact).

        The file must come from the same architecture: the same parameter names, shapes and
        dtypes, else ValueError says what differs. With ``strict`` (the default) the layers
        themselves must match too (the architecture text saved with the weights): a model
        that differs only in an activation, a stride or a pooling has the same parameters, but
        the weights would not mean the same there. ``strict=False`` loads them anyway (casting
        to the model's dtypes). Like ``np.savez``, a path without ".npz" gets it added when
        only that file exists. Opened with allow_pickle=False.
        """
        path = os.fspath(path)
        if not path.endswith(".npz") and not os.path.exists(path) and os.path.exists(path + ".npz"):
            path += ".npz"                 # save("model") wrote model.npz, as np.savez does
        saved = _read_saved(path)
        arch = str(saved.pop("__architecture__", "(not recorded)"))
        state = self.state_dict()
        problems = []
        if arch == "(not recorded)":
            problems.append("the file has no __architecture__ entry, so Sequential.save did not "
                            "write it")
        for k in sorted(set(saved) - set(state)):
            problems.append(f"the file has {k!r} {saved[k].shape}, the model has no such parameter")
        for k in sorted(set(state) - set(saved)):
            problems.append(f"the model has {k!r} {state[k].shape}, the file has none")
        for k in sorted(set(state) & set(saved)):
            if saved[k].dtype.kind not in "iuf":
                problems.append(f"{k!r} holds {saved[k].dtype} values in the file, not numbers")
            elif state[k].shape != saved[k].shape:
                problems.append(f"{k!r} is {saved[k].shape} in the file but {state[k].shape} "
                                f"in the model")
            elif strict and state[k].dtype != saved[k].dtype:
                problems.append(f"{k!r} is {saved[k].dtype} in the file but {state[k].dtype} in "
                                f"the model (model.astype(np.{saved[k].dtype}) first, or "
                                f"strict=False to cast)")
        if problems:
            raise ValueError(f"{path}: the saved model does not match this architecture:\n  "
                             + "\n  ".join(problems[:10])
                             + (f"\n  ... and {len(problems) - 10} more"
                                if len(problems) > 10 else "")
                             + f"\nThe file was saved from:\n{arch}")
        if strict and arch != "(not recorded)" and _layers_only(arch) != _layers_only(repr(self)):
            raise ValueError(f"{path}: the parameters fit, but the file was saved from other "
                             f"layers:\n{arch}\nand this model is:\n{self!r}\n"
                             f"Use load(path, strict=False) to load the weights anyway.")
        for k, v in state.items():
            v[...] = saved[k]          # in place: optimizers keep pointing at the same arrays
        return self


def _read_saved(path):
    """{name: array} of a file written by ``Sequential.save``, or a ValueError that names the
    file and what is wrong with it (not an .npz file, damaged, a pickle inside)."""
    what = f"{path} is not a saved model (an .npz file written by Sequential.save)"
    try:
        f = np.load(path, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except ValueError as exc:
        with open(path, "rb") as raw:
            start = raw.read(16)
        if start[:1] == b"\x80":                # numpy says "pickled data" for any other file
            reason = (f"it holds pickled data (it starts with {start!r}); the course never "
                      f"unpickles a file, as that can run any code")
        else:
            reason = f"it is neither an .npz nor an .npy file (it starts with {start!r})"
        raise ValueError(f"{what}: {reason}") from None
    except Exception as exc:          # BadZipFile, EOFError, OSError: a damaged file
        raise ValueError(f"{path} is damaged (truncated or corrupted): it cannot be read as "
                         f"a saved model ({type(exc).__name__}: {exc}); save the model again") \
            from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError(f"{what}: it holds a single array of shape {f.shape} (an .npy file)")
    try:
        with f:
            return {k: f[k] for k in f.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc):
            raise ValueError(f"{path} holds an object array, which only a pickle can read; the "
                             f"course never unpickles a file (that can run any code), and "
                             f"Sequential.save never writes one") from None
        raise ValueError(f"{path} is damaged (truncated or corrupted): {exc}; save the model "
                         f"again") from None
    except Exception as exc:
        raise ValueError(f"{path} is damaged (truncated or corrupted): it cannot be read as "
                         f"a saved model ({type(exc).__name__}: {exc}); save the model again") \
            from None


def _layers_only(architecture):
    """An architecture text without the trainable flags: freezing a layer does not change it."""
    return architecture.replace(", trainable=False", "").replace("(trainable=False)", "()")


class Concat(_Composite):
    """Parallel branches on the same input, outputs joined on the channel axis (Inception).

    x: (N, C, H, W) -> (N, C1 + C2 + ..., OH, OW), where every branch must give the same
    (OH, OW). backward splits dout by channels and adds the branches' dx.
    """

    def __init__(self, *branches):
        if not branches:
            raise ValueError("Concat needs at least one branch")
        super().__init__([(str(i), b) for i, b in enumerate(branches)])
        self.branches = list(branches)

    def _check(self, shapes):
        if any(len(s) != len(shapes[0]) or s[1:] != shapes[0][1:] for s in shapes):
            desc = ", ".join(f"branch {i} gives {s}" for i, s in enumerate(shapes))
            raise ValueError(f"Concat joins branches on the channel axis, so every branch must "
                             f"give the same height and width, but {desc}. Use padding='same' "
                             f"(or the matching padding) and the same stride in every branch")

    def forward(self, x, train=True):
        outs = [b.forward(x, train) for b in self.branches]
        self._check([o.shape[1:] for o in outs])
        self.cache = [o.shape[1] for o in outs]           # channels of each branch
        return np.concatenate(outs, axis=1)

    def backward(self, dout):
        splits = np.cumsum(self.cache)[:-1]
        parts = np.split(dout, splits, axis=1)
        dx = self.branches[0].backward(parts[0])
        for b, d in zip(self.branches[1:], parts[1:]):
            dx = dx + b.backward(d)
        return dx

    def output_shape(self, in_shape):
        shapes = [tuple(b.output_shape(in_shape)) for b in self.branches]
        self._check(shapes)
        return (sum(s[0] for s in shapes), *shapes[0][1:])

    def __repr__(self):
        inner = "".join(f"\n  ({i}): " + repr(b).replace("\n", "\n  ")
                        for i, b in enumerate(self.branches))
        return f"Concat({inner}\n)"


class Residual(_Composite):
    """out = block(x) + shortcut(x); shortcut None means the identity (a ResNet block).

    x: (N, C, H, W) -> block's output shape, which must equal the shortcut's. When the block
    changes channels or size, give a projection: ``shortcut=Conv2D(C, C_out, 1, stride=s)``.
    """

    def __init__(self, block, shortcut=None):
        children = [("block", block)] + ([("shortcut", shortcut)] if shortcut is not None else [])
        super().__init__(children)
        self.block, self.shortcut = block, shortcut

    def _check(self, in_shape, block_shape, short_shape):
        if tuple(block_shape) == tuple(short_shape):
            return
        what = "the identity shortcut" if self.shortcut is None else "the shortcut"
        hint = ""
        if len(block_shape) == 3 and len(in_shape) == 3:
            s = -(-in_shape[1] // block_shape[1]) if block_shape[1] else 1   # ceil: 7 -> 4 is 2
            stride = f", stride={s}" if s > 1 else ""
            hint = (f"; use a projection shortcut: Residual(block, shortcut=Conv2D({in_shape[0]}, "
                    f"{block_shape[0]}, kernel_size=1{stride}))")
        raise ValueError(f"Residual adds block(x) and shortcut(x), so their shapes must match, but "
                         f"the block gives {tuple(block_shape)} and {what} gives "
                         f"{tuple(short_shape)}{hint}")

    def forward(self, x, train=True):
        out = self.block.forward(x, train)
        short = x if self.shortcut is None else self.shortcut.forward(x, train)
        self._check(x.shape[1:], out.shape[1:], short.shape[1:])
        return out + short

    def backward(self, dout):
        dx = self.block.backward(dout)
        return dx + (dout if self.shortcut is None else self.shortcut.backward(dout))

    def output_shape(self, in_shape):
        block_shape = self.block.output_shape(in_shape)
        short_shape = (tuple(in_shape) if self.shortcut is None
                       else self.shortcut.output_shape(in_shape))
        self._check(tuple(in_shape), block_shape, short_shape)
        return tuple(block_shape)

    def __repr__(self):
        s = "Residual(\n  block: " + repr(self.block).replace("\n", "\n  ")
        s += "\n  shortcut: " + ("identity" if self.shortcut is None
                                 else repr(self.shortcut).replace("\n", "\n  "))
        return s + "\n)"
