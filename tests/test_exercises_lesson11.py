"""Checkers of lessons 11 (loss, optimizers) and 13 (dropout, batch normalisation)."""
import numpy as np
import pytest

from helpers.exercises import Feedback, lesson13, solution
from helpers.optim import Adam

EXPECTED = {"conv": 780, "hidden": 432_100, "output": 1_010}



# =============================================================================================
# Training from first principles: softmax, the loss and its gradient, the optimizers, dropout
# and batch normalisation
# =============================================================================================

from helpers.exercises import lesson11 as L  # noqa: E402
from helpers.layers import BatchNorm2D, Dropout, SoftmaxCrossEntropy  # noqa: E402
from helpers.optim import SGD, Momentum  # noqa: E402  (Adam is imported above)


def _todo(*args, **kwargs):
    raise NotImplementedError


def _raises(*args, **kwargs):
    raise ValueError("boom")


ODD_VALUES = [None, 3, "3", [], np.zeros((0,)), np.float64("nan"), ..., {}, np.zeros((0, 3)),
              np.array([["a", "b"]]), object(), 1j, np.full((2, 2), np.inf), (1, 2), ("a", None)]
ODD_FUNCTIONS = ([_raises, lambda *a, **k: None, lambda *a, **k: "probabilities",
                  lambda *a, **k: [1, 2, 3], lambda *a, **k: np.zeros((2, 2)),
                  lambda *a, **k: np.full((7, 7, 7), np.nan)]
                 + [lambda *a, v=v, **k: v for v in ODD_VALUES])
CHECKERS = [L.check_softmax, L.check_cross_entropy, L.check_softmax_ce_grad, L.check_sgd_step,
            L.check_momentum_step, L.check_adam_step, lesson13.check_dropout_forward,
            lesson13.check_dropout_backward, lesson13.check_batchnorm_forward]
SOLUTIONS = {"softmax": L.softmax_solution, "cross_entropy": L.cross_entropy_solution,
             "softmax_ce_grad": L.softmax_ce_grad_solution, "sgd_step": L.sgd_step_solution,
             "momentum_step": L.momentum_step_solution, "adam_step": L.adam_step_solution,
             "dropout_forward": lesson13.dropout_forward_solution,
             "dropout_backward": lesson13.dropout_backward_solution,
             "batchnorm_forward": lesson13.batchnorm_forward_solution}


def _says(fb, phrase):
    """fb is a wrong answer (attempted) whose message contains phrase."""
    assert isinstance(fb, Feedback) and not fb.ok and fb.done, str(fb)
    assert phrase in fb.message, fb.message


def _never_right(fb):
    assert isinstance(fb, Feedback) and not fb.ok
    assert isinstance(fb.message, str) and fb.message
    assert str(fb) and fb._repr_html_()


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_reference_solutions_pass_and_are_registered(name):
    module = lesson13 if name.startswith(("dropout", "batchnorm")) else L
    fb = getattr(module, f"check_{name}")(SOLUTIONS[name])
    assert isinstance(fb, Feedback) and fb.ok, fb.message
    src = solution(name, show=False)
    assert "def " in src and "@register_solution" not in src


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("unfinished", [None, ..., _todo], ids=["None", "Ellipsis", "raises"])
def test_unfinished_answers_are_not_done(check, unfinished):
    fb = check(unfinished)
    assert not fb.ok and not fb.done and "your code here" in fb.message


@pytest.mark.parametrize("check", [L.check_softmax, L.check_cross_entropy, L.check_softmax_ce_grad,
                                   lesson13.check_dropout_forward, lesson13.check_dropout_backward,
                                   lesson13.check_batchnorm_forward], ids=lambda c: c.__name__)
def test_a_function_that_returns_none_is_not_done(check):
    fb = check(lambda *a, **k: None)
    assert not fb.ok and not fb.done and "returned None" in fb.message


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("odd", ODD_VALUES + ODD_FUNCTIONS)
def test_odd_answers_never_raise_and_are_never_right(check, odd):
    _never_right(check(odd))


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
def test_a_value_instead_of_a_function(check):
    _says(check(np.ones((3, 3))), "pass your function itself")


# --- softmax ------------------------------------------------------------------------------------

def _softmax_no_max(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _softmax_global_max(z):
    e = np.exp(z - z.max())
    return e / e.sum(axis=1, keepdims=True)


def _softmax_in_place(z):
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _softmax_no_keepdims(z):
    e = np.exp(z - z.max(axis=1))
    return e / e.sum(axis=1)


def test_softmax_other_right_answers_pass():
    def via_logsumexp(z):
        m = z.max(axis=1, keepdims=True)
        return np.exp(z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True)))
    assert L.check_softmax(via_logsumexp).ok
    assert L.check_softmax(lambda z: L.softmax_solution(z).tolist()).ok       # a list is fine


@pytest.mark.parametrize("fn, phrase", [
    (lambda z: np.exp(z - z.max(axis=0)) / np.exp(z - z.max(axis=0)).sum(axis=0), "each column sums to 1"),
    (lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(), "the whole array sums to 1"),
    (_softmax_no_max, "Subtract the row maximum"),
    (_softmax_global_max, "Subtract each row's own maximum"),
    (lambda z: np.exp(z - z.max(axis=1, keepdims=True)), "not 1. Divide each exp by its row's sum"),
    (lambda z: np.exp(z), "not 1. Divide each exp by its row's sum"),
    (lambda z: L._stable_log_softmax(z), "log-probabilities"),
    (_softmax_in_place, "changed z in place"),
    (_softmax_no_keepdims, "keepdims=True"),
    (lambda z: L.softmax_solution(z)[:, 0], "expected (4, 5)"),
    (lambda z: L.softmax_solution(z).T, "expected (4, 5)"),
    (lambda z: L.softmax_solution(z) + 0.01, "exp(z - max) / sum(exp(z - max))"),
])
def test_softmax_names_the_mistake(fn, phrase):
    _says(L.check_softmax(fn), phrase)


def test_softmax_large_logits_message_names_the_overflow():
    fb = L.check_softmax(_softmax_no_max)
    assert fb.message.startswith("on large logits (around 1000): your result contains NaN or inf")
    assert "overflows to inf" in fb.message


# --- cross-entropy ----------------------------------------------------------------------------

def _log_p(z):
    return L._stable_log_softmax(z)


def _ce_of_softmax_without_max(z, y):
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(y)), y]))


def _ce_of_stable_softmax(z, y):
    return -np.mean(np.log(L.softmax_solution(z)[np.arange(len(y)), y]))


def _ce_clipped(z, y):
    return -np.mean(np.log(L.softmax_solution(z)[np.arange(len(y)), y] + 1e-7))


def _ce_lse_without_max(z, y):
    return -np.mean(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1)))


def test_cross_entropy_other_right_answers_pass():
    assert L.check_cross_entropy(lambda z, y: SoftmaxCrossEntropy().forward(z, y)).ok
    assert L.check_cross_entropy(lambda z, y: np.array([L.cross_entropy_solution(z, y)])).ok


@pytest.mark.parametrize("fn, phrase", [
    (lambda z, y: -np.sum(_log_p(z)[np.arange(len(y)), y]), "sum over the 6 images"),
    (lambda z, y: np.mean(_log_p(z)[np.arange(len(y)), y]), "minus sign is missing"),
    (lambda z, y: -np.mean(_log_p(z)[:, 0]), "probability of class 0"),
    (lambda z, y: -np.mean(_log_p(z)[y]), "log_p[y] picks whole rows"),
    (lambda z, y: -np.mean(_log_p(z)[:, y]), "N × N table"),
    (lambda z, y: -np.mean(_log_p(z)), "all classes"),
    (lambda z, y: -np.mean(np.exp(_log_p(z))[np.arange(len(y)), y]), "Take their log"),
    (lambda z, y: -np.mean(_log_p(z)[np.arange(len(y)), y]) / np.log(10), "natural logarithm"),
    (_ce_of_softmax_without_max, "np.exp(1000) overflows"),
    (_ce_lse_without_max, "np.exp(1000) overflows"),
    (_ce_of_stable_softmax, "log(0) is -inf"),
    (_ce_clipped, "clip the probabilities"),
    (lambda z, y: -_log_p(z)[np.arange(len(y)), y], "one loss per image"),
    (lambda z, y: -_log_p(z), "Return one number"),
    (lambda z, y: L.cross_entropy_solution(z, y) + 0.5, "-mean(log_p[np.arange(N), y])"),
])
def test_cross_entropy_names_the_mistake(fn, phrase):
    _says(L.check_cross_entropy(fn), phrase)


def test_cross_entropy_in_place_change_of_z():
    def in_place(z, y):
        z -= z.max(axis=1, keepdims=True)
        return L.cross_entropy_solution(z, y)
    _says(L.check_cross_entropy(in_place), "changed z in place")


# --- the gradient of softmax + cross-entropy ---------------------------------------------------

def _onehot(y, k):
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1
    return out


def _grad_rows_bug(z, y):
    p = L.softmax_solution(z)
    p[y] -= 1
    return p / len(y)


def test_softmax_ce_grad_reference_agrees_with_numerical_gradient_and_the_layer():
    from helpers.gradcheck import numerical_gradient, rel_error
    for _, z, y in L._logit_cases(seed=51)[:2]:
        num = numerical_gradient(lambda v: L.cross_entropy_solution(v, y), z.copy())
        assert rel_error(L.softmax_ce_grad_solution(z, y), num) < 1e-6
        layer = SoftmaxCrossEntropy()
        layer.forward(z, y)
        assert np.allclose(layer.backward(), L.softmax_ce_grad_solution(z, y), rtol=1e-12)
    fb = L.check_softmax_ce_grad(L.softmax_ce_grad_solution)
    assert "numerical gradient" in fb.message


def test_softmax_ce_grad_via_the_layer_passes():
    def via_layer(z, y):
        layer = SoftmaxCrossEntropy()
        layer.forward(z, y)
        return layer.backward()
    assert L.check_softmax_ce_grad(via_layer).ok


@pytest.mark.parametrize("fn, phrase", [
    (lambda z, y: L.softmax_solution(z) - _onehot(y, z.shape[1]), "gradient of the summed loss"),
    (lambda z, y: (_onehot(y, z.shape[1]) - L.softmax_solution(z)) / len(y), "sign is reversed"),
    (lambda z, y: L.softmax_solution(z) / len(y), "forgot the one-hot"),
    (lambda z, y: (L.softmax_solution(z) - _onehot(y, z.shape[1])).sum(axis=0), "summed over the images"),
    (lambda z, y: (L.softmax_solution(z) - _onehot(y, z.shape[1])) / z.shape[1], "divided by K = 4"),
    (_grad_rows_bug, "dz[y] -= 1 changes whole rows"),
    (lambda z, y: (_softmax_no_max(z) - _onehot(y, z.shape[1])) / len(y), "NaN or inf"),
    (lambda z, y: L.softmax_ce_grad_solution(z, y)[:, :2], "must have the shape of z"),
    (lambda z, y: L.softmax_ce_grad_solution(z, y) * 1.01, "(softmax(z) - onehot(y)) / N"),
])
def test_softmax_ce_grad_names_the_mistake(fn, phrase):
    _says(L.check_softmax_ce_grad(fn), phrase)


# --- SGD ----------------------------------------------------------------------------------------

def _sgd_rebind_items(params, grads, lr):
    for i in range(len(params)):
        params[i] = params[i] - lr * grads[i]


def _sgd_rebind_name(params, grads, lr):
    for p, g in zip(params, grads):
        p = p - lr * g          # noqa: F841 (the mistake under test)


def _sgd_return_new(params, grads, lr):
    return [p - lr * g for p, g in zip(params, grads)]


def _sgd_first_only(params, grads, lr):
    params[0] -= lr * grads[0]


def test_sgd_via_helpers_optim_passes():
    def via_helpers(params, grads, lr):
        opt = SGD([None], lr=lr)
        for p, g in zip(params, grads):
            opt.update(p, g, {})
    assert L.check_sgd_step(via_helpers).ok


@pytest.mark.parametrize("fn, phrase", [
    (lambda ps, gs, lr: [p.__iadd__(lr * g) for p, g in zip(ps, gs)] and None, "sign is reversed"),
    (lambda ps, gs, lr: [p.__isub__(lr * lr * g) for p, g in zip(ps, gs)] and None, "learning rate twice"),
    (lambda ps, gs, lr: [p.__isub__(g) for p, g in zip(ps, gs)] and None, "learning rate is missing"),
    (lambda ps, gs, lr: [p.__isub__(g / lr) for p, g in zip(ps, gs)] and None, "divided the gradient by lr"),
    (lambda ps, gs, lr: [p.__isub__(0.1 * g) for p, g in zip(ps, gs)] and None, "with lr=0.5"),
    (_sgd_rebind_items, "new array into params[0]"),
    (_sgd_rebind_name, "nothing changed"),
    (_sgd_return_new, "you returned new values"),
    (_sgd_first_only, "params[1] did not change"),
])
def test_sgd_names_the_mistake(fn, phrase):
    _says(L.check_sgd_step(fn), phrase)


def test_sgd_returning_the_list_as_well_is_still_right():
    def also_returns(params, grads, lr):
        L.sgd_step_solution(params, grads, lr)
        return params
    assert L.check_sgd_step(also_returns).ok


# --- momentum -----------------------------------------------------------------------------------

def _momentum_cs231n(params, grads, velocities, lr, momentum=0.9):
    for p, g, v in zip(params, grads, velocities):
        v *= momentum
        v -= lr * g
        p += v


def _momentum_rebind_v_in_list(params, grads, velocities, lr, momentum=0.9):
    for i, (p, g) in enumerate(zip(params, grads)):
        velocities[i] = momentum * velocities[i] + g
        p -= lr * velocities[i]


def _momentum_local_v(params, grads, velocities, lr, momentum=0.9):
    for p, g, v in zip(params, grads, velocities):
        v = momentum * v + g
        p -= lr * v


def _momentum_sign(params, grads, velocities, lr, momentum=0.9):
    for p, g, v in zip(params, grads, velocities):
        v *= momentum
        v += g
        p += lr * v


def _momentum_on_gradient(params, grads, velocities, lr, momentum=0.9):
    for p, g, v in zip(params, grads, velocities):
        v += momentum * g
        p -= lr * v


def _momentum_averaged(params, grads, velocities, lr, momentum=0.9):
    for p, g, v in zip(params, grads, velocities):
        v *= momentum
        v += (1 - momentum) * g
        p -= lr * v


def _momentum_rebind_params(params, grads, velocities, lr, momentum=0.9):
    for i, (g, v) in enumerate(zip(grads, velocities)):
        v *= momentum
        v += g
        params[i] = params[i] - lr * v


def _momentum_fixed_settings(params, grads, velocities, lr, momentum=0.9):
    L.momentum_step_solution(params, grads, velocities, 0.1, 0.9)


def test_momentum_matches_helpers_optim_and_other_right_forms_pass():
    def via_helpers(params, grads, velocities, lr, momentum=0.9):
        opt = Momentum([None], lr=lr, momentum=momentum)
        for p, g, v in zip(params, grads, velocities):
            opt.update(p, g, {"v": v})
    assert L.check_momentum_step(via_helpers).ok
    assert L.check_momentum_step(_momentum_rebind_v_in_list).ok
    fb = L.check_momentum_step(_momentum_cs231n)
    assert fb.ok and "CS231n's form" in fb.message
    assert "CS231n" not in L.check_momentum_step(L.momentum_step_solution).message


@pytest.mark.parametrize("fn, phrase", [
    (_momentum_local_v, "velocities did not change"),
    (_momentum_sign, "sign is reversed"),
    (_momentum_on_gradient, "multiplied the gradient by momentum"),
    (_momentum_averaged, "averaged form"),
    (_momentum_rebind_params, "new array into params[0]"),
    (_momentum_fixed_settings, "with lr=0.05, momentum=0.5, after step 1"),
])
def test_momentum_names_the_mistake(fn, phrase):
    _says(L.check_momentum_step(fn), phrase)


# --- Adam ---------------------------------------------------------------------------------------

def _adam(mistake=None):
    """A learner's Adam with one slip (None: right)."""
    def step(params, grads, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        for i, (p, g) in enumerate(zip(params, grads)):
            if mistake == "local moments":
                m_i = beta1 * m[i] + (1 - beta1) * g
                v_i = beta2 * v[i] + (1 - beta2) * g * g
            else:
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * (g if mistake == "g not squared" else g * g)
                m_i, v_i = m[i], v[i]
            tt = {"t - 1": t - 1, "t + 1": t + 1}.get(mistake, t)
            m_hat, v_hat = m_i / (1 - beta1 ** tt), v_i / (1 - beta2 ** tt)
            if mistake == "no bias correction":
                m_hat, v_hat = m_i, v_i
            denom = np.sqrt(v_hat + eps) if mistake == "eps inside" else np.sqrt(v_hat) + eps
            if mistake == "sign":
                p += lr * m_hat / denom
            else:
                p -= lr * m_hat / denom
    return step


def _adam_keras(params, grads, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    for p, g, m_i, v_i in zip(params, grads, m, v):
        m_i *= beta1
        m_i += (1 - beta1) * g
        v_i *= beta2
        v_i += (1 - beta2) * g * g
        lr_t = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        p -= lr_t * m_i / (np.sqrt(v_i) + eps)


def _adam_defaults_only(params, grads, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    L.adam_step_solution(params, grads, m, v, t)


def test_adam_matches_helpers_optim_and_the_learner_form_passes():
    def via_helpers(params, grads, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        opt = Adam([None], lr=lr, betas=(beta1, beta2), eps=eps)
        for p, g, m_i, v_i in zip(params, grads, m, v):
            opt.update(p, g, {"m": m_i, "v": v_i, "t": t - 1})
    assert L.check_adam_step(via_helpers).ok
    assert L.check_adam_step(_adam()).ok            # m[i] = ... stores the moments: fine


@pytest.mark.parametrize("mistake, phrase", [
    ("sign", "sign is reversed"),
    ("no bias correction", "bias correction is missing"),
    ("t - 1", "1 - beta**0 = 0"),
    ("t + 1", "uses t + 1"),
    ("local moments", "m and v did not change"),
    ("g not squared", "average the squared gradient"),
    ("eps inside", "eps inside the square root"),
])
def test_adam_names_the_mistake(mistake, phrase):
    _says(L.check_adam_step(_adam(mistake)), phrase)


def test_adam_eps_inside_is_explained():
    fb = L.check_adam_step(_adam("eps inside"))
    assert "np.sqrt(v_hat) + eps" in fb.message and "differ when the gradients are small" in fb.message


@pytest.mark.parametrize("fn, phrase", [
    (_adam_keras, "paper's short form"),
    (_adam_defaults_only, "after step 1, params[0] at"),
])
def test_adam_other_mistakes(fn, phrase):
    _says(L.check_adam_step(fn), phrase)


# --- dropout ------------------------------------------------------------------------------------

def _dropout(mistake=None):
    """A learner's dropout forward with one slip (None: right, drawn another way)."""
    def forward(x, p_drop, train, rng):
        if not train and mistake not in ("drops in eval", "scales in eval"):
            return x, None
        if mistake == "scales in eval" and not train:
            return x / (1 - p_drop), None
        keep_p = p_drop if mistake == "keeps p" else 1 - p_drop
        mask = rng.binomial(1, keep_p, size=x.shape)
        if mistake == "no scaling":
            return x * mask, mask
        if mistake == "divides by p":
            return x * mask / p_drop, mask
        if mistake == "scaled mask":
            mask = mask / (1 - p_drop)
            return x * mask, mask
        if mistake == "dropped mask":
            return x * mask / (1 - p_drop), 1 - mask
        return x * mask / (1 - p_drop), mask
    return forward


def _dropout_global_rng(x, p_drop, train, rng):
    if not train:
        return x, None
    mask = np.random.random(x.shape) >= p_drop
    return x * mask / (1 - p_drop), mask


def _dropout_in_place(x, p_drop, train, rng):
    if not train:
        return x, None
    mask = rng.random(x.shape) >= p_drop
    x *= mask / (1 - p_drop)
    return x, mask


def test_dropout_forward_other_right_answers_pass_and_match_the_layer():
    assert lesson13.check_dropout_forward(_dropout()).ok

    def via_layer(x, p_drop, train, rng):
        layer = Dropout(p_drop)
        layer.rng = rng
        out = layer.forward(x, train=train)
        return out, (None if layer.cache is None else layer.cache != 0)
    assert lesson13.check_dropout_forward(via_layer).ok


def test_dropout_backward_matches_the_layer():
    layer = Dropout(0.3, rng=0)
    x = np.random.default_rng(1).normal(size=(5, 8))
    out = layer.forward(x, train=True)
    mask = layer.cache != 0
    assert np.allclose(out, x * mask / 0.7)
    dout = np.random.default_rng(2).normal(size=(5, 8))
    assert np.allclose(layer.backward(dout), lesson13.dropout_backward_solution(dout, mask, 0.3))
    assert layer.forward(x, train=False) is x and lesson13.dropout_forward_solution(x, 0.3, False, None)[0] is x


@pytest.mark.parametrize("mistake, phrase", [
    ("no scaling", "out is not scaled. The mean of out is 0.80"),
    ("keeps p", "keeps 20% of the values, but p_drop = 0.2 is the probability to drop"),
    ("divides by p", "you divided by p_drop"),
    ("scaled mask", "already scaled"),
    ("dropped mask", "marks the dropped values"),
    ("scales in eval", "in evaluation (train=False) you scaled x"),
    ("drops in eval", "in evaluation (train=False) you dropped values"),
])
def test_dropout_forward_names_the_mistake(mistake, phrase):
    _says(lesson13.check_dropout_forward(_dropout(mistake)), phrase)


@pytest.mark.parametrize("fn, phrase", [
    (_dropout_global_rng, "the same seed gave a different mask"),
    (_dropout_in_place, "changed x in place"),
    (lambda x, p, train, rng: x, "return two values, (out, mask)"),
    (lambda x, p, train, rng: (x, None), "return the mask as well"),
    (lambda x, p, train, rng: (x * 0.8, None) if not train else _dropout()(x, p, train, rng),
     "non-inverted"),
])
def test_dropout_forward_other_mistakes(fn, phrase):
    _says(lesson13.check_dropout_forward(fn), phrase)


@pytest.mark.parametrize("fn, phrase", [
    (lambda d, mask, p: d / (1 - p), "the mask is missing"),
    (lambda d, mask, p: d * mask, "the scaling is missing"),
    (lambda d, mask, p: d * mask / p, "you divided by p_drop"),
    (lambda d, mask, p: d * mask * (1 - p), "you multiplied by 1 - p_drop"),
    (lambda d, mask, p: d * ~mask.astype(bool) / (1 - p), "dropped values (1 - mask)"),
    (lambda d, mask, p: d, "returned dout unchanged"),
    (lambda d, mask, p: np.multiply(d, mask / (1 - p), out=d), "changed dout in place"),
    (lambda d, mask, p: (d * mask / (1 - p))[0], "expected the shape of dout"),
])
def test_dropout_backward_names_the_mistake(fn, phrase):
    _says(lesson13.check_dropout_backward(fn), phrase)


# --- batch normalisation ------------------------------------------------------------------------

C4 = (1, -1, 1, 1)


def _bn(mistake=None):
    """A learner's batch norm forward with one slip (None: right)."""
    def forward(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
        axes = (0, 2, 3)
        if train or mistake == "batch stats in eval":
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            m = x.size // x.shape[1]
            unbiased = var * m / (m - 1)
            if mistake == "rebinds":
                running_mean = (1 - momentum) * running_mean + momentum * mean    # noqa: F841
            elif mistake == "replaces":
                running_mean[:] = mean
                running_var[:] = unbiased
            elif mistake == "reversed momentum":
                running_mean[:] = momentum * running_mean + (1 - momentum) * mean
                running_var[:] = momentum * running_var + (1 - momentum) * unbiased
            else:
                running_mean[:] = (1 - momentum) * running_mean + momentum * mean
                new_var = var if mistake == "biased running var" else unbiased
                running_var[:] = (1 - momentum) * running_var + momentum * new_var
            if mistake == "unbiased norm":
                var = unbiased
        else:
            mean, var = running_mean, running_var
        x_hat = (x - mean.reshape(C4)) / np.sqrt(var.reshape(C4) + eps)
        return gamma.reshape(C4) * x_hat + beta.reshape(C4)
    return forward


def _bn_whole_batch(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    mean, var = x.mean(), x.var()
    return gamma.reshape(C4) * (x - mean) / np.sqrt(var + eps) + beta.reshape(C4)


def _bn_per_pixel(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    mean, var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
    return gamma.reshape(C4) * (x - mean) / np.sqrt(var + eps) + beta.reshape(C4)


def _bn_per_pixel_with_update(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    mean, var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
    running_mean *= 1 - momentum
    running_mean += momentum * mean          # (C,) += (1, C, H, W): a broadcast error
    return gamma.reshape(C4) * (x - mean) / np.sqrt(var + eps) + beta.reshape(C4)


def _bn_eps_outside(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    mean, var = x.mean(axis=(0, 2, 3)).reshape(C4), x.var(axis=(0, 2, 3)).reshape(C4)
    return gamma.reshape(C4) * (x - mean) / (np.sqrt(var) + eps) + beta.reshape(C4)


def _bn_no_affine(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    out = _bn()(x, np.ones_like(gamma), np.zeros_like(beta), running_mean, running_var, train,
                momentum, eps)
    return out


def _bn_returns_tuple(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    out = _bn()(x, gamma, beta, running_mean, running_var, train, momentum, eps)
    return out, running_mean, running_var


def _bn_updates_in_eval(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    out = _bn()(x, gamma, beta, running_mean, running_var, train, momentum, eps)
    if not train:
        running_mean *= 0.5
    return out


def _bn_fixed_momentum(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
    return _bn()(x, gamma, beta, running_mean, running_var, train, 0.1, eps)


def test_batchnorm_reference_matches_the_layer_and_its_running_statistics():
    x, gamma, beta, r_mean, r_var = lesson13._bn_case(101)
    layer = BatchNorm2D(3, momentum=0.25, eps=1e-3, dtype=np.float64)
    layer.params = {"gamma": gamma.copy(), "beta": beta.copy()}
    layer.buffers = {"running_mean": r_mean.copy(), "running_var": r_var.copy()}
    mine_mean, mine_var = r_mean.copy(), r_var.copy()
    for train in (True, True, False):
        out = layer.forward(x, train=train)
        mine = lesson13.batchnorm_forward_solution(x, gamma, beta, mine_mean, mine_var, train, 0.25, 1e-3)
        assert np.allclose(out, mine, rtol=1e-12, atol=1e-12)
        assert np.allclose(layer.buffers["running_mean"], mine_mean, rtol=1e-12)
        assert np.allclose(layer.buffers["running_var"], mine_var, rtol=1e-12)


def test_batchnorm_via_the_layer_and_the_learner_form_pass():
    def via_layer(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
        layer = BatchNorm2D(x.shape[1], momentum=momentum, eps=eps, dtype=np.float64)
        layer.params = {"gamma": gamma, "beta": beta}
        layer.buffers = {"running_mean": running_mean, "running_var": running_var}
        return layer.forward(x, train=train)
    assert lesson13.check_batchnorm_forward(via_layer).ok
    assert lesson13.check_batchnorm_forward(_bn()).ok


@pytest.mark.parametrize("fn, phrase", [
    (_bn_whole_batch, "over the whole batch at once"),
    (_bn_per_pixel, "per pixel (axis=0)"),
    (_bn_per_pixel_with_update, "x.mean(axis=(0, 2, 3))"),
    (_bn("unbiased norm"), "normalised with the unbiased variance"),
    (_bn_eps_outside, "eps inside the square root"),
    (_bn_no_affine, "gamma and beta are missing"),
    (_bn("rebinds"), "running_mean and running_var did not change"),
    (_bn("replaces"), "replaced the running statistics by the batch's"),
    (_bn("reversed momentum"), "momentum convention is reversed"),
    (_bn("biased running var"), "running_var uses the biased variance"),
    (_bn("batch stats in eval"), "normalised with the batch's statistics"),
    (_bn_updates_in_eval, "the running statistics changed"),
    (_bn_returns_tuple, "Return only out"),
    (_bn_fixed_momentum, "training (momentum=0.25, eps=0.001): running_mean at"),
])
def test_batchnorm_names_the_mistake(fn, phrase):
    _says(lesson13.check_batchnorm_forward(fn), phrase)


# --- more right answers pass; near misses are named -------------------------------------------

def _dropout_uniform_float32_mask(x, p_drop, train, rng):
    if not train:
        return x.copy(), np.ones_like(x)
    mask = (rng.uniform(0, 1, x.shape) > p_drop).astype(np.float32)
    return x * mask / (1 - p_drop), mask


def _bn_one_pass(x, gamma, beta, rm, rv, train, momentum=0.1, eps=1e-5):
    c = x.shape[1]
    if train:
        m = x.size // c
        mu = np.einsum("nchw->c", x) / m
        var = np.einsum("nchw->c", x * x) / m - mu ** 2
        rm[:] = (1 - momentum) * rm + momentum * mu
        rv[:] = (1 - momentum) * rv + momentum * var * m / (m - 1)
    else:
        mu, var = rm, rv
    x_hat = (x - mu.reshape(1, c, 1, 1)) / np.sqrt(var.reshape(1, c, 1, 1) + eps)
    return gamma.reshape(1, c, 1, 1) * x_hat + beta.reshape(1, c, 1, 1)


def _adam_pytorch_form(params, grads, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    for i in range(len(params)):
        m[i][:] = beta1 * m[i] + (1 - beta1) * grads[i]
        v[i][:] = beta2 * v[i] + (1 - beta2) * grads[i] ** 2
        denom = np.sqrt(v[i]) / np.sqrt(1 - beta2 ** t) + eps
        params[i][...] = params[i] - lr / (1 - beta1 ** t) * m[i] / denom


def _momentum_with_out(params, grads, velocities, lr, momentum=0.9):
    for i in range(len(params)):
        np.multiply(velocities[i], momentum, out=velocities[i])
        velocities[i] += grads[i]
        np.subtract(params[i], lr * velocities[i], out=params[i])


@pytest.mark.parametrize("check, fn", [
    (L.check_softmax_ce_grad, lambda z, y: (L.softmax_solution(z) - np.eye(z.shape[1])[y]) / len(y)),
    (lesson13.check_dropout_forward, _dropout_uniform_float32_mask),
    (lesson13.check_batchnorm_forward, _bn_one_pass),
    (L.check_adam_step, _adam_pytorch_form),
    (L.check_momentum_step, _momentum_with_out),
    (L.check_sgd_step, lambda ps, gs, lr: [np.subtract(p, lr * g, out=p) for p, g in zip(ps, gs)]),
])
def test_other_right_answers_pass(check, fn):
    fb = check(fn)
    assert fb.ok, fb.message


def _softmax_float32(z):
    z = z.astype(np.float32)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_float32_arithmetic_is_named_where_it_loses_precision():
    # float32 holds 1000.x only to about 6e-5: the softmax of logits around 1000 drifts
    _says(L.check_softmax(_softmax_float32), "on large logits (around 1000): your values are close")


@pytest.mark.parametrize("check, fn", [
    (L.check_softmax, lambda z: L.softmax_solution(z) + 1e-7),
    (L.check_softmax_ce_grad, lambda z, y: L.softmax_ce_grad_solution(z, y) + 1e-7),
    (lesson13.check_dropout_backward, lambda d, mask, p: d * mask / (1 - p) + 1e-7),
    (lesson13.check_batchnorm_forward, lambda *a: lesson13.batchnorm_forward_solution(*a) * (1 + 3e-6)),
    (lesson13.check_dropout_forward,
     lambda x, p, train, rng: (lambda o, m: (o + 1e-7, m))(*_dropout()(x, p, train, rng))),
])
def test_near_misses_are_named(check, fn):
    _says(check(fn), "close, but not exact")



# --- issue 29: cases the checker fuzzer found (tests/test_fuzz_checkers.py) ------------------

@pytest.mark.parametrize("returned", [[None, []], ["", b"\x80"], [None, np.array([], dtype=object)],
                                      [[1.0, 2.0], [3.0]], np.array([None, 1.0], dtype=object),
                                      np.array(["1", "2"]), np.ones(3, dtype=complex)])
@pytest.mark.parametrize("check", [L.check_softmax, L.check_cross_entropy, L.check_softmax_ce_grad,
                                   lesson13.check_batchnorm_forward,
                                   lesson13.check_dropout_backward])
def test_a_result_that_is_no_array_of_numbers_is_named_not_a_crash(check, returned):
    """The checkers raised on a ragged list, bytes or None inside a list (np.iscomplexobj of
    them raises); and an object array holding None was taken as NaN."""
    fb = check(lambda *a, **k: returned)
    _says(fb, "not an array of numbers")
