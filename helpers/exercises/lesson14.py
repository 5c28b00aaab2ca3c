"""Lesson 14 (what a CNN learned): a deeper network to compare with, and two exercises.

- ``deeper_convnet()``: three small conv blocks (8, 16, 32 channels), so that lesson 14 can show
  how feature maps change over several layers (SimpleConvNet has only one convolution);
  ``load_or_train_deeper()`` loads its weights from ``data/weights/``, else the copy the course
  ships in ``data/pretrained/``, else trains it (three epochs, under a minute on two idle cores).
- Exercise ``check_receptive_window``: which input pixels one unit after conv + pool sees.
- Exercise ``check_occlusion``: write the occlusion experiment; the checker compares it with
  ``helpers.interpret.occlusion_map`` on small made-up models and names the usual mistakes.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from helpers import conv
from helpers.interpret import occlusion_map
from helpers.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, SoftmaxCrossEntropy
from helpers.model import Sequential

from . import Feedback, call_learner, correct, is_unfinished, not_done, register_solution, wrong
from .lesson12 import WEIGHTS_DIR, step_decay_callback

DEEPER_PATH = WEIGHTS_DIR / "deeper_convnet_fashion.npz"
#: The same network trained with DEEPER_RECIPE, shipped with the course (38 KB), so lesson 14
#: starts at once on a new machine. load_or_train_deeper() reads it when DEEPER_PATH is missing;
#: ``python -m helpers.exercises.lesson14`` trains it again and writes it here.
SHIPPED_DEEPER = Path(__file__).resolve().parents[2] / "data" / "pretrained" / "deeper_convnet_fashion.npz"
#: Adam, 3 epochs over the training split, learning rate 0.002 times 0.6 after each epoch
#: (measured: 89.5 % validation, 88.6 % test accuracy; about 40 s on two idle cores)
DEEPER_RECIPE = {"epochs": 3, "batch_size": 32, "lr": 2e-3, "decay": 0.6, "seed": 0}


def deeper_convnet(seed=0):
    """Three conv blocks for (1, 28, 28) inputs: [Conv2D 3x3 'same', ReLU, MaxPool2D 2] with
    8, 16 and 32 channels (28 -> 14 -> 7 -> 3 pixels), then Flatten (288) -> Dense(288, 10).
    8,778 parameters, 50 times fewer than SimpleConvNet."""
    rng = np.random.default_rng(seed)
    return Sequential(
        Conv2D(1, 8, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(8, 16, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Conv2D(16, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2),
        Flatten(), Dense(32 * 3 * 3, 10, rng=rng))


def load_or_train_deeper(data, path=None, progress=True, save=True):
    """deeper_convnet with saved weights, or trained now (DEEPER_RECIPE) and saved.

    path None: the weights in DEEPER_PATH (data/weights/) if there are any, else the course's
    copy (SHIPPED_DEEPER); training, when neither loads, saves to DEEPER_PATH. Returns (model,
    info) with info["trained"], info["seconds"], info["path"] (the file read or written)."""
    path = Path(path) if path is not None else DEEPER_PATH
    tries = [path] if path != DEEPER_PATH else [DEEPER_PATH, SHIPPED_DEEPER]
    t0 = time.perf_counter()
    for candidate in tries:
        if candidate.exists():
            model = deeper_convnet(seed=DEEPER_RECIPE["seed"])
            try:
                model.load(candidate)
                return model, {"trained": False, "seconds": time.perf_counter() - t0, "path": candidate}
            except (ValueError, OSError) as exc:
                print(f"Could not use {candidate} ({exc}).")
    print("Training the deeper network (three epochs) and saving it.")
    model = train_deeper(data, progress=progress)
    if save:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    return model, {"trained": True, "seconds": time.perf_counter() - t0, "path": path}


def train_deeper(data, progress=True):
    """deeper_convnet trained with DEEPER_RECIPE on data.x_train, data.y_train."""
    from helpers.optim import Adam
    from helpers.train import fit

    r = DEEPER_RECIPE
    model = deeper_convnet(seed=r["seed"])
    opt = Adam(model.parameters(), lr=r["lr"])
    fit(model, SoftmaxCrossEntropy(), opt, data.x_train, data.y_train, epochs=r["epochs"],
        batch_size=r["batch_size"], seed=r["seed"], progress=progress,
        callback=step_decay_callback(opt, r["lr"], r["decay"]))
    return model


# ---------------------------------------------------------------------------------------------
# Exercise 1: the receptive window of one unit after conv 5x5 + max pool 2x2
# ---------------------------------------------------------------------------------------------

@register_solution("receptive_window")
def receptive_window_solution(i, j):
    # pool unit (i, j) takes the max of conv outputs rows 2i, 2i+1 (columns 2j, 2j+1);
    # conv output row r sees input rows r .. r+4, so together: rows 2i .. 2i+5, six of them
    top, left = 2 * i, 2 * j
    size = 5 + 1                 # kernel 5, plus one more row for the second pooled row
    return top, left, size


def check_receptive_window(fn) -> Feedback:
    """fn(i, j) -> (top, left, size): the input square that SimpleConvNet's pooled unit (i, j)
    (after Conv2D 5x5 stride 1 and MaxPool2D 2) depends on."""
    if is_unfinished(fn):
        return not_done()
    for i, j in [(0, 0), (3, 5), (11, 7)]:
        got, fb = call_learner(fn, i, j)
        if fb is not None:
            return fb
        if is_unfinished(got):
            return not_done("return (top, left, size) for the pooled unit (i, j).")
        try:
            top, left, size = (int(v) for v in got)
        except (TypeError, ValueError, OverflowError):
            return wrong(f"fn({i}, {j}) returned {got!r}; return three integers (top, left, size).")
        exp = receptive_window_solution(i, j)
        if (top, left, size) == exp:
            continue
        where = f"for the pooled unit ({i}, {j}) you gave top={top}, left={left}, size={size}"
        if size == 5:
            return wrong(f"{where}. Size 5 is what one *conv* unit sees; the pool takes the max of "
                         f"2 x 2 conv units whose windows start one pixel apart, so together they "
                         f"cover 5 + 1 = 6 pixels.")
        if size in (2, 4, 10, 7):
            return wrong(f"{where}. The window is the 5-pixel conv window widened by (2 - 1) x 1 "
                         f"pixel for the pool: 6. (Rule: size += (k - 1) x jump, layer by layer.)")
        if size == 6 and (top, left) == (i, j):
            return wrong(f"{where}. Neighbouring pooled units are 2 input pixels apart (the pool's "
                         f"stride is 2), so the window starts at (2i, 2j) = ({2 * i}, {2 * j}).")
        if size == 6 and (top, left) == (j * 2, i * 2):
            return wrong(f"{where}. Rows and columns are swapped: i is the row, so top = 2i.")
        if size == 6 and (top, left) == (2 * i + 1, 2 * j + 1) or (top, left) == (2 * i + 2, 2 * j + 2):
            return wrong(f"{where}. The convolution has no padding, so conv unit (r, c) starts at input "
                         f"(r, c); pooled unit (i, j) starts at conv unit (2i, 2j): input ({2 * i}, {2 * j}).")
        return wrong(f"{where}; expected top={exp[0]}, left={exp[1]}, size={exp[2]}. Follow one row: "
                     f"pooled row i takes conv rows 2i and 2i+1; conv row r sees input rows r..r+4.")
    return correct("pooled unit (i, j) sees the 6 x 6 input square starting at (2i, 2j). Those are "
                   "the patches lesson 14 cuts out of the test images (for the conv layer itself, "
                   "5 x 5 at (i, j)).")


# ---------------------------------------------------------------------------------------------
# Exercise 2: occlusion by hand
# ---------------------------------------------------------------------------------------------

@register_solution("occlusion")
def occlusion_solution(predict_proba, image, target, patch_size, stride, fill=0.0):
    c, h, w = image.shape
    oh = (h - patch_size) // stride + 1                 # the patch slides like a kernel
    ow = (w - patch_size) // stride + 1
    base = predict_proba(image[None])[0, target]        # nothing covered
    drops = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            covered = image.copy()                       # never change the learner's image
            covered[:, i * stride:i * stride + patch_size, j * stride:j * stride + patch_size] = fill
            drops[i, j] = base - predict_proba(covered[None])[0, target]
    return drops


def _toy_model(shape, k=4, seed=0):
    """A made-up classifier x (N, C, H, W) -> softmax of a linear map: fast and smooth."""
    rng = np.random.default_rng(seed)
    wts = rng.normal(size=(int(np.prod(shape)), k)) * 0.6

    def predict_proba(x):
        x = np.asarray(x, dtype=np.float64)
        z = x.reshape(len(x), -1) @ wts
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return predict_proba


def _covered_map(proba, image, target, patch, stride, step, channels=None, fill=0.0):
    """Drops with the patch of position (i, j) at (i*step, j*step), in the given channels
    (all when None), for the (OH, OW) positions a stride of `stride` gives: two usual mistakes."""
    c, h, w = image.shape
    oh, ow = (h - patch) // stride + 1, (w - patch) // stride + 1
    chans = slice(None) if channels is None else channels
    base = proba(image[None])[0, target]
    drops = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            covered = image.copy()
            rows, cols = slice(i * step, i * step + patch), slice(j * step, j * step + patch)
            covered[chans, rows, cols] = fill
            drops[i, j] = base - proba(covered[None])[0, target]
    return drops


OCCLUSION_CASES = [((1, 8, 8), 4, 2, 1), ((1, 9, 12), 3, 3, 2), ((2, 7, 10), 4, 3, 0)]


def check_occlusion(fn) -> Feedback:
    """fn(predict_proba, image, target, patch_size, stride, fill=0.0) -> (OH, OW) array of
    drops p(target | image) - p(target | image with the patch at (i*stride, j*stride))."""
    if is_unfinished(fn):
        return not_done()
    for n, (shape, patch, stride, target) in enumerate(OCCLUSION_CASES):
        rng = np.random.default_rng(10 + n)
        image = rng.normal(size=shape)
        keep = image.copy()
        proba = _toy_model(shape, seed=n)
        case = f"an image of shape {shape}, patch_size={patch}, stride={stride}, target={target}"
        got, fb = call_learner(fn, proba, image, target, patch, stride, 0.0)
        if fb is not None:
            return fb
        if not np.array_equal(image, keep):
            return wrong(f"for {case} your function changed the image it was given; cover a copy "
                         f"(image.copy()) so every patch position starts from the original.")
        if is_unfinished(got):
            return not_done("your function returned nothing yet; return the (OH, OW) map of drops.")
        exp = occlusion_map(proba, image, target, patch_size=patch, stride=stride, fill=0.0).grid
        try:
            if np.iscomplexobj(got) or isinstance(got, (str, bytes, dict)):
                raise TypeError
            got = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return wrong(f"for {case} you returned {type(got).__name__}; return an array of drops.")
        oh, ow = exp.shape
        if got.ndim != 2:
            what = (f"one number ({float(got):.3g})" if got.ndim == 0
                    else f"an array of shape {got.shape}")
            return wrong(f"for {case} you returned {what}; return a 2-D map of shape (OH, OW) = "
                         f"{exp.shape}: one drop for each position (i, j) of the patch.")
        if got.shape != exp.shape:
            if got.shape == (ow, oh):
                return wrong(f"for {case} the result has shape {got.shape}, rows and columns swapped; "
                             f"the first axis is the patch's row position i, of which there are {oh}.")
            s1 = conv.output_size(shape[1:], patch, 1)
            if got.shape == tuple(s1):
                return wrong(f"for {case} the result has shape {got.shape}: it looks like the patch "
                             f"moved 1 pixel at a time; move it by stride={stride}.")
            if got.shape[0] in (oh - 1, oh + 1) or got.shape[1] in (ow - 1, ow + 1):
                return wrong(f"for {case} the result has shape {got.shape}, expected {exp.shape}: the "
                             f"patch slides like a kernel, (H - patch_size) // stride + 1 = {oh} "
                             f"positions down (an off-by-one in the range?).")
            return wrong(f"for {case} the result must have shape (OH, OW) = {exp.shape}, got {got.shape}.")
        if np.allclose(got, exp, atol=1e-9):
            continue
        base = proba(image[None])[0, target]
        if got.shape[0] == got.shape[1] and np.allclose(got, exp.T, atol=1e-9):
            return wrong(f"for {case} rows and columns are swapped: the first axis is the patch's "
                         f"row position i (it covers rows i*stride ...), the second its column j.")
        if np.allclose(got, -exp, atol=1e-9):
            return wrong(f"for {case} every value has the wrong sign: the drop is "
                         f"p(unchanged) - p(covered), positive where covering hurts the class.")
        if np.allclose(got, base - exp, atol=1e-9):
            return wrong(f"for {case} you returned the probability with the patch in place; the map "
                         f"holds the drop: p(unchanged) - p(covered) = {base:.3f} - p(covered).")
        if stride > 1 and np.allclose(got, _covered_map(proba, image, target, patch, stride, 1), atol=1e-9):
            return wrong(f"for {case} the patch at position (i, j) seems to cover rows i to "
                         f"i + patch_size - 1: it moved 1 pixel per step. Multiply by the stride: "
                         f"the patch at (i, j) starts at row i*stride and column j*stride.")
        if shape[0] > 1:
            for ch in range(shape[0]):
                alt = _covered_map(proba, image, target, patch, stride, stride, channels=[ch])
                if np.allclose(got, alt, atol=1e-9):
                    return wrong(f"for {case} (an image with {shape[0]} channels) the patch covers "
                                 f"only channel {ch}. Cover the square in all channels at once: "
                                 f"covered[:, rows, columns] = fill.")
        for other in (1.0, float(image.min()), float(image.mean())):
            alt = occlusion_map(proba, image, target, patch_size=patch, stride=stride, fill=other).grid
            if np.allclose(got, alt, atol=1e-9):
                return wrong(f"for {case} the patch seems to be filled with {other:.3g}; use the "
                             f"value fill (0.0 here: the mean grey of standardised images).")
        return wrong(f"for {case} your drops differ from the expected ones (largest difference "
                     f"{np.abs(got - exp).max():.3g}); check which pixels the patch at (i, j) covers: "
                     f"rows i*stride to i*stride + patch_size - 1, all channels.")
    return correct("your occlusion map matches helpers.interpret.occlusion_map on three made-up "
                   "models, with odd sizes, strides that do not tile the image, and 2 channels.")


if __name__ == "__main__":
    # python -m helpers.exercises.lesson14: train the deeper network again and write the copy
    # the course ships (SHIPPED_DEEPER), with its test accuracy
    from helpers.exercises import lesson12
    from helpers.train import evaluate

    fashion = lesson12.prepare_data()
    trained = train_deeper(fashion)
    accuracy = evaluate(trained, SoftmaxCrossEntropy(), fashion.x_test, fashion.y_test)[1]
    SHIPPED_DEEPER.parent.mkdir(parents=True, exist_ok=True)
    trained.save(SHIPPED_DEEPER)
    print(f"wrote {SHIPPED_DEEPER} ({SHIPPED_DEEPER.stat().st_size:,} bytes); test accuracy {accuracy:.2%}")
