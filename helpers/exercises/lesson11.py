"""Lesson 11 (loss and optimizers): the learner writes softmax, cross-entropy and its gradient,
and the update rules of SGD, momentum and Adam. Each checker tries the function on small float64
inputs from a fixed seed, compares it with the worked solution (``solution("softmax")`` ...) and
names the usual mistakes.
"""
from __future__ import annotations

import numpy as np

from helpers.gradcheck import numerical_gradient, rel_error

from . import Feedback, correct, is_unfinished, not_done, register_solution, wrong
from . import checking as ck


def _stable_log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


STABLE_HINT = ("Subtract the row maximum first: z - z.max(axis=1, keepdims=True). "
               "The result does not change, and np.exp never sees a large number.")
KEEPDIMS_HINT = ("Keep the row axis when you reduce: z.max(axis=1, keepdims=True) has shape "
                 "(N, 1), which works with z of shape (N, K).")


def _logit_cases(seed):
    """(description, z, y) triples: small logits, logits around 1000, and rows whose logits
    lie hundreds apart. N != K, and the labels are not all the same class."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(6, 4)) * 2
    y = np.array([0, 3, 1, 2, 3, 1])
    big = 1000 + rng.normal(size=(5, 3))
    y_big = np.array([2, 0, 1, 1, 2])
    far = np.array([[0.0, 50.0, -800.0, 3.0], [10.0, -700.0, 20.0, 5.0], [-300.0, 0.0, 400.0, 2.0]])
    y_far = np.array([2, 1, 0])
    return [("on small logits (6 images, 4 classes)", z, y),
            ("on large logits (around 1000)", big, y_big),
            ("on logits hundreds apart (the label's logit far below the maximum)", far, y_far)]


# ---------------------------------------------------------------------------------------------
# Exercise 3: softmax
# ---------------------------------------------------------------------------------------------

@register_solution("softmax")
def softmax_solution(z):
    shifted = z - z.max(axis=1, keepdims=True)   # each row's largest logit becomes 0: no overflow
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)      # each row (one image) sums to 1


def _softmax_mistake(got, z, large):
    """A message naming the mistake when got (the same shape as z) is a usual wrong softmax."""
    if not np.all(np.isfinite(got)):
        if large == "large":
            return (f"your result contains NaN or inf. np.exp(1000) overflows to inf, and "
                    f"inf / inf is NaN. {STABLE_HINT}")
        if large == "mixed":
            return ("your result contains NaN. Did you subtract one maximum of the whole array? "
                    "Then the low row becomes exp(-2000) = 0 everywhere, and 0 / 0 is NaN. "
                    "Subtract each row's own maximum: z.max(axis=1, keepdims=True).")
        return "your result contains NaN or inf. " + STABLE_HINT
    e = np.exp(z - z.max())
    by_column = np.exp(z - z.max(axis=0)) / np.exp(z - z.max(axis=0)).sum(axis=0)
    if ck.close(got, by_column):
        return ("each column sums to 1, not each row. One row is one image, so normalise along "
                "axis=1: e / e.sum(axis=1, keepdims=True).")
    if ck.close(got, e / e.sum()):
        return ("the whole array sums to 1. Each row (one image) must sum to 1 on its own: "
                "e / e.sum(axis=1, keepdims=True).")
    if ck.close(got, _stable_log_softmax(z)):
        return ("these are log-probabilities (log-softmax): they are negative, and only their exp "
                "sums to 1. Return the probabilities themselves.")
    sums = got.sum(axis=1)
    ratio = got / softmax_solution(z)
    if np.all(got > 0) and np.allclose(ratio, ratio[:, :1]) and not np.allclose(sums, 1):
        return (f"the rows sum to {np.round(sums, 3).tolist()}, not 1. Divide each exp by its "
                f"row's sum: e / e.sum(axis=1, keepdims=True).")
    return None


def check_softmax(fn) -> Feedback:
    """fn(z) -> probabilities: z (N, K) logits; returns (N, K), each row the softmax of that
    row (positive, sums to 1). Must work for large logits and must not change z."""
    if is_unfinished(fn):
        return not_done()
    problem = ck.not_a_function(fn, "check_softmax(softmax)")
    if problem is not None:
        return problem
    rng = np.random.default_rng(31)
    cases = [("on small logits of shape (4, 5)", rng.normal(size=(4, 5)) * 2, "small"),
             ("on large logits (around 1000)", 1000 + rng.normal(size=(3, 5)), "large"),
             ("on rows far apart (around +1000, -1000 and 0)",
              np.array([[1000.0], [-1000.0], [0.0]]) + rng.normal(size=(3, 5)), "mixed")]
    for case, z, kind in cases:
        z_in = z.copy()
        result, fb = ck.call(fn, z_in)
        if fb is not None:
            return ck.raised(fb, case, KEEPDIMS_HINT)
        got, fb = ck.as_numbers(result)
        if fb is not None:
            return fb
        expected = softmax_solution(z)
        if got.shape != z.shape:
            return wrong(f"{case}, your result has shape {got.shape}; expected {z.shape}, "
                         f"one probability per class for each row.")
        if ck.close(got, expected):
            changed = ck.changed_input(z, z_in, "z")
            if changed is not None:
                return changed
            continue
        message = _softmax_mistake(got, z, kind) or ck.near_miss(got, expected)
        if message:
            return wrong(f"{case}: {message}")
        return wrong(f"{case}, {ck.first_difference(got, expected)}. Softmax of a row is "
                     f"exp(z - max) / sum(exp(z - max)).")
    return correct("your softmax is right on small logits, on logits around 1000, and on rows far "
                   "apart. Each row sums to 1, and z stays unchanged.")


# ---------------------------------------------------------------------------------------------
# Exercise 4: the cross-entropy loss
# ---------------------------------------------------------------------------------------------

@register_solution("cross_entropy")
def cross_entropy_solution(z, y):
    n = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)                      # no overflow in exp
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))   # log-softmax (log-sum-exp)
    return float(-log_p[np.arange(n), y].mean())     # each row's label, then the mean over images


def _cross_entropy_mistake(value, z, y):
    """A message naming the mistake when value is a usual wrong loss on (z, y), else None."""
    n = len(y)
    log_p = _stable_log_softmax(z)
    expected = -log_p[np.arange(n), y].mean()
    p = np.exp(log_p)
    if np.isclose(value, n * expected, rtol=ck.RTOL):
        return (f"you returned the sum over the {n} images. The loss is their mean: "
                f"divide by N = {n}, or use .mean().")
    if np.isclose(value, -expected, rtol=ck.RTOL) or np.isclose(value, -n * expected, rtol=ck.RTOL):
        return ("the minus sign is missing. The log of a probability is negative, so the loss "
                "is -mean(log p) and is never below 0.")
    if np.isclose(value, -log_p[:, 0].mean(), rtol=ck.RTOL):
        return ("you used the probability of class 0 for every image. Take each image's own "
                "label: log_p[np.arange(N), y].")
    if np.isclose(value, -log_p[y].mean(), rtol=ck.RTOL):
        return ("log_p[y] picks whole rows (images) numbered by the labels. Pick one entry per "
                "row, the label's column: log_p[np.arange(N), y].")
    if np.isclose(value, -log_p[:, y].mean(), rtol=ck.RTOL):
        return ("log_p[:, y] makes an N × N table, every label for every image. Pick one entry "
                "per row: log_p[np.arange(N), y].")
    if np.isclose(value, -log_p.mean(), rtol=ck.RTOL):
        return ("you averaged the log-probabilities of all classes. Only the label's class "
                "counts: log_p[np.arange(N), y].")
    if np.isclose(value, -p[np.arange(n), y].mean(), rtol=ck.RTOL):
        return "you averaged the probabilities themselves. Take their log: -mean(log p)."
    if any(np.isclose(value, expected / np.log(base), rtol=ck.RTOL) for base in (10, 2)):
        return "use the natural logarithm, np.log, not np.log10 or np.log2."
    return None


def check_cross_entropy(fn) -> Feedback:
    """fn(z, y) -> float: z (N, K) logits, y (N,) integer labels; the mean cross-entropy loss
    -mean(log softmax(z)[i, y_i]), computed stably (log-sum-exp) for any logits."""
    if is_unfinished(fn):
        return not_done()
    problem = ck.not_a_function(fn, "check_cross_entropy(cross_entropy)")
    if problem is not None:
        return problem
    for case, z, y in _logit_cases(seed=41):
        z_in = z.copy()
        result, fb = ck.call(fn, z_in, y.copy())
        if fb is not None:
            return ck.raised(fb, case, KEEPDIMS_HINT)
        got, fb = ck.as_numbers(result)
        if fb is not None:
            return fb
        if got.size != 1:
            if got.shape == y.shape:
                return wrong(f"{case}, you returned one loss per image, shape {got.shape}. "
                             f"Return their mean, one number.")
            return wrong(f"{case}, you returned shape {got.shape}. Return one number, the mean loss.")
        value = float(got.reshape(-1)[0])
        expected = cross_entropy_solution(z, y)
        if np.isclose(value, expected, rtol=ck.RTOL):
            changed = ck.changed_input(z, z_in, "z")
            if changed is not None:
                return changed
            continue
        if not np.isfinite(value):
            if case.startswith("on large"):
                return wrong(f"{case}, your loss is {value}: np.exp(1000) overflows to inf. "
                             f"{STABLE_HINT}")
            return wrong(f"{case}, your loss is {value}; expected {expected:.6g}. A probability "
                         f"like exp(-800) rounds to 0, and log(0) is -inf. Compute log-probabilities "
                         f"directly: log_p = shifted - log(sum(exp(shifted))) with the shifted z.")
        message = _cross_entropy_mistake(value, z, y)
        if message:
            return wrong(f"{case}: {message}")
        if case.startswith("on logits hundreds") or np.isclose(value, expected, rtol=1e-3):
            return wrong(f"{case}, your loss is {value:.8g}; expected {expected:.8g}. Do you "
                         f"clip the probabilities, as in log(p + 1e-7)? Compute log-probabilities "
                         f"directly instead: log_p = shifted - log(sum(exp(shifted))).")
        return wrong(f"{case}, your loss is {value:.6g}; expected {expected:.6g}. The loss is "
                     f"-mean(log_p[np.arange(N), y]), with log_p the log-softmax of each row.")
    return correct("your loss is right on small logits, on logits around 1000, and on logits "
                   "hundreds apart: it is the mean, and it is stable.")


# ---------------------------------------------------------------------------------------------
# Exercise 5: the gradient of softmax + cross-entropy
# ---------------------------------------------------------------------------------------------

@register_solution("softmax_ce_grad")
def softmax_ce_grad_solution(z, y):
    n = z.shape[0]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    dz = e / e.sum(axis=1, keepdims=True)     # softmax(z)
    dz[np.arange(n), y] -= 1                  # minus the one-hot of the labels
    return dz / n                             # the loss is a mean over N images


def _grad_mistake(got, z, y):
    """A message naming the mistake when got is a usual wrong gradient on (z, y), else None."""
    n, k = z.shape
    p = softmax_solution(z)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), y] = 1
    expected = (p - onehot) / n
    if got.shape == (k,) and (ck.close(got, expected.sum(axis=0)) or ck.close(got, n * expected.sum(axis=0))):
        return (f"you summed over the images and returned shape ({k},). Each logit z[i, j] has "
                f"its own gradient: return shape ({n}, {k}).")
    if got.shape != z.shape:
        return f"your gradient has shape {got.shape}; it must have the shape of z, {z.shape}."
    if not np.all(np.isfinite(got)):
        return "your gradient contains NaN or inf. " + STABLE_HINT
    if ck.close(got, n * expected):
        return (f"this is the gradient of the summed loss. The loss is a mean over N = {n} "
                f"images, so divide by N: (softmax - onehot) / N.")
    if ck.close(got, -expected) or ck.close(got, -n * expected):
        return ("the sign is reversed: you computed onehot - softmax. The gradient is "
                "softmax - onehot: raising the label's logit lowers the loss.")
    if ck.close(got, p / n) or ck.close(got, p):
        return ("you forgot the one-hot. Subtract 1 at each image's label: "
                "dz[np.arange(N), y] -= 1.")
    if ck.close(got, (p - onehot) / k):
        return f"you divided by K = {k}, the number of classes. Divide by N = {n}, the number of images."
    rows_bug = p.copy()
    rows_bug[y] -= 1
    if ck.close(got, rows_bug / n) or ck.close(got, rows_bug):
        return ("dz[y] -= 1 changes whole rows, the images numbered by the labels. Subtract 1 "
                "at one entry per row: dz[np.arange(N), y] -= 1.")
    return None


def check_softmax_ce_grad(fn) -> Feedback:
    """fn(z, y) -> dz: z (N, K) logits, y (N,) integer labels; the gradient (N, K) of the mean
    cross-entropy loss with respect to z, (softmax(z) - onehot(y)) / N. Checked against the
    formula and against a numerical gradient."""
    if is_unfinished(fn):
        return not_done()
    problem = ck.not_a_function(fn, "check_softmax_ce_grad(softmax_ce_grad)")
    if problem is not None:
        return problem
    first = None
    for case, z, y in _logit_cases(seed=51):
        z_in = z.copy()
        result, fb = ck.call(fn, z_in, y.copy())
        if fb is not None:
            return ck.raised(fb, case, KEEPDIMS_HINT)
        got, fb = ck.as_numbers(result)
        if fb is not None:
            return fb
        expected = softmax_ce_grad_solution(z, y)
        if ck.close(got, expected):
            changed = ck.changed_input(z, z_in, "z")
            if changed is not None:
                return changed
            first = got if first is None else first
            continue
        message = _grad_mistake(got, z, y) or ck.near_miss(got, expected)
        if message:
            return wrong(f"{case}: {message}")
        return wrong(f"{case}, {ck.first_difference(got, expected)}. The gradient is "
                     f"(softmax(z) - onehot(y)) / N.")
    _, z, y = _logit_cases(seed=51)[0]
    numerical = numerical_gradient(lambda v: cross_entropy_solution(v, y), z.copy())
    error = rel_error(first, numerical)
    return correct(f"your gradient is right on all three inputs. On the small logits it agrees "
                   f"with a numerical gradient (central differences): relative error {error:.0e}.")


# ---------------------------------------------------------------------------------------------
# Exercises 6-8: the optimizers (SGD, momentum, Adam), updating the parameters in place
# ---------------------------------------------------------------------------------------------

PARAM_SHAPES = [(3, 4), (4,), (2, 1, 3, 3)]      # a weight matrix, a bias, a small conv kernel


def _optimizer_case(seed, steps=3, grad_scale=1.0):
    """Starting parameters and the gradients of `steps` steps (lists of float64 arrays)."""
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s) for s in PARAM_SHAPES]
    grads = [[grad_scale * rng.normal(size=s) for s in PARAM_SHAPES] for _ in range(steps)]
    return start, grads


def _in_place_problem(params, arrays, before, returned):
    """A Feedback when the step did not update the caller's arrays in place, else None.
    params: the list after the call; arrays: the array objects it held before; before: copies
    of their values before the call; returned: what the function returned."""
    if not isinstance(params, list) or len(params) != len(arrays):
        return wrong("your function changed the list params itself (its length). Update each "
                     "array in it, and leave the list alone.")
    for i, (p, a) in enumerate(zip(params, arrays)):
        if p is not a:
            return wrong(f"you put a new array into params[{i}] (params[{i}] = ...). The network's "
                         f"layer still holds the old array, so it would not learn. Change the array "
                         f"itself: p -= lr * g.")
    unchanged = [i for i, (a, b) in enumerate(zip(arrays, before)) if np.array_equal(a, b)]
    if len(unchanged) == len(arrays):
        if returned is not None:
            return wrong("you returned new values, but the caller's arrays did not change. The "
                         "layers hold those arrays: update them in place (p -= lr * g) and return "
                         "nothing.")
        return wrong("nothing changed: the parameters hold their old values. p = p - lr * g makes a "
                     "new array and only renames it p. Write p -= lr * g to change the array itself.")
    if unchanged:
        return wrong(f"params[{unchanged[0]}] did not change. Update every array in the list.")
    return None


def _run_steps(fn, start, grad_steps, make_args):
    """Call fn once per step on copies of start; returns (path, None) or (None, Feedback).
    path: the parameter values after each step. make_args(params, grads, step) -> the
    arguments of the call (the optimizer's memory lives in the caller's lists)."""
    params = [p.copy() for p in start]
    arrays = list(params)
    path = []
    for step, grads in enumerate(grad_steps, start=1):
        before = [a.copy() for a in arrays]
        args = make_args(params, [g.copy() for g in grads], step)
        returned, fb = ck.call(fn, *args)
        if fb is not None:
            return None, ck.raised(fb, f"at step {step}")
        problem = _in_place_problem(params, arrays, before, returned)
        if problem is not None:
            return None, wrong(f"at step {step}: {problem.message}")
        path.append([a.copy() for a in arrays])
    return path, None


def _same_path(got, expected, start):
    """True when two parameter paths agree: compares the changes from the start (so that the
    tolerance applies to the step size, not to the parameters)."""
    return all(ck.close(g - s, e - s, equal_nan=True)
               for got_step, exp_step in zip(got, expected)
               for g, e, s in zip(got_step, exp_step, start))


def _path_difference(got, expected, start):
    """In words: the first step and parameter where the two paths differ."""
    for step, (got_step, exp_step) in enumerate(zip(got, expected), start=1):
        for i, (g, e, s) in enumerate(zip(got_step, exp_step, start)):
            if not ck.close(g - s, e - s):
                moved = ck.first_difference(g - s, e - s, verb="it moved by")
                return f"after step {step}, params[{i}] {moved} (from the start)"
    return "the parameters differ"


@register_solution("sgd_step")
def sgd_step_solution(params, grads, lr):
    for p, g in zip(params, grads):
        p -= lr * g        # in place: the layer that holds p sees the new values


def check_sgd_step(fn) -> Feedback:
    """fn(params, grads, lr) -> None: params and grads are lists of arrays; updates every array
    of params in place, p -= lr * g."""
    if is_unfinished(fn):
        return not_done()
    problem = ck.not_a_function(fn, "check_sgd_step(sgd_step)")
    if problem is not None:
        return problem
    for lr, seed in ((0.1, 61), (0.5, 62)):
        start, grad_steps = _optimizer_case(seed, steps=1)
        path, fb = _run_steps(fn, start, grad_steps, lambda p, g, step: (p, g, lr))
        if fb is not None:
            return wrong(f"with lr={lr}, {fb.message}") if fb.done else fb
        g = grad_steps[0]
        variants = [([s - lr * gi for s, gi in zip(start, g)], None),
                    ([s + lr * gi for s, gi in zip(start, g)],
                     "the sign is reversed: p += lr * g climbs uphill and makes the loss larger. "
                     "Step against the gradient: p -= lr * g."),
                    ([s - lr * lr * gi for s, gi in zip(start, g)],
                     f"you applied the learning rate twice (lr * lr * g = {lr * lr:g} * g). "
                     f"Multiply g by lr once."),
                    ([s - gi for s, gi in zip(start, g)],
                     "the learning rate is missing: p -= g. Multiply the gradient by lr."),
                    ([s - gi / lr for s, gi in zip(start, g)],
                     "you divided the gradient by lr. Multiply it: p -= lr * g.")]
        for expected, message in variants:
            if _same_path(path, [expected], start):
                if message is None:
                    break
                return wrong(f"with lr={lr}: {message}")
        else:
            return wrong(f"with lr={lr}, {_path_difference(path, [variants[0][0]], start)}. "
                         f"SGD does p -= lr * g for each pair (p, g).")
    return correct("your SGD step is right for two learning rates, and it changes the caller's "
                   "arrays in place.")


@register_solution("momentum_step")
def momentum_step_solution(params, grads, velocities, lr, momentum=0.9):
    for p, g, v in zip(params, grads, velocities):
        v *= momentum      # v <- momentum * v + g, as helpers.optim.Momentum (and PyTorch)
        v += g             # in place: the caller keeps v for the next step
        p -= lr * v


def _momentum_path(start, grad_steps, lr, momentum, mistake=None):
    """The parameters after each step, for the right rule (mistake=None) or a usual mistake."""
    params = [p.copy() for p in start]
    velocities = [np.zeros_like(p) for p in start]
    path = []
    for grads in grad_steps:
        for p, g, v in zip(params, grads, velocities):
            if mistake == "no memory":
                v[...] = 0
            if mistake == "momentum on gradient":
                v += momentum * g
            elif mistake == "averaged":
                v *= momentum
                v += (1 - momentum) * g
            else:
                v *= momentum
                v += g
            if mistake == "sign":
                p += lr * v
            else:
                p -= lr * v
        path.append([p.copy() for p in params])
    return path


MOMENTUM_MISTAKES = {
    "no memory": ("the velocity is not kept between steps, so every step is a plain SGD step. "
                  "Update velocities[i] in place (v *= momentum; v += g), so the next call sees it."),
    "sign": ("the sign is reversed: the parameters move uphill. Step against the velocity: "
             "p -= lr * v."),
    "momentum on gradient": ("you multiplied the gradient by momentum (v += momentum * g). Momentum "
                             "scales the old velocity: v = momentum * v + g."),
    "averaged": ("you used the averaged form v = momentum * v + (1 - momentum) * g. Its steps are "
                 "(1 - momentum) times smaller. The course and PyTorch use v = momentum * v + g."),
}


def check_momentum_step(fn) -> Feedback:
    """fn(params, grads, velocities, lr, momentum=0.9) -> None: lists of arrays; the rule of
    helpers.optim.Momentum, v = momentum * v + g; p -= lr * v, both in place. Checked over three
    steps. The form v = momentum * v - lr * g; p += v gives the same steps and is accepted."""
    if is_unfinished(fn):
        return not_done()
    problem = ck.not_a_function(fn, "check_momentum_step(momentum_step)")
    if problem is not None:
        return problem
    other_form = False
    for lr, momentum, seed in ((0.1, 0.9, 71), (0.05, 0.5, 72)):
        start, grad_steps = _optimizer_case(seed)
        velocities = [np.zeros_like(p) for p in start]
        path, fb = _run_steps(fn, start, grad_steps,
                                    lambda p, g, step: (p, g, velocities, lr, momentum))
        setting = f"lr={lr}, momentum={momentum}"
        if fb is not None:
            return wrong(f"with {setting}, {fb.message}") if fb.done else fb
        expected = _momentum_path(start, grad_steps, lr, momentum)
        if _same_path(path, expected, start):
            v_ref = momentum * (momentum * grad_steps[0][0] + grad_steps[1][0]) + grad_steps[2][0]
            other_form = other_form or ck.close(velocities[0], -lr * v_ref)
            continue
        if all(np.all(np.asarray(v) == 0) for v in velocities):
            return wrong(f"with {setting}: the velocities did not change, so each step forgets the "
                         f"last one. Update velocities[i] in place (v *= momentum; v += g). "
                         f"v = ... alone only makes a new local array.")
        for mistake, message in MOMENTUM_MISTAKES.items():
            if _same_path(path, _momentum_path(start, grad_steps, lr, momentum, mistake), start):
                return wrong(f"with {setting}: {message}")
        return wrong(f"with {setting}, {_path_difference(path, expected, start)}. Momentum does "
                     f"v = momentum * v + g, then p -= lr * v, for each parameter.")
    note = ""
    if other_form:
        note = (" You store v = momentum * v - lr * g (CS231n's form). helpers.optim.Momentum stores "
                "v = momentum * v + g and steps by -lr * v: the same steps while lr stays fixed.")
    return correct("your momentum step follows the reference for three steps, with two settings, "
                   "and updates the arrays in place." + note)


@register_solution("adam_step")
def adam_step_solution(params, grads, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    for p, g, m_i, v_i in zip(params, grads, m, v):
        m_i *= beta1                       # running mean of g (in place: kept for the next step)
        m_i += (1 - beta1) * g
        v_i *= beta2                       # running mean of g**2
        v_i += (1 - beta2) * g * g
        m_hat = m_i / (1 - beta1 ** t)     # bias correction: m and v start at 0; t starts at 1
        v_hat = v_i / (1 - beta2 ** t)
        p -= lr * m_hat / (np.sqrt(v_hat) + eps)   # eps outside the square root, as PyTorch


def _adam_path(start, grad_steps, lr, beta1, beta2, eps, mistake=None):
    """The parameters after each step, for the right Adam (mistake=None) or a usual mistake."""
    params = [p.copy() for p in start]
    ms = [np.zeros_like(p) for p in start]
    vs = [np.zeros_like(p) for p in start]
    path = []
    with np.errstate(all="ignore"):
        for t, grads in enumerate(grad_steps, start=1):
            for p, g, m, v in zip(params, grads, ms, vs):
                if mistake == "no memory":
                    m[...], v[...] = 0, 0
                m[...] = beta1 * m + (1 - beta1) * g
                if mistake == "g not squared":
                    v[...] = beta2 * v + (1 - beta2) * g
                elif mistake == "scaled then squared":
                    v[...] = beta2 * v + ((1 - beta2) * g) ** 2
                else:
                    v[...] = beta2 * v + (1 - beta2) * g * g
                tt = {"t + 1": t + 1, "t - 1": t - 1}.get(mistake, t)
                m_hat, v_hat = m / (1 - beta1 ** tt), v / (1 - beta2 ** tt)
                if mistake == "no bias correction":
                    m_hat, v_hat = m, v
                if mistake == "eps inside":
                    step = lr * m_hat / np.sqrt(v_hat + eps)
                elif mistake == "no sqrt":
                    step = lr * m_hat / (v_hat + eps)
                elif mistake == "eps before correction":
                    step = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t) * m / (np.sqrt(v) + eps)
                else:
                    step = lr * m_hat / (np.sqrt(v_hat) + eps)
                if mistake == "sign":
                    p += step
                else:
                    p -= step
            path.append([p.copy() for p in params])
    return path


ADAM_MISTAKES = {
    "sign": "the sign is reversed: the parameters move uphill. Subtract the step: p -= lr * ...",
    "no bias correction": ("the bias correction is missing. m and v start at 0, so divide them by "
                           "(1 - beta1**t) and (1 - beta2**t) before the step."),
    "t - 1": ("your bias correction divides by 1 - beta**0 = 0 at the first step. Here t is already "
              "1 at the first step: use beta1**t as it comes."),
    "t + 1": ("your bias correction uses t + 1. Here t is already the step number (1 at the first "
              "step): use beta1**t as it comes."),
    "no memory": ("m and v are not kept between steps. Update m[i] and v[i] in place "
                  "(m_i *= beta1; m_i += ...), so the next call sees them."),
    "g not squared": "v must average the squared gradient: v = beta2 * v + (1 - beta2) * g**2.",
    "scaled then squared": ("you squared (1 - beta2) too. Square only the gradient: "
                            "v = beta2 * v + (1 - beta2) * g**2."),
    "no sqrt": "divide by the square root of v_hat: lr * m_hat / (np.sqrt(v_hat) + eps).",
    "eps inside": ("you put eps inside the square root, np.sqrt(v_hat + eps). The course's Adam, like "
                   "PyTorch's, adds it outside: np.sqrt(v_hat) + eps. The two differ when the "
                   "gradients are small."),
    "eps before correction": ("you added eps to sqrt(v) before the bias correction (the paper's short "
                              "form, used by Keras). The course's Adam, like PyTorch's, adds eps to "
                              "sqrt(v_hat). The two differ when the gradients are small."),
}


def check_adam_step(fn) -> Feedback:
    """fn(params, grads, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8) -> None: params,
    grads, m, v are lists of arrays; t is the step number (1 at the first step). The rule of
    helpers.optim.Adam, in place. Checked over three steps, with gradients of size about 1 and
    about 1e-4 (where eps matters)."""
    if is_unfinished(fn):
        return not_done()
    problem = ck.not_a_function(fn, "check_adam_step(adam_step)")
    if problem is not None:
        return problem
    settings = [("lr=0.01, beta1=0.8, beta2=0.99", (0.01, 0.8, 0.99, 1e-8), 1.0, 81),
                ("the defaults and small gradients (about 1e-4)",
                 (1e-3, 0.9, 0.999, 1e-8), 1e-4, 82)]
    for setting, hyper, scale, seed in settings:
        start, grad_steps = _optimizer_case(seed, grad_scale=scale)
        m = [np.zeros_like(p) for p in start]
        v = [np.zeros_like(p) for p in start]
        path, fb = _run_steps(fn, start, grad_steps, lambda p, g, t: (p, g, m, v, t, *hyper))
        if fb is not None:
            return wrong(f"with {setting}, {fb.message}") if fb.done else fb
        expected = _adam_path(start, grad_steps, *hyper)
        if _same_path(path, expected, start):
            continue
        if all(np.all(np.asarray(a) == 0) for a in m + v):
            return wrong(f"with {setting}: m and v did not change, so each step forgets the last "
                         f"ones. Update m[i] and v[i] in place (m_i *= beta1; m_i += ...). "
                         f"m_i = ... alone only makes a new local array.")
        for mistake, message in ADAM_MISTAKES.items():
            if _same_path(path, _adam_path(start, grad_steps, *hyper, mistake=mistake), start):
                return wrong(f"with {setting}: {message}")
        if not all(np.all(np.isfinite(p)) for p in path[0]):
            return wrong(f"with {setting}, the parameters hold NaN or inf after step 1. Does the bias "
                         f"correction divide by 0? t is 1 at the first step, so 1 - beta1**t is not 0.")
        return wrong(f"with {setting}, {_path_difference(path, expected, start)}. Adam: "
                     f"m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g**2; m_hat = m/(1-beta1**t); "
                     f"v_hat = v/(1-beta2**t); p -= lr * m_hat / (sqrt(v_hat) + eps).")
    return correct("your Adam step matches helpers.optim.Adam for three steps, with large and small "
                   "gradients, and updates the arrays in place.")
