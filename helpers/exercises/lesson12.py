"""Lesson 12 (training a CNN on Fashion-MNIST): the shared network and data, and two exercises.

Shared by lessons 12 and 14, so that both build exactly the same network:

- ``prepare_data()``: Fashion-MNIST as float32 (N, 1, 28, 28), standardised with the training
  images' mean and standard deviation, with a validation split held out of the training set;
- ``simple_convnet()``: SimpleConvNet of "Deep Learning from Scratch" (conv 30@5x5, ReLU,
  2x2 max pool, Dense 100, ReLU, Dense 10; softmax lives in the loss);
- ``mlp()``: the dense baseline;
- ``train_simple_convnet()``: Adam with a learning rate that shrinks after every epoch;
- ``load_or_train()``: the weights lesson 12 saved under ``data/weights/``, or a fresh training
  run when they are missing (lesson 14 then runs on its own).

Exercises: ``check_param_count`` (SimpleConvNet's parameters, layer by layer) and
``check_accuracy`` (write the accuracy function).
The loss and the optimizers (lesson 11) and dropout and batch normalisation (lesson 13) have
their own modules, ``lesson11`` and ``lesson13``.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import data as _data
from helpers.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, SoftmaxCrossEntropy
from helpers.model import Sequential

from . import Feedback, call_learner, correct, is_unfinished, not_done, register_solution, wrong

# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------

#: Where trained weights go (gitignored); lesson 14 reads them from here.
WEIGHTS_DIR = _data.DATA_DIR / "weights"
WEIGHTS_PATH = WEIGHTS_DIR / "simple_convnet_fashion.npz"
#: How many training images are held out for validation (the test set is never looked at
#: while choosing anything).
N_VAL = 5000


@dataclass
class FashionData:
    """Fashion-MNIST ready for a network. x_*: float32 (N, 1, 28, 28), standardised; y_*:
    int64 (N,). mean, std: the training pixels' statistics (on the 0..1 scale) used to
    standardise every split; raw_test: the uint8 test images (N, 28, 28) for display."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: float
    std: float
    class_names: tuple
    raw_test: np.ndarray

    def to_pixels(self, x):
        """Undo the standardisation: x (..., H, W) -> values on the 0..1 scale, for display."""
        return np.asarray(x) * self.std + self.mean


def prepare_data(n_val=N_VAL, seed=0, loaded=None):
    """Load Fashion-MNIST and make it ready to train on.

    The 60,000 training images are shuffled (seeded) and split into 60,000 - n_val for learning
    and n_val for validation; the 10,000 test images stay untouched until the end. Pixels are
    scaled to 0..1, then standardised: (x - mean) / std with the *training* split's mean and
    standard deviation (about 0.286 and 0.353), so the inputs are centred on 0 with spread 1.
    loaded: what ``load_fashion_mnist()`` returned, if you have it already (saves reading the
    files twice). Returns a :class:`FashionData`.
    """
    (x_tr, y_tr), (x_te, y_te), names = _data.load_fashion_mnist() if loaded is None else loaded
    order = np.random.default_rng(seed).permutation(len(x_tr))
    tr, va = order[n_val:], order[:n_val]
    x_tr01 = x_tr.astype(np.float32) / 255.0
    mean = float(x_tr01[tr].mean())
    std = float(x_tr01[tr].std())

    def prep(images01):
        return ((images01 - np.float32(mean)) / np.float32(std))[:, None].astype(np.float32)

    return FashionData(prep(x_tr01[tr]), y_tr[tr], prep(x_tr01[va]), y_tr[va],
                       prep(x_te.astype(np.float32) / 255.0), y_te, mean, std, tuple(names), x_te)


# ---------------------------------------------------------------------------------------------
# The networks
# ---------------------------------------------------------------------------------------------

def simple_convnet(filters=30, kernel_size=5, hidden=100, n_classes=10, seed=0, conv_std=0.01):
    """SimpleConvNet (Deep Learning from Scratch, ch. 7) for (1, 28, 28) inputs.

    Conv2D(1, 30, 5) -> ReLU -> MaxPool2D(2) -> Flatten -> Dense(30*12*12 = 4320, 100) -> ReLU
    -> Dense(100, 10). Softmax is applied by the loss (SoftmaxCrossEntropy) and by
    ``predict_proba``. 433,890 parameters with the defaults.

    Initialisation: the filters start small, normal with standard deviation ``conv_std`` (0.01,
    as in the book), the Dense layers with He's sqrt(2 / fan_in). With a small start, whatever
    structure the filters show after training, training put it there (lesson 14); it also
    trained a little better than He's larger start for the filters (91.1 % against 90.5 % test
    accuracy after 4 epochs). conv_std=None keeps He for the filters too. seed: the same seed
    always gives the same untrained network.
    """
    rng = np.random.default_rng(seed)
    side = (28 - kernel_size + 1) // 2                   # after the "valid" conv and the 2x2 pool
    conv = Conv2D(1, filters, kernel_size, rng=rng)
    if conv_std is not None:                             # rescale He's draw: std sqrt(2/25) -> conv_std
        conv.params["W"] *= np.float32(conv_std / math.sqrt(2.0 / (kernel_size * kernel_size)))
    return Sequential(
        conv, ReLU(), MaxPool2D(2),
        Flatten(), Dense(filters * side * side, hidden, rng=rng), ReLU(),
        Dense(hidden, n_classes, rng=rng))


def mlp(hidden=550, n_classes=10, seed=0):
    """The dense baseline: Flatten -> Dense(784, hidden) -> ReLU -> Dense(hidden, 10).

    With hidden=550 it has 437,260 parameters, about as many as SimpleConvNet (433,890), so the
    comparison is about *how* the parameters are used, not how many there are.
    """
    rng = np.random.default_rng(seed)
    return Sequential(Flatten(), Dense(28 * 28, hidden, rng=rng), ReLU(), Dense(hidden, n_classes, rng=rng))


#: The training recipe of lesson 12: Adam, batches of 32, learning rate 0.001 multiplied by 0.6
#: after every epoch, 4 epochs. Measured with seed 0 (filters starting at std 0.01): validation
#: accuracy 91.6 %, test accuracy 91.1 %. Alternatives compared on the validation split after
#: 4 epochs: He's larger start for the filters 90.9 %; batches of 64 at lr 0.002, halved, 91.1 %.
RECIPE = {"epochs": 4, "batch_size": 32, "lr": 1e-3, "decay": 0.6, "seed": 0}


def step_decay_callback(optimizer, lr, decay=0.6, then=None):
    """A ``fit`` callback that sets ``optimizer.lr = lr * decay**epoch`` after each epoch
    (a step schedule: big steps first, finer ones later), then calls ``then(epoch, history)``."""
    def callback(epoch, history):
        optimizer.lr = lr * decay ** epoch
        if then is not None:
            then(epoch, history)
    return callback


def train_simple_convnet(data, epochs=None, batch_size=None, lr=None, decay=None, seed=None,
                         model=None, progress=True, callback=None, log_every=None, on_block=None):
    """Train SimpleConvNet on ``data`` (a FashionData) with Adam; returns (model, history).

    Defaults come from ``RECIPE``. The learning rate starts at ``lr`` and is multiplied by
    ``decay`` after every epoch. callback(epoch, history) runs after each epoch (e.g. live
    curves). model: continue training this one instead of a fresh ``simple_convnet(seed)``.
    log_every, on_block: passed to ``fit`` (a record every log_every steps, e.g. live curves
    that move within an epoch).
    """
    from helpers.optim import Adam
    from helpers.train import fit

    r = dict(RECIPE)
    r.update({k: v for k, v in dict(epochs=epochs, batch_size=batch_size, lr=lr, decay=decay,
                                    seed=seed).items() if v is not None})
    model = simple_convnet(seed=r["seed"]) if model is None else model
    opt = Adam(model.parameters(), lr=r["lr"])
    history = fit(model, SoftmaxCrossEntropy(), opt, data.x_train, data.y_train,
                  epochs=r["epochs"], batch_size=r["batch_size"],
                  validation=(data.x_val, data.y_val), seed=r["seed"], progress=progress,
                  callback=step_decay_callback(opt, r["lr"], r["decay"], then=callback),
                  log_every=log_every, on_block=on_block)
    return model, history


def load_or_train(data, path=None, progress=True, save=True):
    """SimpleConvNet with the weights lesson 12 saved, or trained now if the file is missing.

    Returns (model, info): info is a dict with ``trained`` (True when it trained here),
    ``seconds`` (time spent training or loading) and ``path``. A file that does not fit the
    architecture (ValueError from ``Sequential.load``) is reported and replaced.
    """
    path = Path(path) if path is not None else WEIGHTS_PATH
    t0 = time.perf_counter()
    model = simple_convnet()
    if path.exists():
        try:
            model.load(path)
            return model, {"trained": False, "seconds": time.perf_counter() - t0, "path": path}
        except (ValueError, OSError) as exc:
            print(f"Could not use {path.name} ({exc}); training a new network instead.")
            model = simple_convnet()
    model, _ = train_simple_convnet(data, progress=progress)
    if save:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    return model, {"trained": True, "seconds": time.perf_counter() - t0, "path": path}


# ---------------------------------------------------------------------------------------------
# Exercise 1: count SimpleConvNet's parameters
# ---------------------------------------------------------------------------------------------

PARAM_KEYS = ("conv", "hidden", "output")
EXPECTED_PARAMS = {"conv": 30 * 1 * 5 * 5 + 30, "hidden": 4320 * 100 + 100, "output": 100 * 10 + 10}


@register_solution("param_count")
def param_count_solution():
    conv = 30 * (1 * 5 * 5) + 30          # 30 filters of 1 x 5 x 5 weights, one bias each: 780
    side = (28 - 5 + 1) // 2              # 24 x 24 after the conv, 12 x 12 after the 2x2 pool
    hidden = (30 * side * side) * 100 + 100   # 4320 inputs x 100 units + 100 biases: 432,100
    output = 100 * 10 + 10                # 1,010
    return {"conv": conv, "hidden": hidden, "output": output}


def _param_hint(key, got):
    if key == "conv":
        if got == 30 * 25:
            return "750 counts the weights (30 filters x 5 x 5); each filter also has one bias."
        if got == 25 + 1 or got == 25:
            return "that is one filter; the layer has 30 of them, each 1 x 5 x 5 with one bias."
        if got == 30 * 3 * 25 + 30:
            return "Fashion-MNIST images have 1 channel (grey), not 3, so each filter is 1 x 5 x 5."
        if got == 30 * 24 * 24:
            return ("30 x 24 x 24 is the size of the output feature maps, not of the weights: "
                    "the same 5 x 5 filter slides over every position (weight sharing).")
        return "count 30 filters, each 1 channel x 5 x 5 weights, plus one bias per filter."
    if key == "hidden":
        if got == 4320 * 100:
            return "432,000 are the weights; the 100 units also have one bias each."
        if got == 30 * 24 * 24 * 100 + 100:
            return ("you used the 24 x 24 maps of the conv layer; the 2x2 max pool halves them "
                    "to 12 x 12 before Flatten, so Dense sees 30 x 12 x 12 = 4320 inputs.")
        if got == 30 * 14 * 14 * 100 + 100:
            return ("14 x 14 would need 'same' padding (28 / 2); SimpleConvNet's conv has no "
                    "padding, so 28 - 5 + 1 = 24, pooled to 12.")
        if got == 784 * 100 + 100:
            return ("784 inputs would be the raw image; this Dense layer comes after the conv "
                    "and the pool, so it sees 30 channels x 12 x 12 = 4320 values.")
        if got == 12 * 12 * 100 + 100:
            return "Flatten keeps all 30 channels: 30 x 12 x 12 = 4320 inputs, not 144."
        return ("Dense(in, out) has in x out weights and out biases; in = 30 channels x 12 x 12 "
                "after the pool.")
    if got == 100 * 10:
        return "1,000 are the weights; the 10 output units also have a bias each."
    return "Dense(100, 10): 100 x 10 weights and 10 biases. Softmax has no parameters."


def check_param_count(answer) -> Feedback:
    """answer: {"conv": int, "hidden": int, "output": int}, the parameters of SimpleConvNet's
    three layers that have any (weights and biases)."""
    if is_unfinished(answer):
        return not_done("give a dict with the counts of 'conv', 'hidden' and 'output'.")
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        total = sum(EXPECTED_PARAMS.values())
        if answer == total:
            return correct(f"{total:,} parameters in all. (The exercise asks for the three layers "
                           f"separately too, to see where they sit.)")
        return wrong(f"a single number ({answer:,}); give a dict with 'conv', 'hidden' and 'output' "
                     f"so that the checker can tell which layer is off.")
    if not isinstance(answer, dict):
        return wrong(f"answer must be a dict like {{'conv': ..., 'hidden': ..., 'output': ...}}, "
                     f"got {type(answer).__name__}.")
    missing = [k for k in PARAM_KEYS if k not in answer]
    if missing:
        return wrong(f"the dict needs the keys 'conv', 'hidden' and 'output'; missing: {', '.join(missing)}.")
    unfinished = [k for k in PARAM_KEYS if is_unfinished(answer[k])]
    if len(unfinished) == len(PARAM_KEYS):
        return not_done("replace each None with a number of parameters.")
    problems = []
    for k in PARAM_KEYS:
        got = answer[k]
        if is_unfinished(got):
            problems.append(f"'{k}' is still None.")
            continue
        try:
            got_int = int(got)
        except (TypeError, ValueError, OverflowError):
            problems.append(f"'{k}' must be a whole number, got {got!r}.")
            continue
        if got_int != got:
            problems.append(f"'{k}' must be a whole number, got {got!r}.")
        elif got_int != EXPECTED_PARAMS[k]:
            problems.append(f"'{k}' = {got_int:,}: {_param_hint(k, got_int)}")
    if problems:
        return wrong("\n".join(problems))
    c, h, o = (EXPECTED_PARAMS[k] for k in PARAM_KEYS)
    return correct(f"conv {c:,} + hidden {h:,} + output {o:,} = {c + h + o:,} parameters. "
                   f"The convolution, the part that looks at the image, holds only "
                   f"{c / (c + h + o):.2%} of them; the Dense layer after the pool holds "
                   f"{h / (c + h + o):.1%}.")


# ---------------------------------------------------------------------------------------------
# Exercise 2: the accuracy function
# ---------------------------------------------------------------------------------------------

@register_solution("accuracy")
def accuracy_solution(scores, y):
    predicted = np.argmax(scores, axis=1)      # one class per row (per image)
    return float(np.mean(predicted == y))       # fraction of rows where it matches the label


def _accuracy_cases():
    rng = np.random.default_rng(7)
    cases = []
    # 1. a tiny hand example, square so that argmax along the wrong axis still runs: 3 of 4 right
    s = np.array([[2.0, 1.0, 0.1, 0.0], [0.2, 0.1, 3.0, 0.4], [0.5, 2.5, 0.1, 0.3],
                  [1.0, 0.0, 0.5, 0.2]])
    cases.append(("4 images, 4 classes (3 right)", s, np.array([0, 2, 1, 2])))
    # 2. more images than classes, logits with negative values: 9 of 12 right
    s = rng.normal(size=(12, 5)) * 3
    y = s.argmax(axis=1).copy()
    y[[1, 4, 7]] = (y[[1, 4, 7]] + 1) % 5
    cases.append(("12 images, 5 classes, logits (9 right)", s, y))
    # 3. fewer images than classes: 2 of 3 right
    s = rng.normal(size=(3, 10))
    y = s.argmax(axis=1).copy()
    y[0] = (y[0] + 3) % 10
    cases.append(("3 images, 10 classes (2 right)", s, y))
    # 4. probabilities (rows sum to 1): 4 of 8 right
    s = rng.dirichlet(np.ones(4), size=8)
    y = s.argmax(axis=1).copy()
    y[::2] = (y[::2] + 1) % 4
    cases.append(("8 images, probabilities (4 right)", s, y))
    return cases


def _short(value, limit=40):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_accuracy(fn) -> Feedback:
    """fn(scores, y) -> float: scores (N, K) logits or probabilities, y (N,) integer labels;
    the fraction of rows whose largest score is at the label (0.0 to 1.0)."""
    if is_unfinished(fn):
        return not_done()
    for name, s, y in _accuracy_cases():
        got, fb = call_learner(fn, s.copy(), y.copy())
        if fb is not None:
            if fb.done and "broadcast" in fb.message:
                return wrong(f"for {name} your function raised an error comparing arrays of "
                             f"different lengths ({fb.message}). Did argmax run down the columns "
                             f"(axis=0)? Each row is one image: np.argmax(scores, axis=1) gives one "
                             f"class per image, the same length as y.")
            return fb
        expected = accuracy_solution(s, y)
        if is_unfinished(got):
            return not_done("your function returned None; end it with return and the accuracy.")
        try:
            if isinstance(got, (str, bytes, dict)) or callable(got) or np.iscomplexobj(got):
                raise TypeError
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return wrong(f"for {name} you returned {type(got).__name__} {_short(got)}; return a "
                         f"number between 0 and 1.")
        if arr.size != 1:
            if arr.shape == y.shape:
                return wrong(f"for {name} you returned an array of shape {arr.shape} (one value per "
                             f"image); average it into one number, e.g. np.mean(predicted == y).")
            return wrong(f"for {name} you returned shape {arr.shape}; return one number.")
        try:
            value = float(arr.reshape(()))
        except (TypeError, ValueError):
            return wrong(f"for {name} you returned {got!r}; return a number between 0 and 1.")
        if np.isclose(value, expected):
            continue
        if np.isclose(value, 100 * expected):
            return wrong(f"for {name} you returned {value:g}, a percentage; return the fraction "
                         f"{expected:g} (format it as a percentage only when printing).")
        if np.isclose(value, expected * len(y)):
            return wrong(f"for {name} you returned {value:g}, the number of right answers; divide "
                         f"by the number of images ({len(y)}) to get {expected:g}.")
        if s.shape[0] == s.shape[1] and np.isclose(value, np.mean(s.argmax(axis=0) == y)):
            return wrong(f"for {name} you get {value:g}; it looks like argmax ran down the columns "
                         f"(axis=0). Each row is one image, so take argmax along axis=1.")
        if np.isclose(value, 1 - expected):
            return wrong(f"for {name} you returned {value:g}, the error rate; accuracy is the "
                         f"fraction of right answers, {expected:g}.")
        return wrong(f"for {name} the accuracy is {expected:g} but you returned {value:g}. Take "
                     f"argmax of each row (axis=1) and compare it with y.")
    return correct("your accuracy matches on logits and probabilities, with more images than "
                   "classes and fewer.")
