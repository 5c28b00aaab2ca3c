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

__all__ = ["History", "fit", "evaluate", "validation_subset"]


class History:
    """The numbers recorded by ``fit``.

    Per epoch (lists with one entry per epoch): loss, acc: training loss and accuracy, averaged
    over the epoch's mini-batches (measured while the weights were changing, as Keras reports
    them); val_loss, val_acc: on the whole validation set after the epoch (empty lists without
    validation); seconds: wall time of each epoch, validation included.

    Within epochs, only with ``fit(log_every=...)``: ``blocks``, one record (a dict) for each
    block of ``log_every`` steps, in order, e.g.
    ``{"step": 172, "epoch": 0.1, "loss": 0.61, "acc": 0.78, "val_loss": 0.55, "val_acc": 0.80}``.
    step: mini-batches done since fit started; epoch: epochs done at the block's end, as a
    fraction (1.25 = a quarter into the second epoch); loss, acc: means over the block's images
    (the running training numbers); val_loss, val_acc: on the fixed validation subset, after
    every ``val_every``-th block of an epoch, else None. The last block of an epoch may be
    shorter: it ends with the epoch.
    """

    keys = ("loss", "acc", "val_loss", "val_acc", "seconds")

    def __init__(self):
        self.loss, self.acc, self.val_loss, self.val_acc, self.seconds = [], [], [], [], []
        self.blocks = []

    def __len__(self):
        return len(self.loss)

    def as_dict(self):
        """{'loss': [...], 'acc': [...], ..., 'blocks': [{...}, ...]} (copies)."""
        return {**{k: list(getattr(self, k)) for k in self.keys},
                "blocks": [dict(b) for b in self.blocks]}

    def __repr__(self):
        lines = ["epoch      loss    acc   val_loss  val_acc  seconds"]
        for i in range(len(self)):
            vl = f"{self.val_loss[i]:9.4f}" if i < len(self.val_loss) else "        -"
            va = f"{self.val_acc[i]:8.4f}" if i < len(self.val_acc) else "       -"
            lines.append(f"{i + 1:5d}  {self.loss[i]:8.4f}  {self.acc[i]:.4f}  {vl}  {va}"
                         f"  {self.seconds[i]:7.2f}")
        if self.blocks:
            lines.append(f"(and {len(self.blocks)} block records in .blocks)")
        return "History(\n" + "\n".join(lines) + "\n)"


def _check_data(model, x, y, name="x", yname="y"):
    """Validate (x, y) against each other and the model; returns x in the model's dtype."""
    x = float_images(x, name=name)
    try:
        y = np.asarray(y)
    except ValueError:
        raise ValueError(f"{yname} must be integer class labels of shape (N,); the nested lists "
                         f"have different lengths") from None
    if x.ndim < 1:
        raise ValueError(f"{name} must be a batch (N, ...) of examples, got a 0-d array")
    if y.ndim != 1 or y.dtype.kind not in "iu":           # not bool, not timedelta
        raise ValueError(f"{yname} must be integer class labels of shape (N,), got shape {y.shape} "
                         f"and dtype {y.dtype}" + ("; for one-hot rows use y.argmax(axis=1)"
                                                   if y.ndim == 2 else ""))
    if len(x) != len(y):
        raise ValueError(f"label and batch sizes do not match: {name} has {len(x)} examples but "
                         f"{yname} has {len(y)} labels")
    try:
        out_shape = model.output_shape(x.shape[1:])      # also checks the architecture fits x
    except ValueError as exc:
        raise ValueError(f"{name} of shape {x.shape} does not fit the model: {exc}") from None
    if len(out_shape) == 1 and len(y):
        k = out_shape[0]
        if y.min() < 0 or y.max() >= k:
            bad = y.min() if y.min() < 0 else y.max()
            raise ValueError(f"labels must be in [0, {k - 1}] for a model with {k} outputs, but "
                             f"{yname} contains {bad}")
    # the whole set is converted once to the weights' dtype (float32), never per batch
    return x.astype(weights_dtype(model, np.dtype(np.float32)), copy=False), y


def _batches(n, batch_size):
    if (not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool)
            or batch_size < 1):
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


def _positive_int_or_none(value, name):
    if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
                              or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


def validation_subset(n_val, size):
    """Indices of the fixed validation subset that ``fit(log_every=...)`` evaluates within
    epochs: ``size`` images spread evenly over the n_val validation images (every
    (n_val / size)-th one), the same ones every time; all of them when size is None or
    >= n_val. -> (k,) int indices, increasing."""
    k = n_val if size is None else min(size, n_val)
    return np.arange(k) * n_val // max(k, 1)


def fit(model, loss, optimizer, x, y, epochs=1, batch_size=64, validation=None, seed=0,
        progress=True, callback=None, tune=True, log_every=None, on_block=None, val_every=5,
        val_subset=1000):
    """Train ``model`` with mini-batches; returns a History (per-epoch loss, acc, val_loss,
    val_acc, seconds, and with log_every the block records ``blocks``).

    x: (N, ...) floats (e.g. (N, 1, 28, 28) float32 in [0, 1]), y: (N,) integer labels.
    loss: e.g. SoftmaxCrossEntropy(); optimizer: e.g. Adam(model.parameters(), lr=1e-3).
    validation: (x_val, y_val) evaluated after every epoch, or None.
    seed: seeds the shuffling and every random layer (each Dropout gets a fresh generator
    from it), so the same model, data and seed give bit-identical numbers.
    progress: show a tqdm progress bar per epoch (a widget in JupyterLab, text elsewhere).
    callback: called as ``callback(epoch, history)`` after each epoch (epoch = 1, 2, ...), e.g.
    to change the learning rate or redraw curves.
    tune: while fit runs, tune the process for training (``helpers.fast.tuning.for_training``):
    the BLAS is held to one thread, as the engine shares the two cores itself, and the C
    allocator keeps freed memory for reuse; both are undone when fit returns. tune=False
    leaves the process as it is.

    Progress within an epoch (for live curves), all off while log_every is None:
    log_every: every ``log_every`` steps (mini-batches), append a record to ``history.blocks``:
    the mean loss and accuracy over that block's images, and the fractional epoch where it ends
    (see History). ``log_every = steps_per_epoch // 20`` gives at least 20 records an epoch,
    with steps_per_epoch = ceil(N / batch_size). Recording only reads numbers that training
    computes anyway: it costs next to nothing, and with the same seed every per-epoch number is
    bit-identical with or without it.
    val_every, val_subset: with a validation set, after every ``val_every``-th block of each
    epoch the model is also evaluated on a fixed subset of ``val_subset`` validation images
    (``validation_subset``: spread evenly, the same images every time, so the points compare);
    val_every=None skips it, val_subset=None uses the whole validation set. That is
    ``epochs * floor(blocks_per_epoch / val_every)`` evaluations, blocks_per_epoch =
    ceil(steps_per_epoch / log_every). Why a subset: evaluating an image (forward only) costs
    about a quarter of training on it (forward, backward, update; 0.057 vs 0.24 ms an image for
    lesson 12's SimpleConvNet, measured on a 2-core machine). The whole 5,000-image validation
    set 20 times an epoch of 55,000 images would add about 45 % to every epoch; 1,000 images 4
    times an epoch (20 blocks, val_every=5) add about 2 %. The price is noise: on 1,000 images an
    accuracy near 90 % is known to about +-1 % (one standard error, sqrt(0.9 * 0.1 / 1000)).
    The full validation set after each epoch is unchanged (``history.val_loss``).
    on_block: called as ``on_block(history)`` after each block is recorded; the new record is
    ``history.blocks[-1]``. At an epoch's end it is called after the epoch's numbers (and the
    full validation) are recorded too, just before ``callback``. E.g.
    ``on_block=plots.LiveCurves(epochs)``. Its time counts in ``seconds`` (but not at an
    epoch's end, like ``callback``).
    """
    x, y = _check_data(model, x, y)
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise ValueError(f"validation must be a pair (x_val, y_val) or None, got "
                             f"{type(validation).__name__}"
                             + (f" of length {len(validation)}"
                                if isinstance(validation, (tuple, list)) else ""))
        xv, yv = _check_data(model, *validation, name="x_val", yname="y_val")
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    for value, name in ((log_every, "log_every"), (val_every, "val_every"),
                        (val_subset, "val_subset")):
        _positive_int_or_none(value, name)
    n = len(x)
    batch_starts = _batches(n, batch_size)
    rng = np.random.default_rng(seed)
    _reseed(model, np.random.SeedSequence(seed))
    history = History()
    # one buffer for the mini-batches, filled in place every step (no new array per batch)
    x_batch = np.empty((min(batch_size, n), *x.shape[1:]), dtype=x.dtype)
    update_every = max(1, len(batch_starts) // 50)          # progress text ~50 times an epoch
    check_subset = log_every is not None and validation is not None and val_every is not None
    if check_subset:                    # picked once: the same images at every check
        pick = validation_subset(len(xv), val_subset)
        x_sub, y_sub = xv[pick], yv[pick]
    eval_batch = max(256, batch_size)

    with for_training(tune):            # helpers/fast/README.md, ideas 6 and 10
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(n)
            total, correct, seen = 0.0, 0, 0
            # the current block: its summed loss, correct answers, images and steps
            b_total, b_correct, b_seen, b_steps, block = 0.0, 0, 0, 0, 0
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

                right = int((logits.argmax(axis=1) == yb).sum())
                total += batch_loss * len(idx)
                correct += right
                seen += len(idx)
                bar.update(len(idx))
                if step % update_every == 0:
                    bar.set_postfix(loss=f"{total / seen:.4f}", acc=f"{correct / seen:.4f}",
                                    refresh=False)
                if log_every is None:
                    continue
                b_total += batch_loss * len(idx)
                b_correct += right
                b_seen += len(idx)
                b_steps += 1
                last = step == len(batch_starts) - 1
                if b_steps == log_every or last:          # the block ends: record it
                    block += 1
                    record = {"step": (epoch - 1) * len(batch_starts) + step + 1,
                              "epoch": (epoch - 1) + seen / n,
                              "loss": b_total / b_seen, "acc": b_correct / b_seen,
                              "val_loss": None, "val_acc": None}
                    if check_subset and block % val_every == 0:
                        record["val_loss"], record["val_acc"] = evaluate(
                            model, loss, x_sub, y_sub, batch_size=eval_batch)
                    history.blocks.append(record)
                    b_total, b_correct, b_seen, b_steps = 0.0, 0, 0, 0
                    if on_block is not None and not last:     # the last waits for the epoch
                        on_block(history)
            history.loss.append(total / max(seen, 1))
            history.acc.append(correct / max(seen, 1))
            post = {"loss": f"{history.loss[-1]:.4f}", "acc": f"{history.acc[-1]:.4f}"}
            if validation is not None:
                vl, va = evaluate(model, loss, xv, yv, batch_size=eval_batch)
                history.val_loss.append(vl)
                history.val_acc.append(va)
                post.update(val_loss=f"{vl:.4f}", val_acc=f"{va:.4f}")
            history.seconds.append(time.perf_counter() - start)
            bar.set_postfix(post)
            bar.close()
            if on_block is not None and block:
                on_block(history)
            if callback is not None:
                callback(epoch, history)
    return history
