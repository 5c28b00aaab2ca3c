"""Train a small CNN on the full Fashion-MNIST with helpers, and the same network in PyTorch.

    .venv/bin/python benchmarks/bench_train.py [--epochs 4] [--threads 2] [--no-torch]
    .venv/bin/python benchmarks/bench_train.py --docs    # and write the table into docs/performance.md
    .venv/bin/python benchmarks/bench_train.py --quick   # a check that it runs (a few seconds)

Both runs use the same architecture, the same initial weights (He initialisation, drawn by
helpers and copied into PyTorch), optimizer (Adam), learning-rate schedule (a cosine from
3e-3 to 0 over the 4 epochs, set every mini-batch), batch size and shuffling order, float32,
on ``--threads`` CPU threads. After every epoch each prints the test accuracy and the wall time so far (training plus the per-epoch
test evaluation), and at the end the time each took to first reach ``--target`` test accuracy.
PyTorch is optional (``pip install torch``); without it only helpers runs.

The machine's load average is printed at the start and the end: on a shared machine the
times mean little without it. When other processes keep the cores busy, ``--threads 1`` is
much faster for both libraries: OpenBLAS (NumPy) and OpenMP (PyTorch) threads that wait for
each other on small matrix products lose the core to other processes at every step.

--quick trains on the first 2000 training images and tests on the first 1000, 1 epoch unless
--epochs says otherwise: a check that the script runs, whose figures mean nothing.
--docs [PATH] writes the run (date, machine, command, table) between the lines
<!-- bench_train:begin --> and <!-- bench_train:end --> of PATH (default docs/performance.md),
replacing the previous run's.
"""

import argparse
import math
import os
import sys
import time

# The thread count must be fixed before NumPy (and its OpenBLAS) is imported.
_threads = "2"
for _i, _arg in enumerate(sys.argv):
    if _arg == "--threads" and _i + 1 < len(sys.argv):
        _threads = sys.argv[_i + 1]
    elif _arg.startswith("--threads="):
        _threads = _arg.split("=", 1)[1]
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads
# PyTorch's OpenMP threads spin for a while when they wait, as OpenMP does by default; that is
# what makes PyTorch fast on a quiet machine (measured, one epoch: 13.8-14.4 s, against 16.1-17.3 s
# with OMP_WAIT_POLICY=PASSIVE), so the comparison leaves it alone. When another process holds
# one of the two cores, spinning made a 2-thread run ~10x slower: there, run with
# OMP_WAIT_POLICY=PASSIVE (and say so next to the figures).

import numpy as np  # noqa: E402

import report as docs_report  # noqa: E402  (benchmarks/report.py)
from helpers import layers  # noqa: E402
from helpers.data import load_fashion_mnist  # noqa: E402
from helpers.layers import (BatchNorm2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU,  # noqa: E402
                            SoftmaxCrossEntropy)
from helpers.model import Sequential  # noqa: E402
from helpers.optim import Adam  # noqa: E402
from helpers.perf import machine  # noqa: E402
from helpers.train import fit  # noqa: E402


def helpers_model():
    """conv 5x5 (16) -> pool -> BN -> ReLU -> conv 3x3 (32) -> pool -> BN -> ReLU -> dense 128 -> 10.

    Pooling first gives the same result as pooling after BatchNorm and ReLU when BN's scale is
    positive (max commutes with increasing functions), on a 4x smaller array. The convolutions
    have no bias: BatchNorm's beta does that job.
    """
    return Sequential(
        Conv2D(1, 16, 5, padding=2, bias=False), MaxPool2D(2), BatchNorm2D(16), ReLU(),
        Conv2D(16, 32, 3, padding=1, bias=False), MaxPool2D(2), BatchNorm2D(32), ReLU(),
        Flatten(), Dense(32 * 7 * 7, 128), ReLU(), Dense(128, 10))


def torch_model(torch, start):
    """The same network in PyTorch, starting from the same weights as the helpers model
    ``start`` (a fresh one, made with the same seed): both runs then see the same initial
    weights and the same mini-batches, so their accuracies agree closely (within about 0.3
    points: float32 sums in another order drift apart over thousands of steps) and the times
    compare the libraries, not two random initialisations."""
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    with torch.no_grad():
        for ours, theirs in zip(start.layers, model):
            p = ours.params
            if isinstance(theirs, nn.Conv2d):
                theirs.weight.copy_(torch.from_numpy(p["W"]))
            elif isinstance(theirs, nn.Linear):          # helpers' Dense W is (in, out)
                theirs.weight.copy_(torch.from_numpy(p["W"].T.copy()))
                theirs.bias.copy_(torch.from_numpy(p["b"]))
            elif isinstance(theirs, nn.BatchNorm2d):
                theirs.weight.copy_(torch.from_numpy(p["gamma"]))
                theirs.bias.copy_(torch.from_numpy(p["beta"]))
    return model


#: --quick: how many training and test images.
QUICK_TRAIN, QUICK_TEST = 2000, 1000


def load_data(quick=False):
    (x_train, y_train), (x_test, y_test), _ = load_fashion_mnist()
    if quick:
        x_train, y_train = x_train[:QUICK_TRAIN], y_train[:QUICK_TRAIN]
        x_test, y_test = x_test[:QUICK_TEST], y_test[:QUICK_TEST]
    scale = np.float32(1 / 255)
    return ((x_train[:, None].astype(np.float32) * scale, y_train),
            (x_test[:, None].astype(np.float32) * scale, y_test))


def report(name, epoch, acc, elapsed, loss):
    print(f"{name:8s} epoch {epoch:2d}  train loss {loss:.4f}  test acc {acc:.4f}  "
          f"elapsed {elapsed:6.1f} s", flush=True)


def learning_rate(args, step):
    """The learning rate of mini-batch ``step`` (0, 1, ...): a cosine from --lr down to 0 over
    the whole run (--schedule cosine, the default), or --lr x --lr-decay**epoch (step)."""
    if args.schedule == "step":
        return args.lr * args.lr_decay ** (step // args.steps_per_epoch)
    return args.lr * 0.5 * (1 + math.cos(math.pi * step / (args.epochs * args.steps_per_epoch)))


class Scheduled:
    """Wraps a helpers optimizer: sets its lr before every step (fit only calls .step())."""

    def __init__(self, opt, args):
        self.opt, self.args, self.t = opt, args, 0

    def step(self):
        self.opt.lr = learning_rate(self.args, self.t)
        self.t += 1
        self.opt.step()


def run_helpers(train, test, args):
    layers.seed(args.seed)
    model = helpers_model()
    loss = SoftmaxCrossEntropy()
    opt = Scheduled(Adam(model.parameters(), lr=args.lr), args)
    times, accs = [], []
    start = time.perf_counter()

    def on_epoch(epoch, history):
        # validation= in fit evaluates the test set after every epoch, inside the timing
        times.append(time.perf_counter() - start)
        accs.append(history.val_acc[-1])
        report("helpers", epoch, accs[-1], times[-1], history.loss[-1])

    fit(model, loss, opt, *train, epochs=args.epochs, batch_size=args.batch_size,
        validation=test, seed=args.seed, progress=False, callback=on_epoch)
    return times, accs


def run_torch(torch, train, test, args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(int(args.threads))
    layers.seed(args.seed)                          # the helpers model's initial weights
    model = torch_model(torch, helpers_model())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    # the labels come read-only from the data set's cache; torch wants arrays it may write
    x, y = torch.from_numpy(train[0]), torch.from_numpy(train[1].copy())
    xt, yt = torch.from_numpy(test[0]), torch.from_numpy(test[1].copy())
    rng = np.random.default_rng(args.seed)          # the same shuffling as helpers.train.fit
    times, accs = [], []
    step = 0
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        total = 0.0
        for i in range(0, len(x), args.batch_size):
            idx = order[i:i + args.batch_size]
            for group in opt.param_groups:
                group["lr"] = learning_rate(args, step)
            step += 1
            opt.zero_grad()
            batch_loss = loss_fn(model(x[idx]), y[idx])
            batch_loss.backward()
            opt.step()
            total += batch_loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(xt[i:i + 256]).argmax(1) for i in range(0, len(xt), 256)])
        accs.append((pred == yt).float().mean().item())
        times.append(time.perf_counter() - start)
        report("pytorch", epoch, accs[-1], times[-1], total / len(x))
    return times, accs


def time_to(target, times, accs):
    return next((t for t, a in zip(times, accs) if a >= target), None)


def markdown_table(args, results):
    """The summary that main() prints last, as a Markdown table (one row per library) and the
    ratios below it."""
    lines = [f"| library | time to {args.target:.0%} test accuracy | best test accuracy | "
             f"time for {args.epochs} epoch{'s' if args.epochs != 1 else ''} | time per epoch |",
             "|---|---|---|---|---|"]
    for name, (times, accs) in results.items():
        t = time_to(args.target, times, accs)
        lines.append(f"| {name} | " + (f"{t:.1f} s" if t is not None else "not reached")
                     + f" | {max(accs):.4f} | {times[-1]:.1f} s | {times[-1] / len(times):.1f} s |")
    if len(results) == 2:
        th, tt = (time_to(args.target, *results[k]) for k in ("helpers", "pytorch"))
        (h_times, _), (t_times, _) = results["helpers"], results["pytorch"]
        lines += ["", (f"helpers / pytorch time to target: {th / tt:.2f}x; "
                       if th is not None and tt is not None else "")
                  + f"helpers / pytorch time per epoch: {h_times[-1] / t_times[-1]:.2f}x."]
    lines += ["", "Times: training plus the per-epoch evaluation of the test set, wall clock."]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--schedule", choices=["cosine", "step"], default="cosine",
                   help="cosine: lr follows a cosine from --lr to 0 over the run, set every "
                        "mini-batch (default); step: lr x --lr-decay after each epoch")
    p.add_argument("--lr-decay", type=float, default=0.5, help="lr factor after each epoch "
                   "(--schedule step)")
    p.add_argument("--threads", default="2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", type=float, default=0.91)
    p.add_argument("--no-torch", action="store_true")
    args = docs_report.parse_args(
        p, "bench_train",
        f"a check that the script runs, in a few seconds: the first {QUICK_TRAIN} training and "
        f"{QUICK_TEST} test images, 1 epoch unless --epochs says otherwise (the figures mean nothing)",
        dict(epochs=1))

    started = docs_report.now()
    machine_line = machine()
    load_start = (f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
                  f"{os.getloadavg()[2]:.2f} on {os.cpu_count()} cores; threads {args.threads}")
    print(machine_line)
    print(load_start)
    train, test = load_data(args.quick)
    args.steps_per_epoch = -(-len(train[0]) // args.batch_size)
    settings = (f"Fashion-MNIST: train {train[0].shape} test {test[0].shape} {train[0].dtype}; "
                f"batch size {args.batch_size}, Adam lr {args.lr} "
                + ("on a cosine to 0, per mini-batch, " if args.schedule == "cosine"
                   else f"x {args.lr_decay} per epoch, ") + f"{args.epochs} epochs")
    print(settings)
    print(helpers_model())

    results = {"helpers": run_helpers(train, test, args)}
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: no comparison (pip install torch)")
    if torch is not None and not args.no_torch:
        print(f"PyTorch {torch.__version__}, {args.threads} threads")
        results["pytorch"] = run_torch(torch, train, test, args)

    load_end = (f"load average at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
                f"{os.getloadavg()[2]:.2f}")
    print("\n" + load_end)
    print(f"time to {args.target:.0%} test accuracy (training + per-epoch evaluation):")
    for name, (times, accs) in results.items():
        t = time_to(args.target, times, accs)
        print(f"  {name:8s} " + (f"{t:6.1f} s" if t is not None else "not reached")
              + f"   (best {max(accs):.4f}, {times[-1]:.1f} s for {len(times)} epochs, "
              f"{times[-1] / len(times):.1f} s per epoch)")
    if len(results) == 2:
        th, tt = (time_to(args.target, *results[k]) for k in ("helpers", "pytorch"))
        if th is not None and tt is not None:
            print(f"  helpers / pytorch time to target: {th / tt:.2f}x")
        (h_times, _), (t_times, _) = results["helpers"], results["pytorch"]
        print(f"  helpers / pytorch time per epoch: {h_times[-1] / t_times[-1]:.2f}x")
    if args.docs is not None:
        libraries = ("helpers, PyTorch " + torch.__version__ if "pytorch" in results
                     else "helpers only (" + ("--no-torch" if torch is not None
                                              else "PyTorch not installed") + ")")
        table = "\n".join([f"{settings}; {libraries}.", "",
                           f"{load_start}; {load_end}.", "", markdown_table(args, results)])
        docs_report.write_section("bench_train", docs_report.run_markdown(started, machine_line, table),
                                  args.docs)
        print(f"written to {args.docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
