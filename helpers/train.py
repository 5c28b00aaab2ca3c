"""The training loop: ``fit`` (mini-batch gradient descent with a progress bar) and ``evaluate``.

One step of training is four lines, the same in every framework:

    logits = model.forward(xb, train=True)     # (B, K)
    batch_loss = loss.forward(logits, yb)      # a number
    model.backward(loss.backward())            # fills every layer's grads
    optimizer.step()                           # updates the weights

``fit`` repeats it over shuffled mini-batches for some epochs and records a History.
"""

import time

import numpy as np
from tqdm.auto import tqdm

from helpers.fast.tuning import for_training
from helpers.layers import input_grad, sublayers
from helpers.model import float_images, weights_dtype

__all__ = ["History", "fit", "evaluate"]


class History:
    """Per-epoch numbers recorded by ``fit``: lists with one entry per epoch.

    loss, acc: training loss and accuracy, averaged over the epoch's mini-batches (measured
    while the weights were changing, as Keras reports them); val_loss, val_acc: on the
    validation set after the epoch (empty lists without validation); seconds: wall time of
    each epoch, validation included.
    """

    keys = ("loss", "acc", "val_loss", "val_acc", "seconds")

    def __init__(self):
        self.loss, self.acc, self.val_loss, self.val_acc, self.seconds = [], [], [], [], []

    def __len__(self):
        return len(self.loss)

    def as_dict(self):
        """{'loss': [...], 'acc': [...], ...} (copies of the lists)."""
        return {k: list(getattr(self, k)) for k in self.keys}

    def __repr__(self):
        lines = ["epoch      loss    acc   val_loss  val_acc  seconds"]
        for i in range(len(self)):
            vl = f"{self.val_loss[i]:9.4f}" if i < len(self.val_loss) else "        -"
            va = f"{self.val_acc[i]:8.4f}" if i < len(self.val_acc) else "       -"
            lines.append(f"{i + 1:5d}  {self.loss[i]:8.4f}  {self.acc[i]:.4f}  {vl}  {va}"
                         f"  {self.seconds[i]:7.2f}")
        return "History(\n" + "\n".join(lines) + "\n)"


def _check_data(model, x, y, name="x", yname="y"):
    """Validate (x, y) against each other and the model; returns x in the model's dtype."""
    x, y = float_images(x, name=name), np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{yname} must be integer class labels of shape (N,), got shape {y.shape} "
                         f"and dtype {y.dtype}" + ("; for one-hot rows use y.argmax(axis=1)"
                                                   if y.ndim == 2 else ""))
    if len(x) != len(y):
        raise ValueError(f"label and batch sizes do not match: {name} has {len(x)} examples but "
                         f"{yname} has {len(y)} labels")
    out_shape = model.output_shape(x.shape[1:])          # also checks the architecture fits x
    if len(out_shape) == 1 and len(y):
        k = out_shape[0]
        if y.min() < 0 or y.max() >= k:
            bad = y.min() if y.min() < 0 else y.max()
            raise ValueError(f"labels must be in [0, {k - 1}] for a model with {k} outputs, but "
                             f"{yname} contains {bad}")
    # the whole set is converted once to the weights' dtype (float32), never per batch
    return x.astype(weights_dtype(model, np.dtype(np.float32)), copy=False), y


def _batches(n, batch_size):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return range(0, n, batch_size)


def evaluate(model, loss, x, y, batch_size=256):
    """Mean loss and accuracy of ``model`` on (x, y), in evaluation mode (train=False).

    x: (N, ...) floats, y: (N,) integer labels -> (loss: float, acc: float in [0, 1]).
    """
    x, y = _check_data(model, x, y)
    total, correct = 0.0, 0
    for i in _batches(len(x), batch_size):
        logits = model.forward(x[i:i + batch_size], train=False)
        yb = y[i:i + batch_size]
        total += loss.forward(logits, yb) * len(yb)
        correct += int((logits.argmax(axis=1) == yb).sum())
    n = max(len(x), 1)
    return total / n, correct / n


def _reseed(model, seeds):
    """Give every random layer in ``model`` (composites searched depth first) its own
    generator, spawned from the SeedSequence ``seeds``: without it, a Dropout would go on from
    wherever its generator stood, and two runs of fit with one seed would differ."""
    for layer in sublayers(model):
        if hasattr(layer, "reseed"):
            layer.reseed(seeds.spawn(1)[0])


def fit(model, loss, optimizer, x, y, epochs=1, batch_size=64, validation=None, seed=0,
        progress=True, callback=None, tune=True):
    """Train ``model`` with mini-batches; returns a History (per-epoch loss, acc, val_loss,
    val_acc, seconds).

    x: (N, ...) floats (e.g. (N, 1, 28, 28) float32 in [0, 1]), y: (N,) integer labels.
    loss: e.g. SoftmaxCrossEntropy(); optimizer: e.g. Adam(model.parameters(), lr=1e-3).
    validation: (x_val, y_val) evaluated after every epoch, or None.
    seed: seeds the shuffling and every random layer (each Dropout gets a fresh generator
    from it), so the same model, data and seed give bit-identical numbers.
    progress: show a tqdm progress bar per epoch (a widget in JupyterLab, text elsewhere).
    callback: called as ``callback(epoch, history)`` after each epoch (epoch = 1, 2, ...), e.g.
    to redraw live curves.
    tune: while fit runs, tune the process for training (``helpers.fast.tuning.for_training``):
    the BLAS is held to one thread, as the engine shares the two cores itself, and the C
    allocator keeps freed memory for reuse; both are undone when fit returns. tune=False
    leaves the process as it is.
    """
    x, y = _check_data(model, x, y)
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise ValueError(f"validation must be a pair (x_val, y_val) or None, got "
                             f"{type(validation).__name__}"
                             + (f" of length {len(validation)}"
                                if isinstance(validation, (tuple, list)) else ""))
        xv, yv = _check_data(model, *validation, name="x_val", yname="y_val")
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    n = len(x)
    batch_starts = _batches(n, batch_size)
    rng = np.random.default_rng(seed)
    _reseed(model, np.random.SeedSequence(seed))
    history = History()
    # one buffer for the mini-batches, filled in place every step (no new array per batch)
    x_batch = np.empty((min(batch_size, n), *x.shape[1:]), dtype=x.dtype)
    update_every = max(1, len(batch_starts) // 50)          # progress text ~50 times an epoch

    with for_training(tune):            # helpers/fast/README.md, ideas 6 and 10
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(n)
            total, correct, seen = 0.0, 0, 0
            bar = tqdm(total=n, desc=f"epoch {epoch}/{epochs}", unit="img", disable=not progress,
                       leave=True, dynamic_ncols=True)
            for step, i in enumerate(batch_starts):
                idx = order[i:i + batch_size]
                xb = np.take(x, idx, axis=0, out=x_batch[:len(idx)])
                yb = y[idx]

                logits = model.forward(xb, train=True)
                batch_loss = loss.forward(logits, yb)
                with input_grad(model, False):     # nobody needs the gradient of the images
                    model.backward(loss.backward())
                optimizer.step()

                total += batch_loss * len(idx)
                correct += int((logits.argmax(axis=1) == yb).sum())
                seen += len(idx)
                bar.update(len(idx))
                if step % update_every == 0:
                    bar.set_postfix(loss=f"{total / seen:.4f}", acc=f"{correct / seen:.4f}",
                                    refresh=False)
            history.loss.append(total / max(seen, 1))
            history.acc.append(correct / max(seen, 1))
            post = {"loss": f"{history.loss[-1]:.4f}", "acc": f"{history.acc[-1]:.4f}"}
            if validation is not None:
                vl, va = evaluate(model, loss, xv, yv, batch_size=max(256, batch_size))
                history.val_loss.append(vl)
                history.val_acc.append(va)
                post.update(val_loss=f"{vl:.4f}", val_acc=f"{va:.4f}")
            history.seconds.append(time.perf_counter() - start)
            bar.set_postfix(post)
            bar.close()
            if callback is not None:
                callback(epoch, history)
    return history
