"""Exercise of lesson 18 (transfer learning): put a new head on a frozen, pretrained body."""
from __future__ import annotations

from . import Feedback, call_learner, correct, is_unfinished, not_done, register_solution, wrong


@register_solution("transfer_model")
def transfer_model_solution(body, n_classes):
    from helpers.layers import Dense, Flatten
    from helpers.model import Sequential

    body.trainable = False                        # keep what was learned on the source task
    n_features = 1
    for size in body.output_shape((1, 28, 28)):   # (64,) after global pooling, (C, H, W) if not
        n_features *= size
    head = Sequential(Flatten(), Dense(n_features, n_classes))   # new, trainable
    return Sequential(body, head)


def _contains(layer, target):
    if layer is target:
        return True
    return any(_contains(child, target) for _, child in getattr(layer, "named_children", lambda: [])())


def _other_body():
    """A body with another output size than zoo.transfer_body's 64x3x3 = 576 features: two
    blocks with 8 and 16 channels, (1, 28, 28) -> (16, 7, 7) = 784 features."""
    from helpers.layers import Conv2D, MaxPool2D, ReLU
    from helpers.model import Sequential

    return Sequential(Conv2D(1, 8, 3, padding=1, rng=1), ReLU(), MaxPool2D(2),
                      Conv2D(8, 16, 3, padding=1, rng=2), ReLU(), MaxPool2D(2))


def _hard_coded_features(model, body):
    """The in_features of a Dense layer outside the body that matches zoo.transfer_body's 576
    or 64 features although this body gives others; None if there is none."""
    from helpers.layers import Dense

    def walk(layer):
        if layer is body:
            return
        if isinstance(layer, Dense):
            yield layer
        for _, child in getattr(layer, "named_children", lambda: [])():
            yield from walk(child)

    shape = tuple(body.output_shape((1, 28, 28)))
    size = 1
    for s in shape:
        size *= s
    for dense in walk(model):
        if dense.in_features in (576, 64) and dense.in_features not in (size, shape[0]):
            return dense.in_features, size, shape
    return None


def _check_once(fn, n_classes, make_body=None):
    """Run the learner's function on a fresh pretrained-like body; None when all is well."""
    import numpy as np

    from helpers import zoo
    from helpers.layers import Layer, SoftmaxCrossEntropy
    from helpers.optim import Adam

    body = zoo.transfer_body(rng=0) if make_body is None else make_body()
    before = {k: v.copy() for k, v in body.params.items()}
    model, problem = call_learner(fn, body, n_classes)
    if problem is not None:
        return problem
    if is_unfinished(model):
        return not_done("make_transfer_model returned None: return the model you built.")
    if not isinstance(model, Layer):
        return wrong(f"make_transfer_model returned a {type(model).__name__}; return a layer, e.g. "
                     f"Sequential(body, head).")
    if not _contains(model, body):
        return wrong("the model does not contain the body you were given. Use that object (its "
                     "weights are what you transfer); do not build a new feature extractor.")
    if any(not np.array_equal(before[k], v) for k, v in body.params.items()):
        return wrong("the body's weights changed while you built the model; leave them as they "
                     "are (they were learned on the source task).")
    if body.trainable:
        return wrong("the body is still trainable, so training would change the features you want "
                     "to keep: set body.trainable = False.")
    try:
        hard_coded = _hard_coded_features(model, body)
    except Exception:  # noqa: BLE001 - a learner's model that cannot be walked: judged below
        hard_coded = None
    if hard_coded is not None:
        written, size, shape = hard_coded
        return wrong(f"your head has Dense({written}, ...), but this body gives feature maps of "
                     f"shape {shape}: {size:,} values after Flatten, {shape[0]} after global "
                     f"average pooling. You wrote {written} by hand, and it is right only for the "
                     f"lesson's body. Compute it from body.output_shape((1, 28, 28)), so that the "
                     f"head fits any body.")
    try:
        out_shape = tuple(model.output_shape((1, 28, 28)))
    except ValueError as e:
        return wrong(f"the head does not fit the body's output: {e}")
    if out_shape != (n_classes,):
        hint = (" You may have written the number of classes by hand; use the argument n_classes."
                if len(out_shape) == 1 else " Put Flatten() (or GlobalAvgPool2D()) and a Dense layer "
                "at the end.")
        return wrong(f"for n_classes={n_classes} the model outputs shape {out_shape}, expected "
                     f"({n_classes},).{hint}")
    trainable, frozen = model.count_params()
    if trainable == 0:
        return wrong("nothing in the model is trainable: the new head must learn. Freeze only the "
                     "body, not the head.")
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    y = np.arange(4) % n_classes
    try:
        loss = SoftmaxCrossEntropy()
        loss.forward(model.forward(x, train=True), y)
        model.backward(loss.backward())
        Adam(model.parameters(), lr=0.1).step()
    except Exception as e:  # noqa: BLE001 - a learner's bug, reported kindly
        return wrong(f"one training step failed: {type(e).__name__}: {e}")
    if any(not np.array_equal(before[k], v) for k, v in body.params.items()):
        return wrong("one training step changed the body's weights: is every layer of the body "
                     "frozen (body.trainable = False)?")
    return (trainable, frozen)


def check_transfer_model(fn) -> Feedback:
    """Check make_transfer_model(body, n_classes): the same body, frozen, plus a new trainable
    head giving n_classes outputs for (1, 28, 28) images; for the lesson's body (576 features)
    and for another one (784 features), so that a number written by hand is caught."""
    if is_unfinished(fn):
        return not_done("Write make_transfer_model(body, n_classes) returning Sequential(body, head).")
    result = None
    for n_classes in (5, 3):
        result = _check_once(fn, n_classes)
        if isinstance(result, Feedback):
            return result
    trainable, frozen = result
    other = _check_once(fn, 4, make_body=_other_body)   # another body: 16x7x7 = 784 features
    if isinstance(other, Feedback):
        if other.ok or not other.done or "by hand" in other.message:
            return other
        return wrong(f"your function works on the lesson's body, but not on another one (16 maps "
                     f"of 7x7, 784 features): {other.message}")
    return correct(f"the body is frozen ({frozen:,} parameters kept) and the new head learns "
                   f"({trainable:,} trainable parameters for 3 classes); one Adam step left the body "
                   f"unchanged. Your head also fits another body, with 784 features.")
