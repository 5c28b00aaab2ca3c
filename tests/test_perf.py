"""helpers.perf: behaviour, not speed (timings are noisy on shared machines)."""
import numpy as np
import pytest

from helpers import conv, perf

TINY = [{"name": "tiny", "x": (2, 2, 6, 5), "w": (3, 2, 3, 3), "stride": 1, "padding": 1},
        {"name": "tiny s2", "x": (3, 1, 7, 7), "w": (2, 1, 3, 3), "stride": 2, "padding": 0}]


def test_conv_flops_counts_multiply_and_add():
    # SimpleConvNet's conv on 100 MNIST images: 100*30*24*24 outputs, 25 products each
    assert perf.conv_flops((100, 1, 28, 28), (30, 1, 5, 5)) == 2 * 100 * 30 * 24 * 24 * 25
    assert perf.conv_flops((1, 3, 32, 32), (8, 3, 3, 3), stride=2, padding=1) == 2 * 8 * 16 * 16 * 27
    with pytest.raises(ValueError, match="input channels"):
        perf.conv_flops((1, 3, 8, 8), (4, 2, 3, 3))


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), (3, 2), ((2, 1), (0, 1))])
def test_textbook_im2col_and_conv_agree_with_helpers(stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    cols = perf.im2col_textbook(x, (3, 2), stride, padding)
    np.testing.assert_array_equal(cols, conv.im2col(x, (3, 2), stride, padding))
    assert cols.dtype == np.float32
    assert perf.im2col_textbook(x, (3, 2), stride, padding, dtype=np.float64).dtype == np.float64
    out = perf.conv2d_textbook(x, w, b, stride, padding)
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w, b, stride, padding), rtol=1e-4, atol=1e-4)


def test_best_time_calls_the_function_and_returns_seconds_per_call():
    calls = []
    t = perf.best_time(lambda: calls.append(1), repeat=2, min_time=0.001)
    assert 0 < t < 0.01 and len(calls) > 2
    calls.clear()
    perf.best_time(lambda: calls.append(1), repeat=1, min_time=0, warmup=False)
    assert len(calls) == 1
    with pytest.raises(ValueError):
        perf.best_time(print, repeat=0)


def test_matmul_gflops_is_a_positive_rate():
    assert perf.matmul_gflops(n=64, repeat=1) > 0


def test_peak_memory_sees_copies_not_views():
    x = np.zeros((256, 1024), dtype=np.float32)        # 1 MiB
    view, peak_view = perf.peak_memory(lambda: x[:, ::2])
    copy, peak_copy = perf.peak_memory(np.ascontiguousarray, x[:, ::2])
    assert np.shares_memory(view, x) and not np.shares_memory(copy, x)
    assert peak_view < 10_000 and peak_copy >= x.nbytes // 2


def test_benchmark_conv_agrees_and_scales_the_loop_time(monkeypatch):
    monkeypatch.setattr(perf, "torch_conv2d", lambda: None)        # as on a machine without torch
    res = perf.benchmark_conv(TINY, loops_images=1, repeat=1, peak_gflops=10.0)
    assert res.implementations == [perf.LOOPS, perf.TEXTBOOK, perf.REFERENCE, perf.HELPERS]
    assert res.max_error() < 1e-5
    assert [r["flops"] for r in res.rows] == [perf.conv_flops(c["x"], c["w"], c["stride"], c["padding"])
                                              for c in TINY]
    for r in res.rows:
        assert all(t > 0 for t in r["seconds"].values())
        assert res.gflops(r, perf.HELPERS) == pytest.approx(r["flops"] / r["seconds"][perf.HELPERS] / 1e9)
    text = res.table()
    assert "10.0 GFLOP/s" in text and "loops *" in text and "scaled" in text
    assert "PyTorch is not installed" in text and "PyTorch (" not in text
    assert "<pre>" in res._repr_html_()
    with pytest.raises(ValueError):
        perf.benchmark_conv(TINY, loops_images=0)


def test_pytorch_column_when_torch_is_installed():
    fn = perf.torch_conv2d()
    if fn is None:
        pytest.skip("PyTorch is not installed (optional)")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(fn(x, w, None, 2, 1), conv.conv2d(x, w, None, 2, 1), rtol=1e-4, atol=1e-5)
    res = perf.benchmark_conv(TINY[:1], repeat=1, peak_gflops=1.0)
    assert res.implementations[-1] == perf.TORCH and res.max_error() < 1e-5


def test_torch_missing_gives_none(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_torch)
    assert perf.torch_conv2d() is None


def test_machine_names_the_cores_and_numpy(monkeypatch):
    import os
    line = perf.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert f"{cores} core" in line and f"NumPy {np.__version__}" in line
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    if blas:
        assert f"{blas[0]['internal_api']} " in line and f"{blas[0]['num_threads']} threads" in line
    monkeypatch.setattr(perf, "_cpu_model", lambda: "Test CPU 9000")
    assert perf.machine().startswith("Test CPU 9000, ")


def test_machine_says_when_the_environment_forces_openblas_kernels(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not any(lib.get("internal_api") == "openblas" for lib in threadpoolctl.threadpool_info()):
        pytest.skip("NumPy's BLAS is not OpenBLAS here")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert perf.machine().endswith("; kernels forced by OPENBLAS_CORETYPE=Haswell")
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert "OPENBLAS_CORETYPE" not in perf.machine()
