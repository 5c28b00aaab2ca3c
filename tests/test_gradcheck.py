"""helpers.gradcheck: numerical gradients, relative error, and that checks catch wrong backwards."""
import numpy as np
import pytest

from helpers.gradcheck import (check_layer, check_model, numerical_gradient,
                               numerical_gradient_array, rel_error)
from helpers.layers import Dense, Flatten, ReLU, SoftmaxCrossEntropy
from helpers.model import Sequential


def test_numerical_gradient_of_known_functions():
    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.5]])
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v ** 2), x), 2 * x, atol=1e-8)
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(np.sin(v)), x), np.cos(x),
                               rtol=1e-8)
    assert x[0, 0] == 1.0                           # x restored after the perturbations


def test_numerical_gradient_array_is_the_vector_jacobian_product():
    x = np.array([0.3, -1.2, 2.0])
    dout = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(numerical_gradient_array(np.tanh, x, dout),
                               dout * (1 - np.tanh(x) ** 2), rtol=1e-8)


def test_rel_error():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [1.1]) == pytest.approx(0.1 / 2.1)
    assert rel_error([0.0], [0.0]) == 0.0            # the 1e-8 floor avoids 0 / 0
    assert rel_error(np.zeros((0,)), np.zeros((0,))) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.zeros(2), np.zeros(3))


class WrongDense(Dense):
    """A typical bug: the weight gradient is off by a constant factor (a stray 1/2)."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["W"] = self.grads["W"] * 0.5
        return dx


class WrongReLU(ReLU):
    """Another: backward forgets the mask and lets every gradient through."""

    def backward(self, dout):
        return dout


def test_check_layer_catches_wrong_backward():
    x = np.random.default_rng(0).standard_normal((4, 5))
    assert check_layer(Dense(5, 3, rng=0), x)["W"] < 1e-7
    errors = check_layer(WrongDense(5, 3, rng=0), x)
    assert errors["W"] > 0.1 and errors["x"] < 1e-7 and errors["b"] < 1e-7
    assert check_layer(WrongReLU(), x)["x"] > 0.1


def test_check_layer_converts_to_float64():
    layer = Dense(3, 2, rng=0)
    check_layer(layer, np.ones((2, 3), np.float32))
    assert layer.params["W"].dtype == np.float64


def test_check_model():
    model = Sequential(Flatten(), Dense(6, 4, rng=0), ReLU(), Dense(4, 3, rng=1))
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((5, 1, 2, 3)), np.array([0, 1, 2, 0, 1])
    errors = check_model(model, SoftmaxCrossEntropy(), x, y)
    assert set(errors) == {"x", "1.W", "1.b", "3.W", "3.b"}
    assert max(errors.values()) < 1e-6, errors
    broken = Sequential(Flatten(), WrongDense(6, 3, rng=0))
    assert check_model(broken, SoftmaxCrossEntropy(), x, y)["1.W"] > 0.1


class ForgetfulDense(Dense):
    """A backward that stores no gradient for the bias (a forgotten line)."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads.pop("b", None)
        return dx


def test_a_missing_gradient_is_an_error_not_a_skip():
    x = np.random.default_rng(0).standard_normal((4, 5))
    errors = check_layer(ForgetfulDense(5, 3, rng=0), x)
    assert errors["b"] == np.inf and errors["W"] < 1e-7
    model = Sequential(Flatten(), ForgetfulDense(5, 3, rng=0))
    assert check_model(model, SoftmaxCrossEntropy(), x[:, None], np.array([0, 1, 2, 0]))["1.b"] == np.inf
    frozen = ForgetfulDense(5, 3, rng=0)
    frozen.trainable = False                        # frozen layers store no gradients at all
    assert set(check_layer(frozen, x)) == {"x"}


# --- issue 29: what the fuzzer found (tests/test_fuzz_helpers.py) ---------------------------

def test_gradients_of_an_empty_array_are_empty():
    """np.nditer raised 'Iteration of zero-sized operands is not enabled'."""
    assert numerical_gradient(lambda x: 0.0, np.zeros((0, 2))).shape == (0, 2)
    assert check_layer(Dense(2, 2, rng=0), np.zeros((0, 2)))["x"] == 0.0


def test_gradcheck_arguments_are_checked():
    with pytest.raises(TypeError, match=r"x must be a float NumPy array, perturbed in place, got "
                                        r"ndarray of dtype int64"):
        numerical_gradient(lambda x: 0.0, np.ones(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"h \(the step\) must be a positive number, got nan"):
        numerical_gradient(lambda x: 0.0, np.ones(3), h=float("nan"))
    with pytest.raises(TypeError, match=r"a must hold real numbers .*complex"):
        rel_error(np.ones(2, complex), np.ones(2))          # was a ComplexWarning, then a number
    with pytest.raises(ValueError, match=r"rel_error needs a and b of the same shape, got a \(\) "
                                         r"and b \(3,\)"):
        rel_error(1.0, np.ones(3))
