"""Tests of the engine, helpers.fast: every layout, group size and thread count against the
loop reference in helpers.conv, the second thread, the BLAS limit, the pinning, the tuning."""

import contextlib
import os
import threading

import numpy as np
import pytest
from hypothesis import given, strategies as st

from helpers import conv, fast
from helpers.fast import plan as fplan
from helpers.fast import threads as fthreads
from strategies import SETTINGS, conv_configs


# ---------------------------------------------------------------------------------------------
# Convolution against the loop reference
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def layout(by_image_pixels, threads=1):
    """Run the fast path with one matrix product per image (1) or per group (10**9), in one
    thread or sharing the groups between two (however small the convolution)."""
    old = fplan.BY_IMAGE_PIXELS, fthreads.THREADS, fplan.SHARE_MACS
    fplan.BY_IMAGE_PIXELS, fthreads.THREADS, fplan.SHARE_MACS = by_image_pixels, threads, 0
    try:
        yield
    finally:
        fplan.BY_IMAGE_PIXELS, fthreads.THREADS, fplan.SHARE_MACS = old


@SETTINGS
@given(conv_configs(), st.sampled_from([1, 10**9]), st.sampled_from([1, 2]))
def test_conv2d_matches_naive(cfg, by_image_pixels, threads):
    x, w, b, kw = cfg
    expected = conv.conv2d_naive(x, w, b, **kw)
    with layout(by_image_pixels, threads):
        out, cache = fast.conv2d_forward(x, w, b, **kw)
    assert cache["plan"].by_image == (by_image_pixels == 1)
    assert out.shape == expected.shape
    assert out.shape[2:] == conv.output_size(x.shape[2:], w.shape[2:], **kw)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(conv_configs(), st.sampled_from([1, 10**9]), st.sampled_from([1, 2]))
def test_conv2d_backward_matches_naive(cfg, by_image_pixels, threads):
    x, w, b, kw = cfg
    with layout(by_image_pixels, threads):
        out, cache = fast.conv2d_forward(x, w, b, **kw)
        dout = np.random.default_rng(1).standard_normal(out.shape)
        dx, dw, db = fast.conv2d_backward(dout, cache)
    ex, ew, eb = conv.conv2d_backward_naive(dout, x, w, b, **kw)
    assert dx.shape == x.shape and dw.shape == w.shape
    np.testing.assert_allclose(dx, ex, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, ew, rtol=1e-10, atol=1e-10)
    if b is None:
        assert db is None and eb is None
    else:
        np.testing.assert_allclose(db, eb, rtol=1e-10, atol=1e-10)


# stride 1 uses the long-row ("flat") layout, other strides the window view; each with one
# matrix product per image or one per group of images
@pytest.mark.parametrize("filters, stride, flat", [(2, 1, True), (40, 1, True), (2, 2, False),
                                                   (3, (2, 1), False)])
@pytest.mark.parametrize("by_image_pixels, threads, group", [
    (1, 1, 3), (10**9, 1, 3),   # 7 images at up to 3 a time: groups of 3, 3, 1
    (1, 2, 2), (10**9, 2, 2)])  # shared by two threads: 4 groups (2, 2 | 2, 1)
def test_conv2d_every_layout_matches_naive(filters, stride, flat, by_image_pixels, threads,
                                           group):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 3, 9, 8))
    w = rng.standard_normal((filters, 3, 3, 2))
    b = rng.standard_normal(filters)
    with layout(by_image_pixels, threads):
        probe = fplan.Plan(x.shape, w.shape, stride, (1, 2), 1, x.dtype, bias=True)
        old, fplan.GROUP_BYTES = fplan.GROUP_BYTES, 3 * probe.rows * probe.pixels * 8
        try:
            out, cache = fast.conv2d_forward(x, w, b, stride=stride, padding=(1, 2))
            dout = rng.standard_normal(out.shape)
            grads = fast.conv2d_backward(dout, cache)
        finally:
            fplan.GROUP_BYTES = old
    plan = cache["plan"]
    assert (plan.flat, plan.by_image) == (flat, by_image_pixels == 1)
    assert plan.group == group
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w, b, stride=stride, padding=(1, 2)),
                               rtol=1e-10, atol=1e-10)
    expected = conv.conv2d_backward_naive(dout, x, w, b, stride=stride, padding=(1, 2))
    for got, exp in zip(grads, expected):
        np.testing.assert_allclose(got, exp, rtol=1e-10, atol=1e-10)


# with stride 1 (the long-row layout computes on the padded width), OH * OW = 3 * 3 with stride 2
@pytest.mark.parametrize("stride, pixels", [(1, 6 * 8), (2, 3 * 3)])
@pytest.mark.parametrize("images, expected_group", [(0, 1), (3, 3), (4, 3), (5, 5)])
def test_conv2d_in_groups_of_images(monkeypatch, stride, pixels, images, expected_group):
    # the fast path handles the batch in groups of images (balanced: 5 images at up to 4 a time
    # go as 3 + 2); with many small groups too, and a last group smaller than the others
    monkeypatch.setattr(fplan, "GROUP_BYTES", max(1, images * 28 * pixels * 8))
    monkeypatch.setattr(fthreads, "THREADS", 1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 6, 6))
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    out, cache = fast.conv2d_forward(x, w, b, stride=stride, padding=1)
    assert cache["plan"].group == expected_group
    assert cache["plan"].pixels == pixels
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w, b, stride=stride, padding=1),
                               atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for got, expected in zip(fast.conv2d_backward(dout, cache),
                             conv.conv2d_backward_naive(dout, x, w, b, stride=stride, padding=1)):
        np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("dilation", [1, (2, 1)])
@pytest.mark.parametrize("side_by_side", [False, True])
def test_flat_col2im_sums_the_shifted_taps_and_reads_only_what_it_wrote(dilation, side_by_side):
    # add_taps adds every kernel tap's row of dcols, shifted by the tap's offset in the long
    # row, in one sum over a strided view that also reads the gaps between the rows; spaced
    # writes zeros there. The buffers start as NaN: a read of anything else would show.
    plan = fplan.Plan((3, 2, 7, 6), (4, 2, 3, 2), 1, (1, 1), dilation, np.dtype(np.float64))
    m, (kh, kw), (dh, dw) = 3, plan.k, plan.d
    if side_by_side:      # (C*KH*KW, m * Hp*Wp) -> (C, m * Hp*Wp)
        rows, length, out_shape, lead = plan.taps, m * plan.area, (plan.c, m * plan.area), ()
    else:                 # by image: (m * C*KH*KW, OH*Wp) -> (m, C, Hp*Wp)
        rows, length, out_shape, lead = m * plan.taps, plan.pixels, (m, plan.c, plan.area), (m,)
    buf = np.full(rows * (length + plan.reach), np.nan)
    dcols = plan.spaced(buf, rows, length)
    dcols[...] = np.random.default_rng(6).standard_normal(dcols.shape)
    dbuf = np.full(out_shape, np.nan)
    plan.add_taps(dcols, dbuf)
    expected = np.zeros(out_shape[:-1] + (out_shape[-1] + plan.reach + length,))
    taps = dcols.reshape(*lead, plan.c, kh, kw, length)
    for i in range(kh):
        for j in range(kw):
            start = i * dh * plan.wp + j * dw
            expected[..., start:start + length] += taps[..., i, j, :]
    np.testing.assert_allclose(dbuf, expected[..., :out_shape[-1]], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("hw, by_image", [((28, 28), True), ((9, 7), False)])
def test_two_threads_share_the_groups_and_give_the_same_result(monkeypatch, hw, by_image):
    # one product per image (28x28: 784 grid points) or per group (9x7: 35 grid points, side by
    # side): the groups are shared by two threads, which compute each image as one thread
    # does, so the output is bit for bit the same
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, 2, *hw)).astype(np.float32)
    w = rng.standard_normal((4, 2, 5, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    dout = rng.standard_normal((9, 4, hw[0] - 4, hw[1] - 2)).astype(np.float32)
    monkeypatch.setattr(fplan, "GROUP_BYTES", 1)                  # one image per group
    monkeypatch.setattr(fplan, "SHARE_MACS", 0)                   # shared however small
    real_groups = fplan.Plan.groups
    threads_seen = {1: set(), 2: set()}
    results = {}
    blas_before = [i["num_threads"] for i in threadpoolctl.threadpool_info()]
    for threads in (1, 2):
        def spy(plan, *args, threads=threads):
            threads_seen[threads].add(threading.current_thread().name)
            return real_groups(plan, *args)
        monkeypatch.setattr(fplan.Plan, "groups", spy)
        monkeypatch.setattr(fthreads, "THREADS", threads)
        out, cache = fast.conv2d_forward(x, w, b)
        assert cache["plan"].by_image == by_image and cache["plan"].group == 1
        results[threads] = (out,) + fast.conv2d_backward(dout, cache)
    assert len(threads_seen[1]) == 1
    assert len(threads_seen[2]) == 2                             # this thread and the pool's
    np.testing.assert_array_equal(results[2][0], results[1][0])
    for got, expected in zip(results[2][1:], results[1][1:]):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    expected = conv.conv2d_backward_naive(dout, x.astype(np.float64), w.astype(np.float64), b)
    for got, exact in zip(results[2][1:], expected):
        np.testing.assert_allclose(got, exact, rtol=1e-4, atol=1e-4)
    # the BLAS's thread count is back to what it was
    assert [i["num_threads"] for i in threadpoolctl.threadpool_info()] == blas_before


def test_only_convolutions_worth_a_second_thread_are_shared(monkeypatch):
    # handing work to the second thread costs more than a few images' convolution (idea 8):
    # below SHARE_MACS multiply-adds a call runs in this thread, in as few groups as fit
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(fthreads, "THREADS", 2)
    rng = np.random.default_rng(7)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)
    real_groups = fplan.Plan.groups
    seen = set()

    def spy(plan, *args):
        seen.add(threading.current_thread().name)
        return real_groups(plan, *args)

    monkeypatch.setattr(fplan.Plan, "groups", spy)
    for n, shared in ((4, False), (100, True)):      # 1.35 and 33.8 million multiply-adds
        x = rng.standard_normal((n, 6, 14, 14)).astype(np.float32)
        seen.clear()
        out, cache = fast.conv2d_forward(x, w)
        plan = cache["plan"]
        assert plan.macs == n * 16 * 150 * 10 * 14                 # F * C*KH*KW * grid points
        assert plan.shared == shared == (plan.macs >= fplan.SHARE_MACS)
        assert len(seen) == (2 if shared else 1)
        if not shared:
            assert plan.group == n                                 # one group: it fits
        seen.clear()
        fast.conv2d_backward(np.ones_like(out), cache)
        assert len(seen) == (2 if shared else 1)
        np.testing.assert_allclose(out, conv.conv2d_naive(x, w), rtol=1e-4, atol=1e-4)


needs_two_cores = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs os.sched_setaffinity and two cores")


def _cores_seen(monkeypatch, pin):
    """The cores each thread of a shared call may run on, and this thread's cores after it."""
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(fthreads, "THREADS", 2)
    monkeypatch.setattr(fthreads, "PIN_THREADS", pin)
    seen = {}

    def work(lo, hi):
        seen[lo] = frozenset(os.sched_getaffinity(0))
        return lo

    before = os.sched_getaffinity(0)
    assert fthreads.share_images(work, 8) == [0, 4]
    tid = fthreads._state["tid"]
    return before, seen, os.sched_getaffinity(0), os.sched_getaffinity(tid)


@needs_two_cores
def test_a_shared_call_holds_its_two_threads_on_two_cores(monkeypatch):
    # the scheduler may wake the second thread on the first one's core (idea 9)
    before, seen, after, pool_after = _cores_seen(monkeypatch, True)
    assert len(seen[0]) == len(seen[4]) == 1 and seen[0] != seen[4]
    assert seen[0] | seen[4] <= before
    assert after == pool_after == before                          # both given back


@needs_two_cores
def test_pinning_can_be_switched_off(monkeypatch):
    before, seen, after, _ = _cores_seen(monkeypatch, False)
    assert seen[0] == before and after == before


def test_a_shared_call_runs_where_cores_cannot_be_chosen(monkeypatch):
    # a system or policy that refuses sched_setaffinity: the call runs all the same
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(fthreads, "THREADS", 2)

    def refuse(pid, cores):
        raise PermissionError("not allowed")

    monkeypatch.setattr(fthreads.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(fthreads.os, "sched_setaffinity", refuse, raising=False)
    assert fthreads.share_images(lambda lo, hi: (lo, hi), 6) == [(0, 3), (3, 6)]
    monkeypatch.delattr(fthreads.os, "sched_setaffinity")              # macOS, Windows
    monkeypatch.delattr(fthreads.os, "sched_getaffinity")
    assert fthreads.share_images(lambda lo, hi: (lo, hi), 6) == [(0, 3), (3, 6)]


def test_one_blas_thread_holds_the_blas_while_helpers_uses_two(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    with threadpoolctl.threadpool_limits(2, user_api="blas"):   # what a 2-core machine has
        before = blas_threads()
        monkeypatch.setattr(fthreads, "THREADS", 2)
        with fthreads.one_blas_thread():
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == before
        monkeypatch.setattr(fthreads, "THREADS", 1)                  # one core: nothing to share
        with fthreads.one_blas_thread():
            assert blas_threads() == before


def test_without_threadpoolctl_everything_runs_in_one_thread(monkeypatch):
    # the BLAS threads could not be held back, and ours would compete with them
    import sys
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)     # import fails
    monkeypatch.setitem(fthreads._state, "blas", None)
    monkeypatch.setattr(fthreads, "THREADS", 2)
    seen = []
    assert fthreads.share_images(lambda lo, hi: seen.append((lo, hi)), 8) == [None]
    assert seen == [(0, 8)]
    with fthreads.one_blas_thread():
        pass
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((6, 2, 9, 9)), rng.standard_normal((3, 2, 3, 3))
    np.testing.assert_allclose(fast.conv2d(x, w), conv.conv2d_naive(x, w), rtol=1e-10, atol=1e-10)


def test_a_second_caller_runs_in_its_own_thread(monkeypatch):
    # while one call holds the two threads, another (from a user's thread) runs on its own
    monkeypatch.setattr(fthreads, "THREADS", 2)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 1, 28, 28))
    w = rng.standard_normal((3, 1, 5, 5))
    with fthreads._lock:
        out = fast.conv2d(x, w)
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w), rtol=1e-10, atol=1e-10)


def test_thread_count_follows_the_blas_setting(monkeypatch):
    # at most 2; a process told to use one BLAS thread (benchmarks' --threads 1) gets one
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(fthreads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert fthreads.thread_count() == 2
    monkeypatch.setattr(fthreads.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert fthreads.thread_count() == 1
    monkeypatch.setattr(fthreads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
        assert fthreads.thread_count() == 1
        monkeypatch.setenv(var, "8")
        assert fthreads.thread_count() == 2
        monkeypatch.setenv(var, "not a number")                  # ignored, as OpenBLAS does
        assert fthreads.thread_count() == 2
        monkeypatch.delenv(var)
