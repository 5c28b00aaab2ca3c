"""helpers.surfaces: gradients, that the paths are helpers.optim's own steps, the measured
differences between SGD, Momentum and Adam with the default settings, SGD's stability limit
on the bowl, and the figure (title, labels, a colour-blind-safe colour map)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers import surfaces  # noqa: E402
from helpers.gradcheck import numerical_gradient, rel_error  # noqa: E402
from helpers.optim import SGD, Adam, Momentum  # noqa: E402
from helpers.surfaces import Bowl, Valley, compare, default_paths, plot_paths, run  # noqa: E402
from test_accessibility import SAFE_CMAPS, axes_problems  # noqa: E402

SURFACES = [Bowl(), Bowl(a=0.5, b=7.0), Valley(), Valley(c=10.0)]
POINTS = [(-1.2, 1.0), (0.3, -0.7), (1.5, 2.0), (-8.0, 1.5)]


# --- the surfaces ---------------------------------------------------------------------------
@pytest.mark.parametrize("surface", SURFACES, ids=repr)
@pytest.mark.parametrize("xy", POINTS)
def test_gradient_matches_the_numerical_gradient(surface, xy):
    p = np.array(xy, dtype=np.float64)
    numerical = numerical_gradient(lambda q: surface.value(q[0], q[1]), p)
    assert rel_error(surface.grad(*p), numerical) < 1e-7


def test_minimum_is_zero_with_zero_gradient():
    for surface in SURFACES:
        assert surface.value(*surface.minimum) == 0
        np.testing.assert_array_equal(surface.grad(*surface.minimum), [0, 0])


def test_value_works_on_a_grid():
    gx, gy = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(0, 2, 3))
    for surface in SURFACES:
        z = surface.value(gx, gy)
        assert z.shape == (3, 4)
        assert z[1, 2] == surface.value(gx[1, 2], gy[1, 2])


# --- the paths are helpers.optim's steps ----------------------------------------------------
def test_one_sgd_step_is_w_minus_lr_times_gradient():
    bowl, start = Bowl(), np.array([-8.0, 1.5])
    path = run(bowl, "SGD", start, steps=1, lr=0.09)
    np.testing.assert_array_equal(path.points[0], start)
    np.testing.assert_allclose(path.points[1], start - 0.09 * bowl.grad(*start), rtol=1e-15)
    np.testing.assert_allclose(path.points[1], [-7.28, -1.2])     # (-8 + 0.72, 1.5 - 2.7)
    assert path.losses[1] == pytest.approx(bowl.value(-7.28, -1.2))


def test_sgd_on_the_bowl_follows_its_closed_form():
    # each SGD step multiplies x by (1 - lr a) = 0.91 and y by (1 - lr b) = -0.8
    path = run(Bowl(), "SGD", (-8.0, 1.5), steps=30, lr=0.09)
    t = np.arange(31)
    np.testing.assert_allclose(path.points[:, 0], -8.0 * 0.91 ** t, rtol=1e-12)
    np.testing.assert_allclose(path.points[:, 1], 1.5 * (-0.8) ** t, rtol=1e-12)


def test_momentum_steps_match_the_formula_in_optim():
    # v <- momentum * v + g; w <- w - lr * v (helpers.optim.Momentum)
    surface, lr, mu = Valley(), 1e-3, 0.9
    path = run(surface, "Momentum", (-1.2, 1.0), steps=5, lr=lr, momentum=mu)
    w, v = np.array([-1.2, 1.0]), np.zeros(2)
    for k in range(1, 6):
        v = mu * v + surface.grad(*w)
        w = w - lr * v
        np.testing.assert_allclose(path.points[k], w, rtol=1e-14)


def test_adam_steps_match_the_formula_in_optim():
    surface, lr, (b1, b2), eps = Bowl(), 0.3, (0.9, 0.999), 1e-8
    path = run(surface, "Adam", (-8.0, 1.5), steps=5, lr=lr)
    w, m, v = np.array([-8.0, 1.5]), np.zeros(2), np.zeros(2)
    for t in range(1, 6):
        g = surface.grad(*w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        np.testing.assert_allclose(path.points[t], w, rtol=1e-14)


def test_run_uses_the_optimizers_of_helpers_optim(monkeypatch):
    assert surfaces.OPTIMIZERS == {"SGD": SGD, "Momentum": Momentum, "Adam": Adam}
    steps = []

    class Counting(SGD):
        def step(self):
            steps.append(self.t)
            super().step()

    monkeypatch.setitem(surfaces.OPTIMIZERS, "SGD", Counting)
    run(Bowl(), "SGD", (1.0, 1.0), steps=4, lr=0.01)
    assert steps == [0, 1, 2, 3]


def test_run_passes_the_optimizer_settings_on():
    path = run(Valley(), "Adam", (-1.2, 1.0), steps=3, lr=0.05, betas=(0.8, 0.99))
    assert path.settings == {"lr": 0.05, "betas": (0.8, 0.99)}
    assert path.points.shape == (4, 2) and path.losses.shape == (4,)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        run(Bowl(), "RMSprop", (1.0, 1.0), steps=1, lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        run(Bowl(), "Momentum", (1.0, 1.0), steps=1, lr=0.1, momentum=1.5)


# --- what the default settings show (numbers measured, float64, no randomness) --------------
def test_compare_bowl_numbers():
    r = compare("bowl")
    assert list(r) == ["SGD", "Momentum", "Adam"]
    assert {n: (r[n]["lr"], r[n]["steps"]) for n in r} == {
        "SGD": (0.09, 30), "Momentum": (0.09, 30), "Adam": (0.3, 30)}
    assert r["SGD"]["final_loss"] == pytest.approx(0.1116, rel=1e-3)
    assert r["SGD"]["distance"] == pytest.approx(0.4724, rel=1e-3)      # 8 * 0.91**30
    assert r["Momentum"]["final_loss"] == pytest.approx(6.104e-4, rel=1e-3)
    assert r["Momentum"]["distance"] == pytest.approx(7.82e-3, rel=1e-2)
    assert r["Adam"]["final_loss"] == pytest.approx(0.1696, rel=1e-3)
    assert r["Adam"]["distance"] == pytest.approx(0.5137, rel=1e-3)
    # same lr, same 30 steps: momentum's loss is over 100 times smaller than SGD's (183x)
    assert r["SGD"]["final_loss"] > 100 * r["Momentum"]["final_loss"]


def test_compare_valley_numbers():
    r = compare("valley")
    assert {n: (r[n]["lr"], r[n]["steps"]) for n in r} == {
        "SGD": (1e-3, 500), "Momentum": (1e-3, 500), "Adam": (0.1, 500)}
    assert r["SGD"]["final_loss"] == pytest.approx(2.285, rel=1e-3)
    assert r["SGD"]["distance"] == pytest.approx(1.678, rel=1e-3)
    assert r["Momentum"]["final_loss"] == pytest.approx(1.818e-3, rel=1e-2)
    assert r["Momentum"]["distance"] == pytest.approx(0.0938, rel=1e-2)
    assert r["Adam"]["final_loss"] == pytest.approx(0.01554, rel=1e-2)
    assert r["Adam"]["distance"] == pytest.approx(0.2652, rel=1e-2)
    # SGD creeps: both others end over 5 times closer to the minimum and 100 times lower
    for name in ("Momentum", "Adam"):
        assert r[name]["distance"] < r["SGD"]["distance"] / 5
        assert r[name]["final_loss"] < r["SGD"]["final_loss"] / 100


def test_bowl_sgd_zigzags_across_and_crawls_along():
    path = default_paths(Bowl())["SGD"]
    x, y = path.points.T
    assert np.all(np.sign(y[1:]) == -np.sign(y[:-1]))     # y changes sign at every step
    assert np.all(np.diff(x) > 0)                          # x only creeps forward ...
    assert x[-1] == pytest.approx(-0.472, abs=1e-3)        # ... and is still far from 0


def test_bowl_adam_moves_both_ways_at_the_same_speed():
    paths = default_paths(Bowl())
    # step 1 of Adam moves lr along each axis, whatever the gradient's size: (+0.3, -0.3);
    # SGD's first step is 3.75 times longer in y (2.7) than in x (0.72), though y is closer
    np.testing.assert_allclose(np.diff(paths["Adam"].points[:2], axis=0)[0], [0.3, -0.3])
    np.testing.assert_allclose(np.diff(paths["SGD"].points[:2], axis=0)[0], [0.72, -2.7])
    steps = np.abs(np.diff(paths["Adam"].points[:6], axis=0))
    assert np.all(steps[:, 1] / steps[:, 0] > 0.85)        # first 5 steps: |dy| / |dx| near 1


def test_bowl_momentum_0_9_keeps_too_much_speed():
    # why the bowl's default momentum is 0.7: with 0.9 the error shrinks by only sqrt(0.9) a step
    loss = run(Bowl(), "Momentum", (-8.0, 1.5), steps=30, lr=0.09, momentum=0.9).losses[-1]
    assert loss == pytest.approx(1.985, rel=1e-3)
    assert loss > compare("bowl")["SGD"]["final_loss"]


def test_bowl_momentum_overshoots_the_minimum():
    x = default_paths(Bowl())["Momentum"].points[:, 0]
    assert x.max() > 1.0                                   # passes x = 0 and turns back
    assert np.sum(np.diff(np.sign(x[x != 0])) != 0) >= 2


def test_valley_sgd_creeps_momentum_oscillates_but_gets_further():
    paths = default_paths(Valley())
    off_floor = {n: np.abs(p.points[20:, 1] - p.points[20:, 0] ** 2) for n, p in paths.items()}
    rises = {n: int(np.sum(np.diff(p.losses) > 0)) for n, p in paths.items()}
    sgd, mom = paths["SGD"], paths["Momentum"]
    assert rises["SGD"] == 0                               # SGD: down at every step, slowly
    assert sgd.points[-1, 0] == pytest.approx(-0.510, abs=1e-3)   # still left of x = 0
    assert rises["Momentum"] == 17                         # momentum: up and down ...
    assert off_floor["Momentum"].max() > 10 * off_floor["SGD"].max()   # 0.14 vs 0.008
    assert np.argmax(mom.points[:, 0] > 0) == 39           # ... but past x = 0 by step 39
    assert np.argmax(paths["Adam"].points[:, 0] > 0) == 200


def test_valley_sgd_at_twice_the_default_lr_jumps_up_once():
    start = Valley().value(-1.2, 1.0)                      # 24.2
    assert run(Valley(), "SGD", (-1.2, 1.0), 500, lr=1.5e-3).losses.max() == start
    jumped = run(Valley(), "SGD", (-1.2, 1.0), 500, lr=2e-3).losses.max()
    assert jumped == pytest.approx(37.34, rel=1e-3)


# --- SGD's stability limit on the bowl ------------------------------------------------------
def test_sgd_limit_of_the_bowl_is_two_over_b():
    assert Bowl().sgd_limit == pytest.approx(0.1)
    assert Bowl(a=30.0, b=20.0).sgd_limit == pytest.approx(2 / 30)


@pytest.mark.parametrize("factor", [0.99, 1.01, 1.1])
def test_sgd_on_the_bowl_diverges_above_two_over_b(factor):
    bowl = Bowl()
    losses = run(bowl, "SGD", (-8.0, 1.5), steps=200, lr=factor * bowl.sgd_limit).losses
    if factor < 1:
        assert losses[-1] < 1e-2 * losses[0]                # 54.5 -> 0.007
    else:
        assert losses[-1] > 100 * losses[0]                 # y grows by |1 - lr b| > 1 a step
        assert np.all(np.diff(losses[50:]) > 0)


# --- the figure -----------------------------------------------------------------------------
@pytest.mark.parametrize("surface", [Bowl(), Valley()], ids=repr)
def test_figure_has_title_labels_and_a_safe_colour_map(surface):
    fig = plot_paths(surface, default_paths(surface))
    try:
        assert axes_problems(fig) == []
        ax = fig.axes[0]
        assert surface.formula() in ax.get_title()
        assert ax.get_xlabel() and ax.get_ylabel()
        filled = [c for c in ax.collections if getattr(c, "filled", False)]   # contourf
        assert len(filled) == 1 and filled[0].get_cmap().name in SAFE_CMAPS
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        final = compare(surface.name)
        for name in ("SGD", "Momentum", "Adam"):
            label = next(t for t in labels if t.startswith(name))
            assert f"loss {final[name]['final_loss']:.2g}" in label
        assert any(t.startswith("start") for t in labels)
        assert any(t.startswith("minimum") for t in labels)
    finally:
        plt.close(fig)


def test_figure_into_a_given_axes():
    fig, ax = plt.subplots()
    try:
        assert plot_paths(Bowl(), {"SGD": run(Bowl(), "SGD", (-8, 1.5), 5, lr=0.09)}, ax=ax) is fig
        assert ax.get_legend() is not None and ax.get_title()
    finally:
        plt.close(fig)


def test_table_prints_every_optimizer():
    text = surfaces.table(compare("bowl"))
    assert text.splitlines()[0].split() == ["optimizer", "lr", "steps", "final", "loss", "distance"]
    assert [line.split()[0] for line in text.splitlines()[1:]] == ["SGD", "Momentum", "Adam"]
