"""Timing for the performance lab (lesson 07): how fast is this machine, and each convolution?

- ``machine()`` describes this machine in one line (CPU, cores, caches, NumPy and its BLAS),
  to print next to any timing: figures mean little without it;
- ``matmul_gflops()`` measures the machine's matrix-multiply rate (NumPy's BLAS), the ceiling
  that an im2col convolution can at best approach, since its work *is* one matrix product;
- ``best_time(fn, ...)`` times a call the way ``timeit`` does (best of a few rounds);
- ``peak_memory(fn, ...)`` measures the largest extra memory a call allocates (tracemalloc);
- ``conv_flops(...)`` counts the floating-point operations of a convolution;
- ``conv2d_textbook`` is the im2col convolution as "Deep Learning from Scratch" writes it
  (a 6-D zero array filled by a loop over the kernel offsets, a transpose, a reshape);
- ``benchmark_conv(cases)`` runs loops, textbook im2col, ``helpers.conv.conv2d`` (the
  reference), ``helpers.fast.conv2d`` (the engine) and PyTorch
  (when ``import torch`` works; the course does not install it) on a few shapes, checks that
  they all agree, and returns a table.

Timings are noisy (other programs share the cores); agreement is exact up to rounding.
Only ``helpers.conv`` and ``helpers.fast`` are imported, so this module sits right above them.
"""
from __future__ import annotations

import math
import os
import platform
import time
import tracemalloc
from dataclasses import dataclass, field

import numpy as np

from helpers import conv, fast
from helpers.fast import threads

__all__ = ["machine", "best_time", "matmul_gflops", "peak_memory", "conv_flops", "im2col_textbook",
           "conv2d_textbook", "torch_conv2d", "CASES", "BenchResult", "benchmark_conv"]


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------

def _cpu_model():
    """The CPU's name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _caches():
    """'L2 1 MiB, L3 32 MiB' (per instance, as cpu0 sees them), or '' where Linux's sysfs is
    not there."""
    found = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return ""
    for entry in entries:
        try:
            with open(f"{base}/{entry}/level", encoding="utf-8") as f:
                level = int(f.read())
            with open(f"{base}/{entry}/size", encoding="utf-8") as f:
                size = f.read().strip()
        except (OSError, ValueError):
            continue
        if level >= 2 and size.endswith("K"):
            kib = int(size[:-1])
            found[level] = f"{kib // 1024} MiB" if kib % 1024 == 0 else f"{kib} KiB"
    return ", ".join(f"L{level} {size}" for level, size in sorted(found.items()))


def machine():
    """One line about this machine, for the top of any table of timings, e.g.
    'AMD EPYC, 2 cores (L2 1 MiB, L3 32 MiB); NumPy 2.4.6, openblas 0.3.31 (SkylakeX kernels,
    2 threads)'. The BLAS part comes from threadpoolctl when it is installed. When the
    environment picks OpenBLAS's kernels (``OPENBLAS_CORETYPE``, which some machines set because
    older OpenBLAS builds fail on their CPU), the line says so: timings with other kernels do
    not compare (docs/performance.md gives the figures)."""
    cores = threads.usable_cores()
    caches = _caches()
    line = f"{_cpu_model()}, {cores} core{'s' if cores != 1 else ''}"
    line += f" ({caches})" if caches else ""
    line += f"; NumPy {np.__version__}"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return line
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            version = ".".join(str(lib.get("version") or "?").split(".")[:3])
            arch = f"{lib['architecture']} kernels, " if lib.get("architecture") else ""
            line += f", {lib['internal_api']} {version} ({arch}{lib['num_threads']} threads)"
            forced = os.environ.get("OPENBLAS_CORETYPE", "").strip()
            if forced and lib["internal_api"] == "openblas":
                line += f"; kernels forced by OPENBLAS_CORETYPE={forced}"
            break
    return line


def best_time(fn, *args, repeat=3, min_time=0.02, warmup=True, **kwargs):
    """Seconds per call of ``fn(*args, **kwargs)``: the best of ``repeat`` rounds.

    Each round calls fn often enough to last at least ``min_time`` seconds (so that a 50 us
    call is not measured with a 1 us clock once); the best round is the one least disturbed by
    other programs. warmup: one untimed call first (caches, lazy initialisation); switch it off
    for slow calls such as the loop version.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    if warmup:
        fn(*args, **kwargs)
    number, best = 1, math.inf
    for _ in range(repeat):
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                fn(*args, **kwargs)
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time or number >= 1 << 20 or best < math.inf:
                break
            # too short to measure well: call it more often (about min_time's worth)
            number = max(2 * number, int(number * min_time / max(elapsed, 1e-9)) + 1)
        best = min(best, elapsed / number)
    return best


def matmul_gflops(n=1024, dtype=np.float32, repeat=5):
    """The machine's matrix-multiply rate in GFLOP/s: an (n, n) @ (n, n) product costs 2*n**3
    floating-point operations (n**3 multiplications and as many additions)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    return 2 * n**3 / best_time(np.matmul, a, b, repeat=repeat) / 1e9


def peak_memory(fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)``; return (result, peak bytes allocated during the call).

    Uses tracemalloc, which sees NumPy's array buffers. A view (no copy) costs ~0 bytes; a
    copy costs its ``nbytes``. Memory that exists before the call is not counted.
    """
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        result = fn(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, peak


def conv_flops(x_shape, w_shape, stride=1, padding=0, dilation=1):
    """Floating-point operations of a convolution: 2 * N*F*OH*OW * C*KH*KW.

    x_shape: (N, C, H, W), w_shape: (F, C, KH, KW). Every output value (N*F*OH*OW of them) is
    a dot product of length C*KH*KW: that many multiplications and (about) as many additions.
    """
    n, c, h, w = x_shape
    f, c2, kh, kw = w_shape
    if c != c2:
        raise ValueError(f"w_shape has {c2} input channels but x_shape has {c}")
    oh, ow = conv.output_size((h, w), (kh, kw), stride, padding, dilation)
    return 2 * n * f * oh * ow * c * kh * kw


# ---------------------------------------------------------------------------------------------
# The implementations that the lab compares
# ---------------------------------------------------------------------------------------------

def im2col_textbook(x, kernel_size, stride=1, padding=0, dtype=None):
    """im2col the textbook way: x (N, C, H, W) -> (N*OH*OW, C*KH*KW).

    A zero array (N, C, KH, KW, OH, OW) is filled by one strided slice per kernel offset
    (KH*KW slices, not OH*OW windows), then transposed to (N, OH, OW, C, KH, KW) and reshaped;
    the reshape of a transposed array copies it a second time. dtype: the dtype of that array;
    None keeps x's (the book writes ``np.zeros(...)``, i.e. float64 for everything).
    """
    (kh, kw), (sh, sw) = conv.pair(kernel_size, "kernel_size"), conv.pair(stride, "stride")
    (ph, pw) = conv.pair(padding, "padding")
    n, c, h, w = x.shape
    oh, ow = conv.output_size((h, w), (kh, kw), (sh, sw), (ph, pw))
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    cols = np.zeros((n, c, kh, kw, oh, ow), dtype=x.dtype if dtype is None else dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * kh * kw)


def conv2d_textbook(x, w, b=None, stride=1, padding=0, dtype=None):
    """Convolution through ``im2col_textbook`` and one matrix product.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (N, F, OH, OW) (a transposed view,
    as in the book). dtype: see ``im2col_textbook``.
    """
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = conv.output_size((h, wd), (kh, kw), stride, padding)
    cols = im2col_textbook(x, (kh, kw), stride, padding, dtype)        # (N*OH*OW, C*KH*KW)
    out = cols @ w.reshape(f, -1).T                                     # (N*OH*OW, F)
    if b is not None:
        out += b
    return out.reshape(n, oh, ow, f).transpose(0, 3, 1, 2)              # (N, F, OH, OW)


def torch_conv2d():
    """PyTorch's convolution as a NumPy function, or None when PyTorch is not installed.

    The returned function has the signature of ``helpers.conv.conv2d`` (without dilation) and a
    ``version`` attribute. The course never needs PyTorch; the lab only adds a column for it.
    """
    try:
        import torch
        import torch.nn.functional as F
    except Exception:            # not installed, or installed but broken: no column
        return None

    def conv2d_torch(x, w, b=None, stride=1, padding=0):
        with torch.no_grad():
            out = F.conv2d(torch.from_numpy(np.ascontiguousarray(x)),
                           torch.from_numpy(np.ascontiguousarray(w)),
                           None if b is None else torch.from_numpy(np.ascontiguousarray(b)),
                           stride=stride, padding=padding)
        return out.numpy()

    conv2d_torch.version = torch.__version__
    return conv2d_torch


# ---------------------------------------------------------------------------------------------
# The lab
# ---------------------------------------------------------------------------------------------

#: A few layer shapes, from the course's networks. x: (N, C, H, W), w: (F, C, KH, KW).
CASES = [
    {"name": "SimpleConvNet conv", "x": (32, 1, 28, 28), "w": (30, 1, 5, 5), "stride": 1, "padding": 0},
    {"name": "3x3 'same', 32 ch", "x": (32, 32, 16, 16), "w": (32, 32, 3, 3), "stride": 1, "padding": 1},
    {"name": "3x3 stride 2, 64 ch", "x": (32, 64, 16, 16), "w": (64, 64, 3, 3), "stride": 2, "padding": 1},
]

LOOPS, TEXTBOOK, REFERENCE, HELPERS, TORCH = ("loops", "textbook im2col", "helpers.conv",
                                              "helpers.fast", "PyTorch")


def _fmt_seconds(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


@dataclass
class BenchResult:
    """What ``benchmark_conv`` measured.

    rows: one dict per case with keys name, x, w, stride, padding, flops, seconds (dict
    implementation -> seconds per batch), error (dict implementation -> relative error against
    the float64 loop reference). peak_gflops: the machine's matmul rate. loops_images: how many
    images the loop version really ran (its time is scaled up to the whole batch).
    """

    rows: list
    implementations: list
    peak_gflops: float
    loops_images: int
    notes: list = field(default_factory=list)

    def gflops(self, row, impl):
        """Achieved GFLOP/s of one implementation on one case."""
        return row["flops"] / row["seconds"][impl] / 1e9

    def max_error(self):
        """Largest relative error of any implementation on any case (they must all agree)."""
        return max(e for r in self.rows for e in r["error"].values())

    def table(self):
        """The results as a plain-text table: time per batch (achieved GFLOP/s) per cell."""
        head = ["case", "x (N,C,H,W)", "w (F,C,KH,KW)", "s", "p", "GFLOP"]
        head += [i + (" *" if i == LOOPS else "") for i in self.implementations]
        lines = []
        for r in self.rows:
            cells = [r["name"], "x".join(map(str, r["x"])), "x".join(map(str, r["w"])),
                     str(r["stride"]), str(r["padding"]), f"{r['flops'] / 1e9:.3f}"]
            for i in self.implementations:
                cells.append(f"{_fmt_seconds(r['seconds'][i])} ({self.gflops(r, i):.1f})")
            lines.append(cells)
        widths = [max(len(str(c)) for c in col) for col in zip(head, *lines)]
        out = ["  ".join(str(c).ljust(wd) for c, wd in zip(row, widths)) for row in [head] + lines]
        out.insert(1, "  ".join("-" * wd for wd in widths))
        out.append("")
        out.append("cells: time per batch (achieved GFLOP/s). Machine matmul rate (float32, "
                   f"measured just now): {self.peak_gflops:.1f} GFLOP/s.")
        out.append(f"* loops: measured on {self.loops_images} image(s) of each batch and scaled "
                   "up to the whole batch.")
        out.append(f"All implementations agree: largest relative error {self.max_error():.1e}.")
        out.extend(self.notes)
        return "\n".join(out)

    def __str__(self):
        return self.table()

    def _repr_html_(self):
        import html
        return f"<pre>{html.escape(self.table())}</pre>"


def benchmark_conv(cases=None, loops_images=1, repeat=3, include_torch=True, peak_gflops=None,
                   seed=0):
    """Time every implementation on every case; check that they agree. Returns a BenchResult.

    cases: list of dicts with name, x (N, C, H, W), w (F, C, KH, KW), stride, padding
    (default ``CASES``). loops_images: the loop version runs on that many images of the batch
    and its time is scaled up (it is ~1000x slower). peak_gflops: the machine's matmul rate;
    None measures it now (``matmul_gflops()``). Every output is compared on the first
    ``loops_images`` images with a float64 loop reference; ``error`` is
    max |out - ref| / max |ref|.
    """
    cases = CASES if cases is None else cases
    if loops_images < 1:
        raise ValueError(f"loops_images must be at least 1, got {loops_images}")
    impls = {LOOPS: conv.conv2d_naive, TEXTBOOK: conv2d_textbook, REFERENCE: conv.conv2d,
             HELPERS: fast.conv2d}
    notes = []
    torch_fn = torch_conv2d() if include_torch else None
    if torch_fn is not None:
        impls[TORCH] = torch_fn
        notes.append(f"PyTorch {torch_fn.version} (CPU).")
    elif include_torch:
        notes.append("PyTorch is not installed: no PyTorch column (the course does not need it).")
    if peak_gflops is None:
        peak_gflops = matmul_gflops()
    rng = np.random.default_rng(seed)
    rows = []
    for case in cases:
        x = rng.standard_normal(case["x"]).astype(np.float32)
        w = (rng.standard_normal(case["w"]) / math.sqrt(np.prod(case["w"][1:]))).astype(np.float32)
        b = rng.standard_normal(case["w"][0]).astype(np.float32)
        s, p = case.get("stride", 1), case.get("padding", 0)
        k = min(loops_images, x.shape[0])
        ref = conv.conv2d_naive(x[:k].astype(np.float64), w.astype(np.float64), b.astype(np.float64), s, p)
        scale = np.abs(ref).max()
        seconds, error = {}, {}
        for name, fn in impls.items():
            if name == LOOPS:
                t0 = time.perf_counter()
                out = fn(x[:k], w, b, s, p)
                seconds[name] = (time.perf_counter() - t0) * x.shape[0] / k
            else:
                out = fn(x, w, b, s, p)
                seconds[name] = best_time(fn, x, w, b, s, p, repeat=repeat, warmup=False)
            error[name] = float(np.abs(np.asarray(out)[:k] - ref).max() / scale)
        rows.append({"name": case["name"], "x": tuple(case["x"]), "w": tuple(case["w"]), "stride": s,
                     "padding": p, "flops": conv_flops(case["x"], case["w"], s, p),
                     "seconds": seconds, "error": error})
    return BenchResult(rows, list(impls), float(peak_gflops), loops_images, notes)
