"""helpers.optim against hand-computed steps; helpers.train: determinism, history, dtypes, errors."""
import numpy as np
import pytest

from helpers.layers import (BatchNorm2D, Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU,
                            SoftmaxCrossEntropy)
from helpers.model import Sequential
from helpers.optim import SGD, Adam, Momentum
from helpers.train import History, evaluate, fit


class Holder(Layer):
    """A layer that only holds one parameter w = [1, -2], for optimizer arithmetic."""

    def init_params(self):
        return {"w": np.array([1.0, -2.0])}


def run(opt_cls, grads, **kw):
    layer = Holder()
    opt = opt_cls(layer.parameters(), **kw)
    for g in grads:
        layer.grads["w"] = np.array(g)
        opt.step()
    return layer.params["w"]


G1, G2 = [0.5, 0.1], [-0.5, 0.3]


def test_sgd_steps():
    # w - lr * g, twice: [1 - 0.1*0.5 + 0.1*0.5, -2 - 0.01 - 0.03]
    np.testing.assert_allclose(run(SGD, [G1], lr=0.1), [0.95, -2.01])
    np.testing.assert_allclose(run(SGD, [G1, G2], lr=0.1), [1.0, -2.04])


def test_sgd_weight_decay():
    # g + wd * w = [0.5 + 0.01, 0.1 - 0.02] = [0.51, 0.08]; w - 0.1 * that
    np.testing.assert_allclose(run(SGD, [G1], lr=0.1, weight_decay=0.01), [0.949, -2.008])


def test_momentum_steps():
    # v1 = g1 = [0.5, 0.1]; w1 = [0.95, -2.01]
    # v2 = 0.9 * v1 + g2 = [0.45 - 0.5, 0.09 + 0.3] = [-0.05, 0.39]; w2 = w1 - 0.1 * v2
    np.testing.assert_allclose(run(Momentum, [G1], lr=0.1), [0.95, -2.01])
    np.testing.assert_allclose(run(Momentum, [G1, G2], lr=0.1, momentum=0.9), [0.955, -2.049])


def test_adam_steps():
    # step 1: m = 0.1 g, v = 0.001 g^2, so m_hat = g and v_hat = g^2: w moves lr * sign(g)
    np.testing.assert_allclose(run(Adam, [G1], lr=0.1), [0.9, -2.1], rtol=1e-7)
    # step 2: m = 0.9 * [0.05, 0.01] + 0.1 * [-0.5, 0.3] = [-0.005, 0.039]
    #         v = 0.999 * [0.00025, 0.00001] + 0.001 * [0.25, 0.09] = [0.00049975, 0.00009999]
    #         m_hat = m / (1 - 0.9^2) = m / 0.19, v_hat = v / (1 - 0.999^2) = v / 0.001999
    #         = [0.25, 0.0500200100...]; sqrt(v_hat) = [0.5, 0.2236515...]
    #         step = 0.1 * m_hat / sqrt(v_hat) = [-0.0052631579, 0.0917781...]
    m_hat = np.array([-0.005, 0.039]) / 0.19
    v_hat = np.array([0.00049975, 0.00009999]) / 0.001999
    expected = np.array([0.9, -2.1]) - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(expected, [0.9052631579, -2.1917781119], rtol=1e-7)
    np.testing.assert_allclose(run(Adam, [G1, G2], lr=0.1), expected, rtol=1e-7)  # eps: ~1e-8


def test_adam_weight_decay_adds_l2_gradient():
    # g + 0.1 * w = [0.6, -0.1]: step 1 still moves lr * sign
    np.testing.assert_allclose(run(Adam, [G1], lr=0.1, weight_decay=0.1), [0.9, -1.9], rtol=1e-7)


@pytest.mark.parametrize("opt_cls", [SGD, Momentum, Adam])
def test_frozen_parameters_are_not_updated(opt_cls):
    layer = Holder()
    layer.trainable = False
    opt = opt_cls(layer.parameters(), lr=0.1)
    layer.grads["w"] = np.array(G1)
    opt.step()
    np.testing.assert_array_equal(layer.params["w"], [1.0, -2.0])


def test_optimizer_argument_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        Adam(Holder().parameters(), lr=0)
    with pytest.raises(ValueError, match="momentum"):
        Momentum(Holder().parameters(), momentum=1.0)
    with pytest.raises(ValueError, match=r"lr \(learning rate\) must be a positive number, got nan"):
        SGD(Holder().parameters(), lr=float("nan"))
    with pytest.raises(ValueError, match=r"weight_decay must be a number >= 0, got nan"):
        Adam(Holder().parameters(), weight_decay=float("nan"))
    with pytest.raises(ValueError, match=r"weight_decay must be a number >= 0, got -0.1"):
        SGD(Holder().parameters(), weight_decay=-0.1)
    for betas in [(0.9, 1.0), (0.9,), 0.9, (-0.1, 0.999)]:
        with pytest.raises(ValueError, match=r"betas must be a pair \(beta1, beta2\) of numbers in \[0, 1\)"):
            Adam(Holder().parameters(), betas=betas)
    with pytest.raises(ValueError, match=r"eps must be a positive number, got 0"):
        Adam(Holder().parameters(), eps=0)


# --------------------------------------------------------------------------------------------
# fit / evaluate
# --------------------------------------------------------------------------------------------
def toy_data(n=240, seed=0):
    """(n, 1, 6, 6) float32 images whose class (0, 1, 2) is where a bright square sits."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 0.3, (n, 1, 6, 6)).astype(np.float32)
    for i, c in enumerate(y):
        x[i, 0, 2 * c:2 * c + 2, 1:3] += 1.5
    return x, y


def toy_model(seed=0):
    return Sequential(Conv2D(1, 4, 3, padding=1, rng=seed), BatchNorm2D(4), ReLU(), MaxPool2D(2),
                      Flatten(), Dropout(0.2, rng=seed + 1), Dense(36, 3, rng=seed + 2))


def train_once(epochs=3, **kw):
    x, y = toy_data()
    model = toy_model()
    opt = Adam(model.parameters(), lr=0.01)
    return model, fit(model, SoftmaxCrossEntropy(), opt, x[:200], y[:200], epochs=epochs,
                      batch_size=32, validation=(x[200:], y[200:]), progress=False, **kw)


def test_fit_learns_and_records_history():
    model, h = train_once()
    assert isinstance(h, History) and len(h) == 3
    for key in ("loss", "acc", "val_loss", "val_acc", "seconds"):
        assert len(getattr(h, key)) == 3
    assert h.loss[-1] < h.loss[0]
    assert h.val_acc[-1] >= 0.9
    assert all(s > 0 for s in h.seconds)
    assert "val_acc" in repr(h)
    x, y = toy_data()
    assert evaluate(model, SoftmaxCrossEntropy(), x[200:], y[200:], batch_size=7) == pytest.approx(
        (h.val_loss[-1], h.val_acc[-1]), rel=1e-6)


def test_fit_is_deterministic():
    _, h1 = train_once()
    _, h2 = train_once()
    d1, d2 = h1.as_dict(), h2.as_dict()
    del d1["seconds"], d2["seconds"]
    assert d1 == d2                          # bit-identical floats
    _, h3 = train_once(seed=1)               # another shuffle, other numbers
    assert h3.loss != h1.loss


def test_fit_seed_also_restarts_dropout(tmp_path):
    # one model, trained twice from the same saved weights: the Dropout generator has moved on
    # after the first run, and fit(seed=...) must start it afresh
    x, y = toy_data()
    model = toy_model()
    path = tmp_path / "start.npz"
    model.save(path)
    runs = []
    for _ in range(2):
        model.load(path)
        opt = Adam(model.parameters(), lr=0.01)
        h = fit(model, SoftmaxCrossEntropy(), opt, x, y, epochs=1, batch_size=32, progress=False)
        runs.append(h.loss)
    assert runs[0] == runs[1]
    model.load(path)
    h = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=0.01), x, y, epochs=1,
            batch_size=32, progress=False, seed=1)
    assert h.loss != runs[0]


def test_fit_reseeds_dropout_inside_composites():
    from helpers.model import Residual
    inner = Dropout(0.5, rng=0)
    model = Sequential(Flatten(), Residual(Sequential(Dense(36, 36, rng=1), inner)), Dense(36, 3, rng=2))
    x, y = toy_data(n=64)
    before = inner.rng
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.01), x, y, progress=False)
    assert inner.rng is not before


def test_fit_holds_the_blas_to_one_thread_while_helpers_uses_two(monkeypatch):
    # helpers/fast/README.md idea 6: during the epochs the second core is the engine's own, then
    # it is given back; fit(tune=False) leaves the BLAS alone
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from helpers.fast import threads as fthreads

    def blas_threads():
        return {i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"}

    class Spy(Layer):
        seen = set()

        def forward(self, x, train=True):
            Spy.seen |= blas_threads()
            return x

        def backward(self, dout):
            return dout

    x, y = toy_data(n=64)
    model = Sequential(Spy(), Flatten(), Dense(36, 3, rng=0))
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        for threads, tune, expected in ((2, True, {1}), (1, True, before), (2, False, before)):
            monkeypatch.setattr(fthreads, "THREADS", threads)
            Spy.seen = set()
            fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.01), x, y,
                validation=(x, y), progress=False, tune=tune)
            assert Spy.seen == expected
            assert blas_threads() == before


def test_callback_after_each_epoch():
    calls = []
    train_once(epochs=2, callback=lambda epoch, history: calls.append((epoch, len(history.loss))))
    assert calls == [(1, 1), (2, 2)]


def test_progress_bar_shows_loss_and_accuracy(capsys):
    x, y = toy_data(64)
    model = toy_model()
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.01), x, y, epochs=1,
        batch_size=16, validation=(x, y), progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err and "acc=" in err and "val_acc=" in err


def test_evaluate_matches_a_manual_computation():
    x, y = toy_data(50)
    model = toy_model()
    logits = model.forward(x, train=False)
    loss, acc = evaluate(model, SoftmaxCrossEntropy(), x, y, batch_size=16)
    assert acc == np.mean(logits.argmax(1) == y)
    assert loss == pytest.approx(SoftmaxCrossEntropy().forward(logits, y), rel=1e-6)


class DtypeSpy(Layer):
    """Passes x through and records the dtypes it sees going forward and backward."""

    seen = set()

    def forward(self, x, train=True):
        DtypeSpy.seen.add(("forward", x.dtype.name))
        return x

    def backward(self, dout):
        DtypeSpy.seen.add(("backward", dout.dtype.name))
        return dout


def test_training_stays_float32_everywhere():
    DtypeSpy.seen = set()
    x, y = toy_data(64)
    inner = toy_model().layers
    model = Sequential(*[item for layer in inner for item in (layer, DtypeSpy())])
    opt = Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    fit(model, SoftmaxCrossEntropy(), opt, x.astype(np.float64), y, epochs=1, batch_size=16,
        progress=False)
    assert DtypeSpy.seen == {("forward", "float32"), ("backward", "float32")}
    for name, v in {**model.state_dict(), **model.grads}.items():
        assert v.dtype == np.float32, name
    for state in opt.state:
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))


def test_fit_errors():
    x, y = toy_data(40)
    model = toy_model()
    loss, opt = SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\] for a model with 3 outputs.*contains 3"):
        fit(model, loss, opt, x, np.where(y == 2, 3, y), progress=False)
    with pytest.raises(ValueError, match=r"label and batch sizes do not match: x has 40 examples but y has 39"):
        fit(model, loss, opt, x, y[:39], progress=False)
    with pytest.raises(ValueError, match=r"dtype uint8.*astype\(np.float32\) / 255"):
        fit(model, loss, opt, (x * 50).astype(np.uint8), y, progress=False)
    with pytest.raises(ValueError, match=r"batch_size"):
        fit(model, loss, opt, x, y, batch_size=0, progress=False)
    with pytest.raises(ValueError, match=r"in_channels=1"):
        fit(model, loss, opt, np.repeat(x, 3, axis=1), y, progress=False)
    with pytest.raises(ValueError, match=r"validation must be a pair \(x_val, y_val\) or None, "
                                         r"got tuple of length 3"):
        fit(model, loss, opt, x, y, validation=(x, y, 1), progress=False)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_divergence_is_reported_with_advice():
    x, y = toy_data(64)
    model = Sequential(Flatten(), Dense(36, 3, rng=0))
    with pytest.raises(ValueError, match="NaN or inf reached the loss.*lower learning rate"):
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=1e38), x, y, epochs=3,
            batch_size=8, progress=False)


class Holder(Layer):
    def init_params(self):
        return {"w": np.array([1.0, -2.0])}


def test_adam_bias_correction_counts_each_parameters_own_steps():
    layer = Holder()
    opt = Adam(layer.parameters(), lr=0.1)
    opt.step()                                   # no gradient yet: this parameter waits
    layer.grads["w"] = np.array([0.5, 0.1])
    opt.step()                                   # its first step moves lr * sign(g)
    np.testing.assert_allclose(layer.params["w"], [0.9, -2.1], rtol=1e-7)


def test_fit_is_the_loop_written_out():
    # 50 = 3 * 16 + 2: a last, partial batch; BatchNorm and Dropout: training mode matters
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, 50)

    def make():
        m = Sequential(Conv2D(1, 2, 3, rng=1), BatchNorm2D(2), ReLU(), Flatten(),
                       Dropout(0.3, rng=2), Dense(8, 3, rng=3))
        return m, Adam(m.parameters(), lr=0.01)
    model, opt = make()
    h = fit(model, SoftmaxCrossEntropy(), opt, x, y, epochs=2, batch_size=16, seed=7,
            progress=False)
    ref, ref_opt = make()
    ref.layers[4].reseed(np.random.SeedSequence(7).spawn(1)[0])     # what fit(seed=7) does
    loss, order_rng = SoftmaxCrossEntropy(), np.random.default_rng(7)
    for epoch in range(2):
        order, total, correct = order_rng.permutation(50), 0.0, 0
        for i in range(0, 50, 16):
            idx = order[i:i + 16]
            logits = ref.forward(x[idx], train=True)
            total += loss.forward(logits, y[idx]) * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
            ref.backward(loss.backward())
            ref_opt.step()
        assert h.loss[epoch] == pytest.approx(total / 50, rel=1e-6)
        assert h.acc[epoch] == correct / 50
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[k], v, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------------------------
# progress within an epoch: fit(log_every=...), History.blocks, plots.LiveCurves
# --------------------------------------------------------------------------------------------
class SpyLoss(SoftmaxCrossEntropy):
    """Remembers (loss, batch size, correct answers) of every training batch: a forward that a
    backward follows (evaluate's forwards have none)."""

    def __init__(self):
        super().__init__()
        self.batches, self._last = [], None

    def forward(self, logits, y, train=True):
        value = super().forward(logits, y, train)
        self._last = (value, len(y), int((np.asarray(logits).argmax(axis=1) == y).sum()))
        return value

    def backward(self, dout=1.0):
        self.batches.append(self._last)
        return super().backward(dout)


# 650 training images in batches of 8: 82 steps an epoch, the last one of 2 images
N_TRAIN, BATCH = 650, 8
STEPS = -(-N_TRAIN // BATCH)
LOG_EVERY = STEPS // 20                       # 4: blocks of 4 steps, the last one of 2
BLOCKS = -(-STEPS // LOG_EVERY)               # 21 an epoch


def train_blocks(epochs=2, loss=None, **kw):
    x, y = toy_data(720)
    model = toy_model()
    loss = SoftmaxCrossEntropy() if loss is None else loss
    h = fit(model, loss, Adam(model.parameters(), lr=0.01), x[:N_TRAIN], y[:N_TRAIN],
            epochs=epochs, batch_size=BATCH, validation=(x[N_TRAIN:], y[N_TRAIN:]),
            progress=False, **kw)
    return model, h


def test_blocks_give_at_least_20_points_an_epoch_at_fractional_epochs():
    assert (STEPS, LOG_EVERY, BLOCKS) == (82, 4, 21)
    _, h = train_blocks(log_every=LOG_EVERY)
    assert len(h.blocks) == 2 * BLOCKS >= 2 * 20
    for e in range(2):
        recs = h.blocks[e * BLOCKS:(e + 1) * BLOCKS]
        assert [r["step"] for r in recs] == [e * STEPS + min(b * LOG_EVERY, STEPS)
                                             for b in range(1, BLOCKS + 1)]
        # each block ends after 4 * 8 = 32 more images; the epoch's last one ends the epoch
        expected = [e + min(b * LOG_EVERY * BATCH, N_TRAIN) / N_TRAIN for b in range(1, BLOCKS + 1)]
        assert [r["epoch"] for r in recs] == pytest.approx(expected, rel=1e-12)
        assert recs[-1]["epoch"] == e + 1
    assert set(h.blocks[0]) == {"step", "epoch", "loss", "acc", "val_loss", "val_acc"}
    assert f"{2 * BLOCKS} block records" in repr(h)
    assert h.as_dict()["blocks"] == h.blocks and h.as_dict()["blocks"][0] is not h.blocks[0]


def test_block_numbers_are_the_means_of_their_batches():
    spy = SpyLoss()
    _, h = train_blocks(loss=spy, log_every=LOG_EVERY)
    assert len(spy.batches) == 2 * STEPS
    for e in range(2):
        epoch_batches = spy.batches[e * STEPS:(e + 1) * STEPS]
        for b in range(BLOCKS):
            part = epoch_batches[b * LOG_EVERY:(b + 1) * LOG_EVERY]
            losses, sizes, right = (np.array(c) for c in zip(*part))
            rec = h.blocks[e * BLOCKS + b]
            # means over the block's images: each batch weighs by its size
            assert rec["loss"] == pytest.approx(np.average(losses, weights=sizes), rel=1e-12)
            assert rec["acc"] == right.sum() / sizes.sum()
            if b < BLOCKS - 1:            # full batches: the plain mean of the batch losses
                assert rec["loss"] == pytest.approx(losses.mean(), rel=1e-12)
        # and the epoch's number is still the mean over all its images
        losses, sizes, right = (np.array(c) for c in zip(*epoch_batches))
        assert h.loss[e] == pytest.approx(np.average(losses, weights=sizes), rel=1e-12)
    assert sizes[-1] == N_TRAIN % BATCH == 2 and len(part) == STEPS % LOG_EVERY == 2


def test_per_epoch_numbers_are_bit_identical_with_or_without_blocks():
    # BatchNorm and Dropout in the model; the subset evaluated after every block
    m1, h1 = train_blocks(epochs=3)
    m2, h2 = train_blocks(epochs=3, log_every=3, val_every=1, val_subset=25,
                          on_block=lambda history: None, callback=lambda e, history: None)
    m3, h3 = train_blocks(epochs=3, log_every=LOG_EVERY)
    for key in ("loss", "acc", "val_loss", "val_acc"):
        assert getattr(h1, key) == getattr(h2, key) == getattr(h3, key), key
    for k, v in m1.state_dict().items():
        np.testing.assert_array_equal(m2.state_dict()[k], v)
        np.testing.assert_array_equal(m3.state_dict()[k], v)
    assert h1.blocks == [] and len(h2.blocks) == 3 * 28
    _, h4 = train_blocks(epochs=3, log_every=LOG_EVERY)
    assert h4.as_dict()["blocks"] == h3.as_dict()["blocks"]       # the blocks are seeded too


def test_validation_subset_is_evaluated_as_often_as_documented(monkeypatch):
    from helpers import train
    from helpers.train import validation_subset

    sizes, labels = [], []

    def counting(model, loss, x, y, batch_size=256):
        sizes.append(len(x))
        labels.append(np.array(y))
        return evaluate(model, loss, x, y, batch_size)
    monkeypatch.setattr(train, "evaluate", counting)
    # documented: epochs * floor(blocks_per_epoch / val_every) subset checks, after blocks
    # val_every, 2 val_every, ... of each epoch; the whole set once after each epoch
    _, h = train_blocks(epochs=2, log_every=LOG_EVERY, val_every=5, val_subset=30)
    assert sizes == 2 * ([30] * (BLOCKS // 5) + [70]) == 2 * [30, 30, 30, 30, 70]
    y_val = toy_data(720)[1][N_TRAIN:]
    for i in (0, 1, 2, 3, 5, 8):                 # the same, evenly spread subset every time
        np.testing.assert_array_equal(labels[i], y_val[validation_subset(70, 30)])
    checked = [i % BLOCKS + 1 for i, r in enumerate(h.blocks) if r["val_loss"] is not None]
    assert checked == [5, 10, 15, 20] * 2
    assert all((r["val_acc"] is None) == (r["val_loss"] is None) for r in h.blocks)
    assert all(0 <= r["val_acc"] <= 1 and r["val_loss"] > 0 for r in h.blocks
               if r["val_acc"] is not None)
    for kw, expected in ((dict(log_every=LOG_EVERY, val_every=None), [70, 70]),
                         (dict(log_every=LOG_EVERY, val_every=7, val_subset=None), [70] * 8),
                         (dict(val_every=1), [70, 70])):          # no log_every: as before
        sizes.clear()
        train_blocks(**kw)
        assert sizes == expected, kw
    # the subset: spread evenly over the validation set, the same images every time
    pick = validation_subset(70, 30)
    assert len(pick) == len(set(pick)) == 30 and pick[0] == 0 and np.all(np.diff(pick) >= 2)
    np.testing.assert_array_equal(validation_subset(10, 30), np.arange(10))
    np.testing.assert_array_equal(validation_subset(10, None), np.arange(10))


def test_on_block_after_each_block_and_the_epoch_callback_unchanged():
    seen, epochs = [], []
    _, h = train_blocks(log_every=LOG_EVERY,
                        on_block=lambda history: seen.append(
                            (len(history.blocks), len(history.loss), len(history.val_loss))),
                        callback=lambda epoch, history: epochs.append((epoch, len(history.blocks))))
    # within an epoch the block alone is new; the epoch's last block comes with the epoch's numbers
    assert seen == [(b, 0, 0) for b in range(1, BLOCKS)] + [(BLOCKS, 1, 1)] + \
        [(b, 1, 1) for b in range(BLOCKS + 1, 2 * BLOCKS)] + [(2 * BLOCKS, 2, 2)]
    assert epochs == [(1, BLOCKS), (2, 2 * BLOCKS)]


def test_block_arguments_are_checked():
    x, y = toy_data(40)
    model = toy_model()
    for kw, name in ((dict(log_every=0), "log_every"), (dict(log_every=2.5), "log_every"),
                     (dict(val_every=0), "val_every"), (dict(val_subset=-1), "val_subset")):
        with pytest.raises(ValueError, match=rf"{name} must be a positive int or None"):
            fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), x, y,
                progress=False, **kw)


def curve_axes_labelled(fig):
    """Both panels (loss, accuracy) have a title, axis labels, lines with data and a legend."""
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    for ax in fig.axes:
        assert any(len(line.get_xdata()) for line in ax.lines)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(t.startswith("train") for t in labels)
        assert any(t.startswith("validation") for t in labels)


def test_live_curves_redraw_when_a_block_comes(capsys):
    from helpers import plots

    _, h = train_blocks(log_every=LOG_EVERY, val_every=5, val_subset=30)
    live = plots.LiveCurves(epochs=2, interval_ms=0)     # outside Jupyter: keeps the figure
    assert live.display is False and live.updates == 0
    partial = History()
    pictures = [live.png]
    for b in range(3):                                   # three blocks of epoch 1
        partial.blocks.append(h.blocks[b])
        live(partial)
        pictures.append(live.png)
    assert live.updates == live.calls == 3
    assert len(set(pictures)) == 4                       # every call changed the image
    assert "epoch 0.15 of 2" in live.fig._suptitle.get_text()
    live(h)                                              # the whole run, as fit's callback
    assert live.png != pictures[-1] and live.updates == 4
    assert "after epoch 2 of 2" in live.fig._suptitle.get_text()
    curve_axes_labelled(live.fig)
    loss_ax = live.fig.axes[0]
    train_line = next(l for l in loss_ax.lines if l.get_label().startswith("train"))
    np.testing.assert_array_equal(train_line.get_xdata(), [r["epoch"] for r in h.blocks])
    np.testing.assert_array_equal(train_line.get_ydata(), [r["loss"] for r in h.blocks])
    live(2, h)                                           # nothing new: no redraw
    assert live.updates == 4 and live.calls == 5
    assert capsys.readouterr().out == ""                 # nothing printed outside Jupyter


def test_live_curves_wait_between_redraws_but_not_at_an_epoch_end():
    from helpers import plots

    live = plots.LiveCurves(epochs=2, interval_ms=10 ** 9)   # never "time" again in this test
    _, h = train_blocks(log_every=LOG_EVERY, on_block=live, callback=live)
    # the first call draws; later ones within an epoch wait; each epoch's end redraws
    assert live.calls == 2 * BLOCKS + 2 and live.updates == 3
    assert live.history is h
    curve_axes_labelled(live.fig)
    # as a per-epoch callback only, as lesson 12 uses it
    live = plots.LiveCurves(epochs=2)
    train_blocks(callback=live)
    assert live.updates == live.calls == 2
    curve_axes_labelled(live.fig)


def test_final_curves_from_a_history_with_blocks():
    import matplotlib.pyplot as plt
    from helpers import plots

    _, h = train_blocks(log_every=LOG_EVERY, val_every=5, val_subset=30)
    fig = plots.curves(h, title="toy run")
    try:
        curve_axes_labelled(fig)
        assert fig._suptitle.get_text() == "toy run"
        lines = {l.get_label(): l for l in fig.axes[1].lines}
        sub = lines["validation (subset, within epochs)"]
        assert len(sub.get_xdata()) == 8                 # 4 checks an epoch
        full = lines["validation (whole set, end of epoch)"]
        np.testing.assert_array_equal(full.get_xdata(), [1, 2])
        np.testing.assert_array_equal(full.get_ydata(), h.val_acc)
        colours = {l.get_color() for l in fig.axes[0].lines}
        assert colours == {"#0072B2", "#D55E00"}         # Okabe-Ito blue and vermilion
    finally:
        plt.close(fig)


# --- issue 29: what the fuzzer found (tests/test_fuzz_helpers.py) ---------------------------

def test_fit_and_evaluate_name_x_when_it_does_not_fit_the_model():
    model = Sequential(Conv2D(1, 2, 3), ReLU(), Flatten(), Dense(2 * 4 * 4, 3))
    with pytest.raises(ValueError, match=r"x of shape \(2, 1, 0, 6\) does not fit the model: "):
        evaluate(model, SoftmaxCrossEntropy(), np.zeros((2, 1, 0, 6)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"x of shape \(2, 6, 6\) does not fit the model: "):
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters()), np.zeros((2, 6, 6)),
            np.array([0, 1]), progress=False, tune=False)
    with pytest.raises(ValueError, match=r"y must be integer class labels"):
        evaluate(model, SoftmaxCrossEntropy(), np.zeros((2, 1, 6, 6)),
                 np.array([0, 1], dtype="timedelta64[ms]"))
    with pytest.raises(ValueError, match=r"epochs must be a non-negative int, got True"):
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters()), np.zeros((2, 1, 6, 6)),
            np.array([0, 1]), epochs=True, progress=False, tune=False)


def test_optimizer_settings_that_were_taken_silently():
    params = Sequential(Dense(2, 2)).parameters()
    with pytest.raises(ValueError, match=r"eps must be a positive number, got inf"):
        Adam(params, eps=float("inf"))
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\), got 'a'"):
        Momentum(params, momentum="a")              # was a TypeError from '<='
    with pytest.raises(TypeError, match=r"params must be a list of parameters"):
        SGD("weights")
    with pytest.raises(TypeError, match=r"params must hold parameters .* got a int"):
        SGD([1, 2]).step()


@pytest.mark.parametrize("weight_decay", [0.0, 0.02])
def test_adam_in_place_gives_the_formulas_numbers_bit_for_bit(weight_decay):
    """Adam.update writes into scratch arrays; the numbers must be those of the docstring's
    formulas, computed the plain way, after many steps."""
    from helpers.layers import Dense
    from helpers.optim import Adam
    rng = np.random.default_rng(3)
    layer = Dense(50, 20, rng=np.random.default_rng(0))
    opt = Adam([p for p in layer.parameters()], lr=3e-3, weight_decay=weight_decay)
    w = {k: v.copy() for k, v in layer.params.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v2 = {k: np.zeros_like(v) for k, v in w.items()}
    for t in range(1, 40):
        x = rng.standard_normal((8, 50)).astype(np.float32)
        layer.forward(x, train=True)
        layer.backward(rng.standard_normal((8, 20)).astype(np.float32))
        for k in w:
            g = layer.grads[k] + weight_decay * w[k] if weight_decay else layer.grads[k]
            m[k] = 0.9 * m[k] + (1 - 0.9) * g
            v2[k] = 0.999 * v2[k] + (1 - 0.999) * (g * g)
            w[k] = w[k] - (3e-3 / (1 - 0.9 ** t)) * m[k] / (np.sqrt(v2[k] / (1 - 0.999 ** t)) + 1e-8)
        opt.step()
        for k in w:
            assert layer.params[k].dtype == np.float32
            np.testing.assert_array_equal(layer.params[k], w[k].astype(np.float32))
