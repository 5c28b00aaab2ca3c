"""Optimizers on 2-D loss surfaces: watch SGD, Momentum and Adam walk to a minimum (lesson 12).

A real network has thousands of weights, so we cannot draw its loss. A loss of only two numbers
(x, y) can be drawn as a contour map, and the path an optimizer takes across it shows what its
update rule does. Every step here is taken by the course's own optimizers (helpers.optim), so
the figure shows exactly the rules a network is trained with.

    surface = Bowl()                     # or Valley()
    paths = default_paths(surface)       # {"SGD": Path, "Momentum": Path, "Adam": Path}
    fig = plot_paths(surface, paths)
    print(table(compare("bowl")))

Two surfaces:
- ``Bowl``: an elongated quadratic bowl, steep across (y) and flat along (x). Plain SGD must
  keep its learning rate below 2 / b or it jumps further out at every step (``Bowl.sgd_limit``).
- ``Valley``: the Rosenbrock function, a narrow curved valley. Its floor is nearly flat and its
  walls are steep, so the learning rate that the walls allow is tiny for the floor.
"""
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from helpers.optim import SGD, Adam, Momentum
from helpers.shapes import check_array, check_number

OPTIMIZERS = {"SGD": SGD, "Momentum": Momentum, "Adam": Adam}


# --- the two surfaces -----------------------------------------------------------------------
class Bowl:
    """f(x, y) = (a x² + b y²) / 2: an elongated quadratic bowl with its minimum at (0, 0).

    With b > a the bowl is narrow in y and long in x. The gradient is (a x, b y). One SGD step
    multiplies y by (1 - lr b): for lr > 2 / b that factor is below -1, and y grows.
    """

    name, description = "bowl", "an elongated bowl"
    minimum = (0.0, 0.0)
    xlim, ylim = (-9.0, 3.0), (-2.5, 2.5)     # the window plot_paths draws
    log_levels = False

    def __init__(self, a=1.0, b=20.0):
        self.a = check_number(a, "a", low=0, low_open=True)
        self.b = check_number(b, "b", low=0, low_open=True)

    def value(self, x, y):
        """The loss at (x, y); x and y may be arrays of the same shape (a grid)."""
        return (self.a * x ** 2 + self.b * y ** 2) / 2

    def grad(self, x, y):
        """The gradient (df/dx, df/dy) at one point, shape (2,)."""
        return np.array([self.a * x, self.b * y])

    @property
    def sgd_limit(self):
        """The largest learning rate for which SGD does not blow up: 2 / (largest curvature)."""
        return 2 / max(self.a, self.b)

    def __repr__(self):
        return f"Bowl(a={self.a:g}, b={self.b:g})"

    def formula(self):
        a = "" if self.a == 1 else f"{self.a:g} "
        return f"f(x, y) = ({a}x² + {self.b:g} y²) / 2"


class Valley:
    """The Rosenbrock function f(x, y) = (1 - x)² + c (y - x²)², minimum 0 at (1, 1).

    The valley floor is the parabola y = x², where f = (1 - x)² changes slowly. Across the
    floor the walls are steep (curvature about 1,000 near the minimum for c = 100), so SGD
    must use a learning rate near 0.001 and then creeps along the floor. We keep the classic
    c = 100: SGD at lr = 0.001 does not diverge on it, it is only slow, which is the point.
    """

    name, description = "valley", "a narrow curved valley (Rosenbrock)"
    minimum = (1.0, 1.0)
    xlim, ylim = (-1.5, 1.5), (-0.5, 1.75)
    log_levels = True                          # the loss spans 0 to thousands

    def __init__(self, c=100.0):
        self.c = check_number(c, "c", low=0, low_open=True)

    def value(self, x, y):
        """The loss at (x, y); x and y may be arrays of the same shape (a grid)."""
        return (1 - x) ** 2 + self.c * (y - x ** 2) ** 2

    def grad(self, x, y):
        """The gradient (df/dx, df/dy) at one point, shape (2,)."""
        return np.array([-2 * (1 - x) - 4 * self.c * x * (y - x ** 2),
                         2 * self.c * (y - x ** 2)])

    def __repr__(self):
        return f"Valley(c={self.c:g})"

    def formula(self):
        return f"f(x, y) = (1 - x)² + {self.c:g} (y - x²)²"


SURFACES = {"bowl": Bowl, "valley": Valley}


# --- running an optimizer -------------------------------------------------------------------
class Point:
    """The point (x, y) as one trainable parameter, as helpers.optim sees it.

    An optimizer reads only ``data`` (it updates it in place), ``grad`` and ``trainable``:
    the same three attributes a helpers.layers.Parameter has. So the optimizer cannot tell
    this point from a weight of a network.
    """

    trainable = True

    def __init__(self, xy):
        self.data = np.array(xy, dtype=np.float64)   # shape (2,)
        self.grad = None


class Path(NamedTuple):
    """What one run visited: points (steps + 1, 2), the start first; losses (steps + 1,)."""
    name: str
    settings: dict
    points: np.ndarray
    losses: np.ndarray


def run(surface, optimizer, start, steps, lr, **kw):
    """Walk ``steps`` steps of helpers.optim's ``optimizer`` ("SGD", "Momentum" or "Adam")
    from ``start`` (x, y) on ``surface``. kw go to the optimizer (momentum=, betas=).
    Returns a Path: points (steps + 1, 2) and losses (steps + 1,)."""
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
    if isinstance(start, (str, bytes, dict)) or not hasattr(start, "__len__") or len(start) != 2:
        raise ValueError(f"start must be a point (x, y) of two finite numbers, got {start!r}")
    start = [check_number(v, "start (x, y)") for v in start]
    steps = check_number(steps, "steps", low=0, integer=True)
    point = Point(start)
    opt = OPTIMIZERS[optimizer]([point], lr=lr, **kw)
    points = [point.data.copy()]
    for _ in range(steps):
        point.grad = surface.grad(*point.data)   # what backward does in a network
        opt.step()                               # the library's own update rule
        points.append(point.data.copy())
    points = np.array(points)
    return Path(optimizer, {"lr": lr, **kw}, points, surface.value(points[:, 0], points[:, 1]))


# Chosen so that the differences are plain to see (measured numbers: tests/test_surfaces.py).
# Bowl: SGD at lr 0.09, just under its limit 2 / b = 0.1, zig-zags across and crawls along.
# Momentum uses the same lr, with momentum 0.7, not the usual 0.9: on this bowl 0.9 keeps too
# much speed and circles the minimum for long (its error shrinks by only sqrt(0.9) a step), so
# after 30 steps its loss (2.0) is worse than SGD's (0.11).
# Valley: SGD at lr 0.001 (at 0.002 it already jumps up the wall once).
DEFAULTS = {
    "bowl": {"start": (-8.0, 1.5), "steps": 30,
             "SGD": {"lr": 0.09}, "Momentum": {"lr": 0.09, "momentum": 0.7}, "Adam": {"lr": 0.3}},
    "valley": {"start": (-1.2, 1.0), "steps": 500,
               "SGD": {"lr": 1e-3}, "Momentum": {"lr": 1e-3, "momentum": 0.9}, "Adam": {"lr": 0.1}},
}


def default_paths(surface):
    """The three optimizers run with DEFAULTS[surface.name]: {"SGD": Path, ...}. Use the
    surface's default shape (Bowl(), Valley()): the settings were chosen for it."""
    d = DEFAULTS[surface.name]
    return {name: run(surface, name, d["start"], d["steps"], **d[name]) for name in OPTIMIZERS}


def compare(surface_name):
    """Final loss and distance to the minimum of each optimizer, with the default settings.

    surface_name: "bowl" or "valley". Returns {optimizer: {"lr", "steps", "final_loss",
    "distance"}}; print it with ``table``.
    """
    surface = SURFACES[surface_name]()
    result = {}
    for name, path in default_paths(surface).items():
        result[name] = {"lr": path.settings["lr"], "steps": len(path.losses) - 1,
                        "final_loss": float(path.losses[-1]),
                        "distance": float(np.linalg.norm(path.points[-1] - surface.minimum))}
    return result


def table(result):
    """The dict ``compare`` returns, as a small text table."""
    lines = [f"{'optimizer':<10}{'lr':>8}{'steps':>7}{'final loss':>13}{'distance':>11}"]
    for name, r in result.items():
        lines.append(f"{name:<10}{r['lr']:>8g}{r['steps']:>7}{r['final_loss']:>13.3g}"
                     f"{r['distance']:>11.3g}")
    return "\n".join(lines)


# --- the figure -----------------------------------------------------------------------------
# Okabe-Ito colours (safe for colour-blind readers), with a different marker and line each
STYLES = {"SGD": ("#D55E00", "o", "-"), "Momentum": ("#0072B2", "s", "--"),
          "Adam": ("#CC79A7", "^", "-.")}


def plot_paths(surface, paths, title=None, marks=30, ax=None):
    """Contour map of ``surface`` with each optimizer's path on it. Returns the figure.

    paths: {name: Path} (from ``default_paths`` or ``run``); marks: at most this many markers
    a path (so on a long run, one every few steps: their spacing shows the speed); a big
    marker shows where each path ends. The start is a black circle, the minimum a hollow star;
    the legend gives each final loss.
    """
    own_figure = ax is None
    if own_figure:
        width, height = np.ptp(surface.xlim), np.ptp(surface.ylim)
        fig, ax = plt.subplots(figsize=(8, 6.8 * height / width + 1.6), layout="constrained")
    fig = ax.figure
    gx, gy = np.meshgrid(np.linspace(*surface.xlim, 300), np.linspace(*surface.ylim, 300))
    z = surface.value(gx, gy)
    if surface.log_levels:                   # equal steps in log(loss): the floor shows
        levels = 10.0 ** np.arange(-1, np.log10(z.max()) + 0.25, 0.25)
        norm, ticks = LogNorm(levels[0], levels[-1]), 10.0 ** np.arange(-1, np.log10(z.max()))
    else:
        levels = MaxNLocator(16).tick_values(0, z.max())
        norm, ticks = None, None
    filled = ax.contourf(gx, gy, np.maximum(z, levels[0]), levels=levels, cmap="Greys",
                         norm=norm, alpha=0.55)
    ax.contour(gx, gy, z, levels=levels, colors="gray", linewidths=0.4)
    fig.colorbar(filled, cax=ax.inset_axes([1.03, 0, 0.03, 1]), ticks=ticks, format="%g",
                 label="loss" + (" (log scale)" if surface.log_levels else ""))
    for name, path in paths.items():
        colour, marker, line = STYLES.get(name, ("black", "x", ":"))
        steps = len(path.losses) - 1
        every = -(-steps // marks)           # steps / marks, rounded up
        settings = ", ".join(f"{k} {v}" for k, v in path.settings.items())
        ax.plot(path.points[:, 0], path.points[:, 1], line, color=colour, lw=1.6,
                marker=marker, ms=5, markevery=every,
                label=f"{name} ({settings}): loss {path.losses[-1]:.2g} after {steps} steps"
                      + (f" (a marker every {every} steps)" if every > 1 else ""))
        ax.plot(*path.points[-1], marker, ms=11, color=colour, markeredgecolor="black")  # its end
    start = next(iter(paths.values())).points[0]
    ax.plot(*start, "o", ms=10, color="black", label=f"start ({start[0]:g}, {start[1]:g})")
    ax.plot(*surface.minimum, "*", ms=18, markerfacecolor="none", markeredgecolor="black", mew=1.5,
            label="minimum ({:g}, {:g})".format(*surface.minimum))
    ax.set_xlim(surface.xlim)
    ax.set_ylim(surface.ylim)
    ax.set_aspect("equal")
    ax.set_xlabel("x (first parameter)")
    ax.set_ylabel("y (second parameter)")
    ax.set_title(title or f"SGD, Momentum and Adam on {surface.description}\n{surface.formula()}")
    if own_figure:                           # below the map, where it hides no path
        fig.legend(fontsize=8, loc="outside lower center", ncol=2)
    else:
        ax.legend(fontsize=8)
    return fig
