"""Convolution forward + backward: loops vs textbook im2col vs helpers.fast vs PyTorch.

Run from the repository root:

    .venv/bin/python benchmarks/bench_conv.py                # 2 threads, best of 5 x 5
    .venv/bin/python benchmarks/bench_conv.py --threads 1 --clock cpu   # on a busy machine
    .venv/bin/python benchmarks/bench_conv.py --docs     # and write the table into docs/performance.md
    .venv/bin/python benchmarks/bench_conv.py --quick    # a check that it runs (a few seconds)

Every implementation computes the same thing on the same float32 arrays: the output, and the
gradients dx, dw, db for a random dout. They are first checked against each other (and the
loops against the others on the images the loops see), then timed: in --rounds rounds, each
implementation in turn makes --repeats calls in a row, after an idle pause and --warmup
seconds of untimed calls; the table gives the best of all its calls (or the median with --stat
median). Timing call by call, interleaved, would be unfair: after a multi-threaded call,
OpenBLAS's and PyTorch's worker threads keep spinning on the other core for a while (about
0.1 s, measured), and the next implementation would share that core with them. The warm-up
then brings the cores back to speed: on the course's reference machine (a virtual machine),
the first calls after an idle pause run slower for tens of milliseconds, for every
implementation, most for helpers, whose second thread sleeps between calls where PyTorch's
spin. Measured on shape (b), forward + backward, blocks of 5 calls after 0.5 s idle and one
untimed call, against the same calls back to back (best / median ms): helpers 4.68 / 5.19
against 2.86 / 3.30, PyTorch 2.05 / 2.71 against 1.58 / 1.67. With two idle-priority busy
loops keeping both cores awake the pause made no difference to helpers (3.17 ms best after it,
3.22 ms without). Columns:

* loops: helpers.conv2d_naive + conv2d_backward_naive on --naive-images images, scaled up to the
  whole batch (the loops take minutes on the full batch);
* textbook: the "Deep Learning from Scratch" im2col layer (TextbookConvolution below, with
  helpers.perf.im2col_textbook), with float32 buffers like the other columns; "book f64": the
  same code as printed, whose np.zeros buffers are float64 (so its products run in float64);
* helpers: the engine, helpers.fast.conv2d_forward + conv2d_backward;
* torch: torch.nn.functional.conv2d with autograd (skipped when torch is not installed).

Timings on a shared machine are noisy; rerun on a quiet one before quoting them. On the
course's reference machine (a 2-core VM), multi-threaded OpenBLAS is bimodal: measured on shape
(b), blocks of 5 calls 0.3 s apart (an earlier default pause) took 4-6 ms or, about half the
time, 12-15 ms for all 5 calls (with one thread: 5-8 ms, never the slow mode); hence 5 rounds,
so that the best of them is rarely all slow. When other processes compete for the cores,
multi-threaded OpenBLAS slows down badly at every call, and helpers (a few small matrix
products per image) more than the textbook (three large ones); there, compare with
--threads 1 --clock cpu.

--docs [PATH] writes the run (date, machine, command, table) between the lines
<!-- bench_conv:begin --> and <!-- bench_conv:end --> of PATH (default docs/performance.md),
replacing the previous run's.
"""

import argparse
import os
import sys
import time

import report

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--threads", type=int, default=2, help="BLAS / torch threads (default 2)")
parser.add_argument("--repeats", type=int, default=5,
                    help="timed calls in a row per implementation and round (default 5)")
parser.add_argument("--rounds", type=int, default=5, help="rounds over the implementations "
                    "(default 5); the statistic is over all rounds * repeats calls")
parser.add_argument("--pause", type=float, default=0.5,
                    help="idle seconds before each implementation's calls (default 0.5)")
parser.add_argument("--warmup", type=float, default=0.25,
                    help="untimed seconds of calls after the pause (default 0.25; at least one "
                         "call; 0: one call, this benchmark's protocol before 2026-12-03)")
parser.add_argument("--stat", choices=["best", "median"], default="best")
parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: elapsed time (default); cpu: this process's CPU time, steadier "
                         "on a busy machine, meaningful only with --threads 1")
parser.add_argument("--naive-images", type=int, default=2,
                    help="images the loop version runs on, then scaled up (default 2)")
args = report.parse_args(
    parser, "bench_conv",
    "a check that the script runs, in a few seconds: one small shape, and unless given otherwise "
    "1 round x 1 call, no pause, no warm-up, 1 loop image (the figures mean nothing)",
    dict(rounds=1, repeats=1, pause=0.0, warmup=0.0, naive_images=1))
if args.clock == "cpu" and args.threads != 1:
    parser.error("--clock cpu needs --threads 1 (CPU time adds up the time of every thread)")

# thread counts must be set before NumPy (OpenBLAS) starts
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import conv, fast, perf  # noqa: E402

try:
    import torch
    torch.set_num_threads(args.threads)
except ImportError:
    torch = None

SHAPES = [
    # name, N, C, H=W, F, K, padding
    ("a", 100, 1, 28, 30, 5, 0),
    ("b", 100, 6, 14, 16, 5, 0),
    ("c", 64, 32, 32, 64, 3, 1),
]
if args.quick:
    SHAPES = [("q", 4, 3, 12, 8, 3, 1)]


def col2im_textbook(col, input_shape, filter_h, filter_w, stride=1, pad=0, dtype=None):
    """The book's col2im (common/util.py): the adjoint of helpers.perf.im2col_textbook, one
    strided += per kernel offset. dtype: that of the padded image buffer (None: col's; the book
    writes np.zeros, float64)."""
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)

    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1),
                   dtype=col.dtype if dtype is None else dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]

    return img[:, :, pad:H + pad, pad:W + pad]


class TextbookConvolution:
    """The book's layer (common/layers.py, Convolution), as printed but for its im2col, which is
    helpers.perf.im2col_textbook: forward(x) -> out (N, F, OH, OW); backward(dout) -> dx; dW, db.
    No dilation (the book has none). dtype: that of the im2col / col2im buffers; None keeps the
    input's (float32 here, like the other columns), np.float64 is the book's literal np.zeros."""

    def __init__(self, W, b, stride=1, pad=0, dtype=None):
        self.W, self.b, self.stride, self.pad, self.dtype = W, b, stride, pad, dtype

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        out_h = 1 + int((H + 2 * self.pad - FH) / self.stride)
        out_w = 1 + int((W + 2 * self.pad - FW) / self.stride)

        col = perf.im2col_textbook(x, (FH, FW), self.stride, self.pad, self.dtype)
        col_W = self.W.reshape(FN, -1).T

        out = np.dot(col, col_W) + self.b
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)

        self.x, self.col, self.col_W = x, col, col_W
        return out

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)

        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout)
        self.dW = self.dW.transpose(1, 0).reshape(FN, C, FH, FW)

        dcol = np.dot(dout, self.col_W.T)
        dx = col2im_textbook(dcol, self.x.shape, FH, FW, self.stride, self.pad, self.dtype)
        return dx


def run_naive(x, w, b, dout, pad):
    out = conv.conv2d_naive(x, w, b, padding=pad)
    return (out,) + conv.conv2d_backward_naive(dout, x, w, b, padding=pad)


def make_textbook(w, b, pad, dtype=None):
    layer = TextbookConvolution(w, b, stride=1, pad=pad, dtype=dtype)

    def run(x, dout):
        out = layer.forward(x)
        dx = layer.backward(dout)
        return out, dx, layer.dW, layer.db
    return run


def run_helpers(x, w, b, dout, pad):
    out, cache = fast.conv2d_forward(x, w, b, padding=pad)
    return (out,) + fast.conv2d_backward(dout, cache)


def make_torch(x, w, b, dout, pad):
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    dt = torch.from_numpy(dout)

    def run():
        for t in (xt, wt, bt):
            t.grad = None
        out = torch.nn.functional.conv2d(xt, wt, bt, padding=pad)
        out.backward(dt)
        return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()
    return run


def max_rel_error(results, reference):
    """Largest error over out, dx, dw, db, relative to each array's largest magnitude."""
    return max(float(np.max(np.abs(np.asarray(r, np.float64) - e)) / (np.max(np.abs(e)) + 1e-12))
               for r, e in zip(results, reference))


CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter


def timed(fn):
    t = CLOCK()
    fn()
    return CLOCK() - t


def main():
    stat = np.min if args.stat == "best" else np.median
    rows = []
    started = report.now()
    machine = perf.machine()
    settings = (f"threads {args.threads}, {args.stat} of {args.rounds} "
                f"rounds x {args.repeats} calls ({args.clock} clock)"
                + (f", torch {torch.__version__}" if torch else ", torch not installed"))
    print(machine)                            # the CPU, NumPy and its BLAS
    print(settings)
    for name, n, c, hw, f, k, pad in SHAPES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
        w = (rng.standard_normal((f, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
        b = rng.standard_normal(f).astype(np.float32)
        oh = conv.output_size(hw, k, padding=pad)
        dout = rng.standard_normal((n, f, oh, oh)).astype(np.float32)

        # float64 reference for the agreement check
        ref = run_helpers(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                          dout.astype(np.float64), pad)
        m = args.naive_images
        impls = {
            "textbook": lambda tb=make_textbook(w, b, pad): tb(x, dout),
            "book f64": lambda tb=make_textbook(w, b, pad, np.float64): tb(x, dout),
            "helpers": lambda: run_helpers(x, w, b, dout, pad),
        }
        if torch is not None:
            impls["torch"] = make_torch(x, w, b, dout, pad)
        for key, fn in impls.items():
            err = max_rel_error(fn(), ref)
            assert err < 1e-4, f"{key} disagrees with the float64 reference on shape {name}: {err}"
        # the loops see the first m images; dw and db then only hold those images' share
        naive = run_naive(x[:m], w, b, dout[:m], pad)
        ref_m = run_helpers(x[:m].astype(np.float64), w.astype(np.float64),
                            b.astype(np.float64), dout[:m].astype(np.float64), pad)
        assert max_rel_error(naive, ref_m) < 1e-4, f"loops disagree on shape {name}"

        times = {key: [] for key in impls}
        for _ in range(args.rounds):
            for key, fn in impls.items():
                time.sleep(args.pause)        # let the last implementation's threads go idle
                warm_until = time.perf_counter() + args.warmup
                fn()                          # warm up caches, this one's threads and the cores
                while time.perf_counter() < warm_until:
                    fn()
                times[key] += [timed(fn) for _ in range(args.repeats)]
        ms = {key: 1e3 * float(stat(v)) for key, v in times.items()}
        naive_s = min(timed(lambda: run_naive(x[:m], w, b, dout[:m], pad))
                      for _ in range(1 if m * f * oh * oh > 50_000 else 3))
        ms["loops"] = 1e3 * naive_s * n / m
        rows.append((f"({name}) N={n} C={c} {hw}x{hw}, {f} filters {k}x{k}"
                     + (f" pad {pad}" if pad else ""), ms))
        print(f"shape ({name}) done", file=sys.stderr)

    cols = ["loops", "textbook", "book f64", "helpers"] + (["torch"] if torch else [])
    header = ["shape (forward + backward, float32 inputs)"] + [
        f"{c} ms" + ("*" if c == "loops" else "") for c in cols] + [
        "textbook / helpers", "book f64 / helpers"] + (["helpers / torch"] if torch else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, ms in rows:
        cells = [label] + [f"{ms[c]:.1f}" if ms[c] < 1000 else f"{ms[c]:.0f}" for c in cols]
        cells += [f"{ms['textbook'] / ms['helpers']:.1f}x",
                  f"{ms['book f64'] / ms['helpers']:.1f}x"]
        if torch:
            cells.append(f"{ms['helpers'] / ms['torch']:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    note = (f"\\* loops: run on {args.naive_images} images and scaled up to the batch (x N / "
            f"{args.naive_images}). All columns agree with a float64 computation to < 1e-4 "
            f"relative error (checked before timing). textbook / helpers > 1 and helpers / torch "
            f"< 1 mean helpers is faster. book f64 computes in float64, all others in float32.")
    print("\n".join(lines))
    print(note)
    if args.docs is not None:
        table = "\n".join([settings + ".", ""] + lines + ["", note])
        report.write_section("bench_conv", report.run_markdown(started, machine, table), args.docs)
        print(f"written to {args.docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
