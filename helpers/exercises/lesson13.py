"""Lesson 13 (overfitting and regularisation): the learner writes inverted dropout (forward and
backward) and the forward pass of batch normalisation with running statistics, as
helpers.layers.Dropout and BatchNorm2D do. Each checker names the usual mistakes.
"""
from __future__ import annotations

import numpy as np


from . import Feedback, correct, is_unfinished, not_done, register_solution, wrong
from . import checking as ck


# ---------------------------------------------------------------------------------------------
# Exercise 9: inverted dropout, forward and backward
# ---------------------------------------------------------------------------------------------

@register_solution("dropout_forward")
def dropout_forward_solution(x, p_drop, train, rng):
    if not train:
        return x, None                         # evaluation: nothing dropped, nothing scaled
    mask = rng.random(x.shape) >= p_drop       # True (keep) with probability 1 - p_drop
    return x * mask / (1 - p_drop), mask       # scaled up: the expected value stays x


@register_solution("dropout_backward")
def dropout_backward_solution(dout, mask, p_drop):
    return dout * mask / (1 - p_drop)          # dropped values get no gradient; kept ones scaled


def _two_values(result, mode):
    """(out, mask) from the learner's result, or a Feedback when it is not a pair."""
    if result is None:
        return None, not_done("your function returned None. End it with return out, mask.")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return None, wrong(f"in {mode}, return two values, (out, mask); you returned "
                           f"{type(result).__name__} {ck.short(result)}. In evaluation mode, "
                           f"return x, None.")
    return result, None


def _mask_problem(mask, p_drop):
    """A message when mask does not hold 0 (dropped) and 1 (kept), else None."""
    values = np.unique(mask)
    scale = 1 / (1 - p_drop)
    scaled = np.isclose(values, scale)
    if values.size and np.all(np.isclose(values, 0) | scaled) and np.any(scaled):
        return (f"your mask holds 0 and {scale:g} = 1 / (1 - p_drop): it is already scaled. Return "
                f"the plain mask of 0 and 1 (or False and True); backward divides by 1 - p_drop itself.")
    if not np.all((values == 0) | (values == 1)):
        return (f"the mask should hold only 0 (dropped) and 1 (kept); yours holds "
                f"{ck.short(values.tolist())}.")
    return None


def _dropout_train_mistake(out, x, mask, p_drop):
    """A message naming the mistake in a training-mode out (mask: 0/1 floats), else None."""
    kept = float(mask.mean())
    means = f"The mean of out is {out.mean():.3f}; the mean of x is {x.mean():.3f}."
    consistent = ck.close(out, x * mask / (1 - p_drop)) or ck.close(out, x * mask / p_drop)
    if consistent and abs(kept - p_drop) < 0.02 < abs(kept - (1 - p_drop)):
        return (f"your mask keeps {kept:.0%} of the values, but p_drop = {p_drop} is the "
                f"probability to drop. Keep each value with probability 1 - p_drop = "
                f"{1 - p_drop:.0%}: mask = rng.random(x.shape) >= p_drop.")
    if ck.close(out, x * mask):
        return (f"out is not scaled. {means} Dropping lowers the expected value by the factor "
                f"1 - p_drop = {1 - p_drop:g}. Divide by 1 - p_drop (inverted dropout).")
    if ck.close(out, x * mask / p_drop):
        return (f"you divided by p_drop. Divide by the keep probability 1 - p_drop = "
                f"{1 - p_drop:g}. {means}")
    if ck.close(out, x * mask * (1 - p_drop)):
        return (f"you multiplied by 1 - p_drop; divide by it instead. {means} Inverted dropout "
                f"scales the kept values up, so the mean stays that of x.")
    if ck.close(out, x * (1 - mask) / (1 - p_drop)):
        return ("your mask marks the dropped values with 1. It must mark the kept values, so "
                "that out = x * mask / (1 - p_drop).")
    if ck.near_miss(out, x * mask / (1 - p_drop)):
        return ck.near_miss(out, x * mask / (1 - p_drop))
    if not ck.close(out, x * mask / (1 - p_drop)):
        return (f"out should be x * mask / (1 - p_drop); {ck.first_difference(out, x * mask / (1 - p_drop))}. "
                f"{means}")
    return None


def check_dropout_forward(fn) -> Feedback:
    """fn(x, p_drop, train, rng) -> (out, mask): inverted dropout. In training, mask (x's shape)
    holds 1 (kept, with probability 1 - p_drop, drawn from rng) and 0, and out = x * mask /
    (1 - p_drop); in evaluation (train=False), out = x (mask: anything, e.g. None)."""
    if is_unfinished(fn):
        return not_done()
    problem = ck.not_a_function(fn, "check_dropout_forward(dropout_forward)")
    if problem is not None:
        return problem
    data = np.random.default_rng(91)
    for shape, p_drop, seed in (((200, 500), 0.2, 92), ((50, 4, 10, 10), 0.7, 93)):
        case = f"in training with p_drop={p_drop}"
        x = data.normal(1.0, 0.5, size=shape)
        x_in = x.copy()
        result, fb = ck.call(fn, x_in, p_drop, True, np.random.default_rng(seed))
        if fb is not None:
            return ck.raised(fb, case)
        pair, fb = _two_values(result, "training")
        if fb is not None:
            return fb
        if pair[0] is None:
            return not_done("out is still None.")
        if pair[1] is None:
            return wrong("in training, return the mask as well: (out, mask). Backward needs it.")
        out, fb = ck.as_numbers(pair[0], "your function")
        if fb is not None:
            return fb
        mask, fb = ck.as_numbers(pair[1], "your function")
        if fb is not None:
            return fb
        if out.shape != x.shape or mask.shape != x.shape:
            return wrong(f"{case}, out has shape {out.shape} and mask {mask.shape}; both must "
                         f"have the shape of x, {x.shape}.")
        changed = ck.changed_input(x, x_in, "x")
        if changed is not None:
            return changed
        message = _mask_problem(mask, p_drop) or _dropout_train_mistake(out, x, mask, p_drop)
        if message:
            return wrong(f"{case}: {message}")
        kept = float(mask.mean())
        if abs(kept - (1 - p_drop)) > 0.02:
            return wrong(f"{case}, your mask keeps {kept:.1%} of the values; expected about "
                         f"{1 - p_drop:.0%}. Keep each value with probability 1 - p_drop.")
        again, fb = ck.call(fn, x.copy(), p_drop, True, np.random.default_rng(seed))
        pair2 = again if isinstance(again, (tuple, list)) and len(again) == 2 else (None, None)
        mask2, _ = ck.as_numbers(pair2[1])
        if fb is not None or mask2 is None or not np.array_equal(mask2, mask):
            return wrong(f"{case}, the same seed gave a different mask. Draw it from the rng you "
                         f"are given, e.g. rng.random(x.shape), so that runs can be repeated.")
    x = data.normal(1.0, 0.5, size=(20, 30))
    result, fb = ck.call(fn, x.copy(), 0.2, False, np.random.default_rng(94))
    if fb is not None:
        return ck.raised(fb, "in evaluation mode (train=False)")
    pair, fb = _two_values(result, "evaluation mode")
    if fb is not None:
        return fb
    if pair[0] is None:
        return not_done("in evaluation mode, out is still None: return x, None.")
    out, fb = ck.as_numbers(pair[0])
    if fb is not None:
        return fb
    if not ck.close(out, x):
        if ck.close(out, x / 0.8):
            return wrong("in evaluation (train=False) you scaled x by 1 / (1 - p_drop). Inverted "
                         "dropout scales only in training; at test time out = x.")
        if ck.close(out, x * 0.8):
            return wrong("in evaluation you multiplied x by 1 - p_drop: that is the old, non-inverted "
                         "dropout. Here training already scaled, so at test time out = x.")
        if out.shape == x.shape and np.any((out == 0) & (x != 0)):
            return wrong("in evaluation (train=False) you dropped values. Dropout is only for "
                         "training: at test time return x unchanged.")
        return wrong("in evaluation (train=False), out must be x itself, unchanged.")
    return correct("your dropout keeps 1 - p_drop of the values, keeps the mean of x, repeats with "
                   "the same seed, and passes x through in evaluation, as helpers.layers.Dropout.")


def check_dropout_backward(fn) -> Feedback:
    """fn(dout, mask, p_drop) -> dx = dout * mask / (1 - p_drop): mask holds 1 (kept) and 0."""
    if is_unfinished(fn):
        return not_done()
    problem = ck.not_a_function(fn, "check_dropout_backward(dropout_backward)")
    if problem is not None:
        return problem
    rng = np.random.default_rng(95)
    for shape, p_drop, as_bool in (((6, 10), 0.3, True), ((4, 3, 5, 5), 0.6, False)):
        mask = rng.random(shape) >= p_drop
        if not as_bool:
            mask = mask.astype(np.float64)
        kind = "True/False" if as_bool else "1.0/0.0"
        case = f"with p_drop={p_drop} and a {kind} mask"
        dout = rng.normal(size=shape)
        dout_in = dout.copy()
        result, fb = ck.call(fn, dout_in, mask.copy(), p_drop)
        if fb is not None:
            return ck.raised(fb, case)
        got, fb = ck.as_numbers(result)
        if fb is not None:
            return fb
        keep = mask.astype(np.float64)
        expected = dout * keep / (1 - p_drop)
        if ck.close(got, expected):
            changed = ck.changed_input(dout, dout_in, "dout")
            if changed is not None:
                return changed
            continue
        if got.shape != dout.shape:
            return wrong(f"{case}, your result has shape {got.shape}; expected the shape of "
                         f"dout, {dout.shape}.")
        mistakes = [(dout / (1 - p_drop), "the mask is missing. A dropped value did not reach the "
                     "output, so its gradient is 0: multiply by the mask."),
                    (dout * keep, "the scaling is missing. The forward pass divided by 1 - p_drop, "
                     "so the backward must divide by it too."),
                    (dout * keep / p_drop, "you divided by p_drop. Divide by the keep probability, "
                     "1 - p_drop."),
                    (dout * keep * (1 - p_drop), "you multiplied by 1 - p_drop; divide by it, as "
                     "the forward pass did."),
                    (dout * (1 - keep) / (1 - p_drop), "you used the dropped values (1 - mask). "
                     "The gradient flows through the kept ones: dout * mask."),
                    (dout, "you returned dout unchanged. Multiply by the mask and divide by "
                     "1 - p_drop, as in the forward pass.")]
        for value, message in mistakes:
            if ck.close(got, value):
                return wrong(f"{case}: {message}")
        if ck.near_miss(got, expected):
            return wrong(f"{case}: {ck.near_miss(got, expected)}")
        return wrong(f"{case}, {ck.first_difference(got, expected)}. The gradient is "
                     f"dout * mask / (1 - p_drop).")
    return correct("your dropout backward is right, with a mask of True/False and of 1.0/0.0.")


# ---------------------------------------------------------------------------------------------
# Exercise 10: batch normalisation, forward pass with running statistics
# ---------------------------------------------------------------------------------------------

@register_solution("batchnorm_forward")
def batchnorm_forward_solution(x, gamma, beta, running_mean, running_var, train,
                               momentum=0.1, eps=1e-5):
    if train:
        mean = x.mean(axis=(0, 2, 3))        # one mean per channel, over batch, height, width
        var = x.var(axis=(0, 2, 3))          # biased (divides by m): used to normalise
        m = x.shape[0] * x.shape[2] * x.shape[3]
        running_mean *= 1 - momentum         # in place: the caller keeps these arrays
        running_mean += momentum * mean
        running_var *= 1 - momentum          # unbiased (m / (m - 1)), as BatchNorm2D and PyTorch
        running_var += momentum * var * m / (m - 1)
    else:
        mean, var = running_mean, running_var   # evaluation: the running statistics
    x_hat = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + eps)
    return gamma[None, :, None, None] * x_hat + beta[None, :, None, None]


def _bn_normalise(x, mean, var, gamma, beta, eps, eps_inside=True):
    """gamma * (x - mean) / sqrt(var + eps) + beta; mean and var broadcast against x."""
    c = (1, -1, 1, 1)
    std = np.sqrt(var + eps) if eps_inside else np.sqrt(var) + eps
    return gamma.reshape(c) * (x - mean) / std + beta.reshape(c)


def _bn_output_mistake(out, x, gamma, beta, eps):
    """A message naming the mistake in a training-mode output, else None."""
    per_channel = ("BatchNorm takes one mean and variance per channel, over the batch and both "
                   "spatial axes: x.mean(axis=(0, 2, 3)), shape (C,).")
    wrong_axes = {(0,): "per pixel (axis=0): one mean for each channel and position",
                  (1,): "across the channels (axis=1)",
                  (1, 2, 3): "per image (axis=(1, 2, 3)), which is layer normalisation",
                  (0, 1, 2, 3): "over the whole batch at once"}
    for axes, text in wrong_axes.items():
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        if ck.close(out, _bn_normalise(x, mean, var, gamma, beta, eps)):
            return f"you took the statistics {text}. {per_channel}"
    axes = (0, 2, 3)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    if ck.close(out, _bn_normalise(x, mean, x.var(axis=axes, ddof=1, keepdims=True), gamma, beta, eps)):
        return ("you normalised with the unbiased variance (ddof=1). BatchNorm2D normalises with "
                "the biased one (divide by m, x.var()); only the running variance is unbiased.")
    if ck.close(out, _bn_normalise(x, mean, var, gamma, beta, eps, eps_inside=False)):
        return "put eps inside the square root: np.sqrt(var + eps), as BatchNorm2D and PyTorch do."
    ones, zeros = np.ones_like(gamma), np.zeros_like(beta)
    if ck.close(out, _bn_normalise(x, mean, var, ones, zeros, eps)):
        return ("gamma and beta are missing: out = gamma * x_hat + beta. Reshape them to "
                "(1, C, 1, 1).")
    if ck.close(out, _bn_normalise(x, mean, var, beta, gamma, eps)):
        return "gamma and beta are swapped: out = gamma * x_hat + beta (gamma scales, beta shifts)."
    return None


def _bn_running_mistake(got_mean, got_var, start_mean, start_var, x, momentum):
    """A message when the running statistics after a training step are wrong, else None."""
    m = x.shape[0] * x.shape[2] * x.shape[3]
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    unbiased = var * m / (m - 1)
    right_mean = (1 - momentum) * start_mean + momentum * mean
    right_var = (1 - momentum) * start_var + momentum * unbiased
    if ck.close(got_mean, right_mean) and ck.close(got_var, right_var):
        return None
    if np.array_equal(got_mean, start_mean) and np.array_equal(got_var, start_var):
        return ("running_mean and running_var did not change. Update them in place: "
                "running_mean *= 1 - momentum; running_mean += momentum * mean. "
                "running_mean = ... only makes a new local array.")
    if ck.close(got_mean, mean) or ck.close(got_var, var) or ck.close(got_var, unbiased):
        return ("you replaced the running statistics by the batch's. Blend them: running = "
                "(1 - momentum) * running + momentum * batch.")
    if ck.close(got_mean, momentum * start_mean + (1 - momentum) * mean):
        return (f"the momentum convention is reversed. Here momentum = {momentum} is the weight of "
                f"the new batch (PyTorch's convention): running = (1 - momentum) * running + "
                f"momentum * batch. Keras uses the opposite.")
    if ck.close(got_mean, right_mean) and ck.close(got_var, (1 - momentum) * start_var + momentum * var):
        return ("running_var uses the biased variance. BatchNorm2D and PyTorch use the unbiased "
                "one: var * m / (m - 1), with m = N * H * W. (CS231n uses the biased one.)")
    if not ck.close(got_mean, right_mean):
        return (f"running_mean {ck.first_difference(got_mean, right_mean)}. It should be "
                f"(1 - momentum) * running_mean + momentum * mean.")
    return (f"running_var {ck.first_difference(got_var, right_var)}. It should be "
            f"(1 - momentum) * running_var + momentum * var * m / (m - 1).")


def _bn_case(seed, shape=(2, 3, 3, 4)):
    """x with a different mean and spread per channel, gamma, beta, and running statistics
    that are not the initial 0 and 1 (so that replacing and blending differ)."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    spread, offset = rng.uniform(0.5, 3, size=(1, c, 1, 1)), rng.uniform(-3, 3, size=(1, c, 1, 1))
    x = rng.normal(size=shape) * spread + offset
    gamma, beta = rng.uniform(0.5, 2, size=c), rng.normal(size=c)
    return x, gamma, beta, rng.normal(size=c), rng.uniform(0.5, 2, size=c)


BN_SHAPE_HINT = ("Check the shapes: the mean and variance of each channel have shape (C,), "
                 "x.mean(axis=(0, 2, 3)). To combine them with x, reshape to (1, C, 1, 1).")


def check_batchnorm_forward(fn) -> Feedback:
    """fn(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5) -> out:
    x (N, C, H, W), the others (C,). Training: normalise each channel with the batch's mean and
    biased variance over (N, H, W), and update the running statistics in place as
    helpers.layers.BatchNorm2D does. Evaluation: use the running statistics, unchanged."""
    if is_unfinished(fn):
        return not_done()
    problem = ck.not_a_function(fn, "check_batchnorm_forward(batchnorm_forward)")
    if problem is not None:
        return problem
    for train, momentum, eps, seed in ((True, 0.1, 1e-5, 101), (False, 0.1, 1e-5, 102),
                                       (True, 0.25, 1e-3, 103)):
        x, gamma, beta, r_mean, r_var = _bn_case(seed)
        case = (f"in training (momentum={momentum}, eps={eps:g})" if train
                else "in evaluation (train=False)")
        run_mean, run_var, x_in = r_mean.copy(), r_var.copy(), x.copy()
        result, fb = ck.call(fn, x_in, gamma.copy(), beta.copy(), run_mean, run_var, train,
                           momentum, eps)
        if fb is not None:
            return ck.raised(fb, case, BN_SHAPE_HINT)
        if isinstance(result, tuple):
            return wrong(f"{case}, you returned a tuple of {len(result)} values. Return only out; "
                         f"update running_mean and running_var in place.")
        got, fb = ck.as_numbers(result)
        if fb is not None:
            return fb
        if got.shape != x.shape:
            return wrong(f"{case}, out has shape {got.shape}; it must have the shape of x, {x.shape}.")
        changed = ck.changed_input(x, x_in, "x")
        if changed is not None:
            return changed
        expected = batchnorm_forward_solution(x, gamma, beta, r_mean.copy(), r_var.copy(), train,
                                              momentum, eps)
        if not train:
            batch_out = _bn_normalise(x, x.mean(axis=(0, 2, 3), keepdims=True),
                                      x.var(axis=(0, 2, 3), keepdims=True), gamma, beta, eps)
            if ck.close(got, batch_out):
                return wrong("in evaluation (train=False) you normalised with the batch's statistics. "
                             "Use running_mean and running_var: at test time one image must not "
                             "depend on the others in its batch.")
            if not ck.close(got, expected):
                return wrong(f"in evaluation, out {ck.first_difference(got, expected)}. Normalise with "
                             f"running_mean and running_var, then apply gamma and beta.")
            if not (np.array_equal(run_mean, r_mean) and np.array_equal(run_var, r_var)):
                return wrong("in evaluation (train=False) the running statistics changed. Update them "
                             "only in training.")
            continue
        if not ck.close(got, expected):
            message = _bn_output_mistake(got, x, gamma, beta, eps) or ck.near_miss(got, expected)
            if message is None:
                message = (f"out {ck.first_difference(got, expected)}. out = gamma * (x - mean) / "
                           f"sqrt(var + eps) + beta, per channel.")
            return wrong(f"{case}: {message}")
        message = _bn_running_mistake(run_mean, run_var, r_mean, r_var, x, momentum)
        if message:
            return wrong(f"{case}: {message}")
    return correct("your batch normalisation matches helpers.layers.BatchNorm2D: per-channel "
                   "statistics in training, running statistics updated in place, and used in "
                   "evaluation.")
