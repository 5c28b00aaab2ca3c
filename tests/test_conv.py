"""Tests of helpers.conv: the fast functions against the loop references, adjointness,
numerical gradients, overlapping windows, dtypes, and every error message."""

import contextlib
import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from helpers import conv

SETTINGS = settings(max_examples=50, deadline=None)


# ---------------------------------------------------------------------------------------------
# Strategies: random but always valid configurations
# ---------------------------------------------------------------------------------------------

@st.composite
def conv_configs(draw):
    """x, w, b and the keyword arguments of one valid convolution (float64)."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))          # non-square kernels
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.one_of(st.just("same"), st.just("valid"), st.integers(0, 2),
                             st.tuples(st.integers(0, 2), st.integers(0, 2))))
    if padding == "same":
        stride = 1
    else:
        stride = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    (top, bottom), (left, right) = conv.resolve_padding(padding, (kh, kw), (dh, dw))
    # the smallest input the dilated kernel fits in, plus something
    h = max(1, dh * (kh - 1) + 1 - top - bottom) + draw(st.integers(0, 5))
    w_ = max(1, dw * (kw - 1) + 1 - left - right) + draw(st.integers(0, 5))
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w_))
    w = rng.standard_normal((f, c, kh, kw))
    b = rng.standard_normal(f) if draw(st.booleans()) else None
    return x, w, b, dict(stride=stride, padding=padding, dilation=(dh, dw))


@st.composite
def pool_configs(draw):
    """x and the keyword arguments of one valid pooling, often with overlapping windows
    (stride < kernel) and windows that do not tile the input."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.integers(1, 3),
                            st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(st.one_of(st.integers(0, min(kh, kw) // 2),
                             st.tuples(st.integers(0, kh // 2), st.integers(0, kw // 2))))
    ph, pw = conv.pair(padding, "padding")
    h = max(1, kh - 2 * ph) + draw(st.integers(0, 6))
    w = max(1, kw - 2 * pw) + draw(st.integers(0, 6))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((n, c, h, w))
    return x, dict(kernel_size=(kh, kw), stride=stride, padding=padding)


# ---------------------------------------------------------------------------------------------
# Convolution against the loop reference
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def layout(by_image_pixels, threads=1):
    """Run the fast path with one matrix product per image (1) or per group (10**9), in one
    thread or sharing the groups between two (however small the convolution)."""
    old = conv.BY_IMAGE_PIXELS, conv.THREADS, conv.SHARE_MACS
    conv.BY_IMAGE_PIXELS, conv.THREADS, conv.SHARE_MACS = by_image_pixels, threads, 0
    try:
        yield
    finally:
        conv.BY_IMAGE_PIXELS, conv.THREADS, conv.SHARE_MACS = old


@SETTINGS
@given(conv_configs(), st.sampled_from([1, 10**9]), st.sampled_from([1, 2]))
def test_conv2d_matches_naive(cfg, by_image_pixels, threads):
    x, w, b, kw = cfg
    expected = conv.conv2d_naive(x, w, b, **kw)
    with layout(by_image_pixels, threads):
        out, cache = conv.conv2d_forward(x, w, b, **kw)
    assert cache["plan"].by_image == (by_image_pixels == 1)
    assert out.shape == expected.shape
    assert out.shape[2:] == conv.output_size(x.shape[2:], w.shape[2:], **kw)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(conv_configs(), st.sampled_from([1, 10**9]), st.sampled_from([1, 2]))
def test_conv2d_backward_matches_naive(cfg, by_image_pixels, threads):
    x, w, b, kw = cfg
    with layout(by_image_pixels, threads):
        out, cache = conv.conv2d_forward(x, w, b, **kw)
        dout = np.random.default_rng(1).standard_normal(out.shape)
        dx, dw, db = conv.conv2d_backward(dout, cache)
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
        probe = conv._Plan(x.shape, w.shape, stride, (1, 2), 1, x.dtype, bias=True)
        old, conv.GROUP_BYTES = conv.GROUP_BYTES, 3 * probe.rows * probe.pixels * 8
        try:
            out, cache = conv.conv2d_forward(x, w, b, stride=stride, padding=(1, 2))
            dout = rng.standard_normal(out.shape)
            grads = conv.conv2d_backward(dout, cache)
        finally:
            conv.GROUP_BYTES = old
    plan = cache["plan"]
    assert (plan.flat, plan.by_image) == (flat, by_image_pixels == 1)
    assert plan.group == group
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w, b, stride=stride, padding=(1, 2)),
                               rtol=1e-10, atol=1e-10)
    expected = conv.conv2d_backward_naive(dout, x, w, b, stride=stride, padding=(1, 2))
    for got, exp in zip(grads, expected):
        np.testing.assert_allclose(got, exp, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(conv_configs())
def test_im2col_matmul_is_the_convolution(cfg):
    x, w, b, kw = cfg
    cols = conv.im2col(x, w.shape[2:], **kw)
    n, f = x.shape[0], w.shape[0]
    oh, ow = conv.output_size(x.shape[2:], w.shape[2:], **kw)
    assert cols.shape == (n * oh * ow, x.shape[1] * w.shape[2] * w.shape[3])
    out = (cols @ w.reshape(f, -1).T).reshape(n, oh, ow, f).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w, None, **kw), rtol=1e-10, atol=1e-10)


@SETTINGS
@given(conv_configs())
def test_col2im_is_the_adjoint_of_im2col(cfg):
    x, w, _, kw = cfg
    cols = conv.im2col(x, w.shape[2:], **kw)
    c = np.random.default_rng(2).standard_normal(cols.shape)
    back = conv.col2im(c, x.shape, w.shape[2:], **kw)
    assert back.shape == x.shape
    # <im2col(x), c> == <x, col2im(c)>
    np.testing.assert_allclose(np.vdot(cols, c), np.vdot(x, back), rtol=1e-10, atol=1e-10)


# per image, cols is (C*KH*KW + 1 for the bias, pixels) float64: 28 rows; pixels = OH * Wp = 6 * 8
# with stride 1 (the long-row layout computes on the padded width), OH * OW = 3 * 3 with stride 2
@pytest.mark.parametrize("stride, pixels", [(1, 6 * 8), (2, 3 * 3)])
@pytest.mark.parametrize("images, expected_group", [(0, 1), (3, 3), (4, 3), (5, 5)])
def test_conv2d_in_groups_of_images(monkeypatch, stride, pixels, images, expected_group):
    # the fast path handles the batch in groups of images (balanced: 5 images at up to 4 a time
    # go as 3 + 2); with many small groups too, and a last group smaller than the others
    monkeypatch.setattr(conv, "GROUP_BYTES", max(1, images * 28 * pixels * 8))
    monkeypatch.setattr(conv, "THREADS", 1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 6, 6))
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    out, cache = conv.conv2d_forward(x, w, b, stride=stride, padding=1)
    assert cache["plan"].group == expected_group
    assert cache["plan"].pixels == pixels
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w, b, stride=stride, padding=1),
                               atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for got, expected in zip(conv.conv2d_backward(dout, cache),
                             conv.conv2d_backward_naive(dout, x, w, b, stride=stride, padding=1)):
        np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("dilation", [1, (2, 1)])
@pytest.mark.parametrize("side_by_side", [False, True])
def test_flat_col2im_sums_the_shifted_taps_and_reads_only_what_it_wrote(dilation, side_by_side):
    # add_taps adds every kernel tap's row of dcols, shifted by the tap's offset in the long
    # row, in one sum over a strided view that also reads the gaps between the rows; spaced
    # writes zeros there. The buffers start as NaN: a read of anything else would show.
    plan = conv._Plan((3, 2, 7, 6), (4, 2, 3, 2), 1, (1, 1), dilation, np.dtype(np.float64))
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
    monkeypatch.setattr(conv, "GROUP_BYTES", 1)                  # one image per group
    monkeypatch.setattr(conv, "SHARE_MACS", 0)                   # shared however small
    real_groups = conv._Plan.groups
    threads_seen = {1: set(), 2: set()}
    results = {}
    blas_before = [i["num_threads"] for i in threadpoolctl.threadpool_info()]
    for threads in (1, 2):
        def spy(plan, *args, threads=threads):
            threads_seen[threads].add(threading.current_thread().name)
            return real_groups(plan, *args)
        monkeypatch.setattr(conv._Plan, "groups", spy)
        monkeypatch.setattr(conv, "THREADS", threads)
        out, cache = conv.conv2d_forward(x, w, b)
        assert cache["plan"].by_image == by_image and cache["plan"].group == 1
        results[threads] = (out,) + conv.conv2d_backward(dout, cache)
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
    # handing work to the second thread costs more than a few images' convolution (note 8):
    # below SHARE_MACS multiply-adds a call runs in this thread, in as few groups as fit
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(conv, "THREADS", 2)
    rng = np.random.default_rng(7)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)
    real_groups = conv._Plan.groups
    seen = set()

    def spy(plan, *args):
        seen.add(threading.current_thread().name)
        return real_groups(plan, *args)

    monkeypatch.setattr(conv._Plan, "groups", spy)
    for n, shared in ((4, False), (100, True)):      # 1.35 and 33.8 million multiply-adds
        x = rng.standard_normal((n, 6, 14, 14)).astype(np.float32)
        seen.clear()
        out, cache = conv.conv2d_forward(x, w)
        plan = cache["plan"]
        assert plan.macs == n * 16 * 150 * 10 * 14                 # F * C*KH*KW * grid points
        assert plan.shared == shared == (plan.macs >= conv.SHARE_MACS)
        assert len(seen) == (2 if shared else 1)
        if not shared:
            assert plan.group == n                                 # one group: it fits
        seen.clear()
        conv.conv2d_backward(np.ones_like(out), cache)
        assert len(seen) == (2 if shared else 1)
        np.testing.assert_allclose(out, conv.conv2d_naive(x, w), rtol=1e-4, atol=1e-4)


needs_two_cores = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs os.sched_setaffinity and two cores")


def _cores_seen(monkeypatch, pin):
    """The cores each thread of a shared call may run on, and this thread's cores after it."""
    pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(conv, "THREADS", 2)
    monkeypatch.setattr(conv, "PIN_THREADS", pin)
    seen = {}

    def work(lo, hi):
        seen[lo] = frozenset(os.sched_getaffinity(0))
        return lo

    before = os.sched_getaffinity(0)
    assert conv.share_images(work, 8) == [0, 4]
    tid = conv._share_state["tid"]
    return before, seen, os.sched_getaffinity(0), os.sched_getaffinity(tid)


@needs_two_cores
def test_a_shared_call_holds_its_two_threads_on_two_cores(monkeypatch):
    # the scheduler may wake the second thread on the first one's core (note 9)
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
    monkeypatch.setattr(conv, "THREADS", 2)

    def refuse(pid, cores):
        raise PermissionError("not allowed")

    monkeypatch.setattr(conv.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(conv.os, "sched_setaffinity", refuse, raising=False)
    assert conv.share_images(lambda lo, hi: (lo, hi), 6) == [(0, 3), (3, 6)]
    monkeypatch.delattr(conv.os, "sched_setaffinity")              # macOS, Windows
    monkeypatch.delattr(conv.os, "sched_getaffinity")
    assert conv.share_images(lambda lo, hi: (lo, hi), 6) == [(0, 3), (3, 6)]


def test_one_blas_thread_holds_the_blas_while_helpers_uses_two(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    with threadpoolctl.threadpool_limits(2, user_api="blas"):   # what a 2-core machine has
        before = blas_threads()
        monkeypatch.setattr(conv, "THREADS", 2)
        with conv.one_blas_thread():
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == before
        monkeypatch.setattr(conv, "THREADS", 1)                  # one core: nothing to share
        with conv.one_blas_thread():
            assert blas_threads() == before


def test_without_threadpoolctl_everything_runs_in_one_thread(monkeypatch):
    # the BLAS threads could not be held back, and ours would compete with them
    import sys
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)     # import fails
    monkeypatch.setitem(conv._share_state, "blas", None)
    monkeypatch.setattr(conv, "THREADS", 2)
    seen = []
    assert conv.share_images(lambda lo, hi: seen.append((lo, hi)), 8) == [None]
    assert seen == [(0, 8)]
    with conv.one_blas_thread():
        pass
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((6, 2, 9, 9)), rng.standard_normal((3, 2, 3, 3))
    np.testing.assert_allclose(conv.conv2d(x, w), conv.conv2d_naive(x, w), rtol=1e-10, atol=1e-10)


def test_a_second_caller_runs_in_its_own_thread(monkeypatch):
    # while one call holds the two threads, another (from a user's thread) runs on its own
    monkeypatch.setattr(conv, "THREADS", 2)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 1, 28, 28))
    w = rng.standard_normal((3, 1, 5, 5))
    with conv._share_lock:
        out = conv.conv2d(x, w)
    np.testing.assert_allclose(out, conv.conv2d_naive(x, w), rtol=1e-10, atol=1e-10)


def test_thread_count_follows_the_blas_setting(monkeypatch):
    # at most 2; a process told to use one BLAS thread (benchmarks' --threads 1) gets one
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(conv.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert conv._thread_count() == 2
    monkeypatch.setattr(conv.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert conv._thread_count() == 1
    monkeypatch.setattr(conv.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
        assert conv._thread_count() == 1
        monkeypatch.setenv(var, "8")
        assert conv._thread_count() == 2
        monkeypatch.setenv(var, "not a number")                  # ignored, as OpenBLAS does
        assert conv._thread_count() == 2
        monkeypatch.delenv(var)


def test_im2col_row_and_column_order():
    x = np.arange(2 * 2 * 4 * 5, dtype=np.float64).reshape(2, 2, 4, 5)
    cols = conv.im2col(x, (2, 3), stride=(2, 1))
    oh, ow = conv.output_size((4, 5), (2, 3), stride=(2, 1))
    assert (oh, ow) == (2, 3)
    for n in range(2):
        for i in range(oh):
            for j in range(ow):
                row = cols[(n * oh + i) * ow + j]                  # rows ordered (n, oh, ow)
                window = x[n, :, 2 * i:2 * i + 2, j:j + 3]         # columns ordered (c, kh, kw)
                np.testing.assert_array_equal(row, window.reshape(-1))


def test_col2im_adds_overlaps():
    x = np.ones((1, 1, 3, 3))
    back = conv.col2im(conv.im2col(x, 2), x.shape, 2)
    # each pixel is counted once per 2x2 window that holds it
    np.testing.assert_array_equal(back[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def _numerical_gradient(f, a, h=1e-5):
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + h
        fp = f()
        a[idx] = old - h
        fm = f()
        a[idx] = old
        grad[idx] = (fp - fm) / (2 * h)
    return grad


def _rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


@pytest.mark.parametrize("kw", [
    dict(stride=1, padding=0, dilation=1),
    dict(stride=2, padding=1, dilation=1),
    dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
    dict(stride=1, padding="same", dilation=2),
    dict(stride=3, padding=2, dilation=2),
])
def test_conv2d_backward_numerical_gradient(kw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    out, cache = conv.conv2d_forward(x, w, b, **kw)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv.conv2d_backward(dout, cache)

    def loss():
        return np.sum(conv.conv2d(x, w, b, **kw) * dout)

    assert _rel_error(dx, _numerical_gradient(loss, x)) < 1e-6
    assert _rel_error(dw, _numerical_gradient(loss, w)) < 1e-6
    assert _rel_error(db, _numerical_gradient(loss, b)) < 1e-6


def test_conv2d_known_values():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    w = np.array([[[[1, 0], [0, -1]]]], dtype=np.float32)           # x[i, j] - x[i+1, j+1]
    np.testing.assert_array_equal(conv.conv2d(x, w)[0, 0], np.full((3, 3), -5.0))
    # dilation 2: x[i, j] - x[i+2, j+2] (dilation=1 is the ordinary kernel above)
    np.testing.assert_array_equal(conv.conv2d(x, w, dilation=2)[0, 0], np.full((2, 2), -10.0))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, (2, 3)])
@pytest.mark.parametrize("d", [1, 2])
def test_same_padding_keeps_size_and_pads_bottom_right(k, d):
    x = np.random.default_rng(0).standard_normal((1, 2, 7, 8))
    w = np.random.default_rng(1).standard_normal((3, 2) + conv.pair(k, "kernel_size"))
    out = conv.conv2d(x, w, padding="same", dilation=d)
    assert out.shape == (1, 3, 7, 8)
    (top, bottom), (left, right) = conv.resolve_padding("same", k, d)
    kh, kw = conv.pair(k, "kernel_size")
    assert (top + bottom, left + right) == (d * (kh - 1), d * (kw - 1))
    assert bottom - top in (0, 1) and right - left in (0, 1)          # extra on bottom/right
    explicit = conv.conv2d_naive(np.pad(x, [(0, 0), (0, 0), (top, bottom), (left, right)]), w,
                                 dilation=d)
    np.testing.assert_allclose(out, explicit, atol=1e-12)


def test_resolve_padding_and_pad():
    assert conv.resolve_padding("same", 4) == ((1, 2), (1, 2))
    assert conv.resolve_padding("valid", 3) == ((0, 0), (0, 0))
    assert conv.resolve_padding((1, 2), 3) == ((1, 1), (2, 2))
    x = np.ones((1, 1, 2, 2))
    assert conv.pad(x, 1).shape == (1, 1, 4, 4)
    assert conv.pad(x, ((0, 1), (2, 0)), value=-1).shape == (1, 1, 3, 4)
    assert conv.pad(x, 0) is x


def test_output_size():
    assert conv.output_size(28, 5) == 24
    assert conv.output_size(28, 5, padding=2) == 28
    assert conv.output_size(28, 5, padding="same") == 28
    assert conv.output_size(28, 2, stride=2) == 14
    assert conv.output_size((32, 30), 3, stride=2, padding=1) == (16, 15)
    assert conv.output_size(7, 3, dilation=2) == 3                    # 3x3 dilated covers 5
    assert conv.output_size((7, 9), (3, 1), stride=(1, 2), padding="valid") == (5, 5)
    assert conv.output_size(7, 3, stride=2, exact=True) == 3
    assert conv.output_size(np.int64(7), np.int64(3)) == 5
    assert conv.output_size(np.array(7), 3) == 5
    assert isinstance(conv.output_size(7, 3), int)


def test_pool_output_size():
    assert conv.pool_output_size(28, 2) == 14                       # stride None = kernel
    assert conv.pool_output_size(7, 2) == 3                         # the last row is dropped
    assert conv.pool_output_size((7, 9), 3, stride=2, padding=1) == (4, 5)
    x = np.zeros((1, 1, 7, 9))
    assert conv.max_pool2d(x, 3, stride=2, padding=1).shape[2:] == (4, 5)
    with pytest.raises(ValueError, match="padding 2 is more than half of kernel_size 3"):
        conv.pool_output_size(7, 3, padding=2)


def test_pair():
    assert conv.pair(3, "kernel_size") == (3, 3)
    assert conv.pair((2, 5), "stride") == (2, 5)
    assert conv.pair([np.int32(2), 1], "stride") == (2, 1)
    assert conv.pair(0, "padding") == (0, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    out, cache = conv.conv2d_forward(x, w, b, padding=1)
    grads = conv.conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    assert conv.conv2d_naive(x, w, b).dtype == dtype
    assert conv.im2col(x, 3).dtype == dtype
    assert conv.col2im(conv.im2col(x, 3), x.shape, 3).dtype == dtype
    for fwd, bwd in [(conv.max_pool2d_forward, conv.max_pool2d_backward),
                     (conv.avg_pool2d_forward, conv.avg_pool2d_backward)]:
        p, pc = fwd(x, 2)
        assert p.dtype == dtype and bwd(np.ones_like(p), pc).dtype == dtype
    assert conv.max_pool2d_naive(x, 2).dtype == dtype
    assert conv.avg_pool2d_naive(x, 2).dtype == dtype
    # float32 results agree with the float64 computation to float32 precision
    if dtype == np.float32:
        ref = conv.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                          padding=1)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_integer_input_gives_float32():
    x = np.arange(32, dtype=np.uint8).reshape(1, 2, 4, 4)
    assert conv.max_pool2d(x, 2).dtype == np.float32
    assert conv.conv2d(x, np.ones((1, 2, 2, 2), np.float32)).dtype == np.float32


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------

@SETTINGS
@given(pool_configs())
def test_max_pool_matches_naive(cfg):
    x, kw = cfg
    out, cache = conv.max_pool2d_forward(x, **kw)
    np.testing.assert_array_equal(out, conv.max_pool2d_naive(x, **kw))
    np.testing.assert_array_equal(out, conv.max_pool2d(x, **kw))
    dout = np.random.default_rng(3).standard_normal(out.shape)
    np.testing.assert_allclose(conv.max_pool2d_backward(dout, cache),
                               conv.max_pool2d_backward_naive(dout, x, **kw), atol=1e-12)


@SETTINGS
@given(pool_configs())
def test_avg_pool_matches_naive(cfg):
    x, kw = cfg
    out, cache = conv.avg_pool2d_forward(x, **kw)
    np.testing.assert_allclose(out, conv.avg_pool2d_naive(x, **kw), atol=1e-12)
    np.testing.assert_allclose(out, conv.avg_pool2d(x, **kw), atol=1e-12)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    np.testing.assert_allclose(conv.avg_pool2d_backward(dout, cache),
                               conv.avg_pool2d_backward_naive(dout, x, **kw), atol=1e-12)


def test_pool_stride_defaults_to_kernel_and_windows_that_do_not_tile():
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    out = conv.max_pool2d(x, 2)                  # stride 2; the last row and column are dropped
    np.testing.assert_array_equal(out[0, 0], [[6, 8], [16, 18]])
    out, cache = conv.max_pool2d_forward(x, 2)
    dx = conv.max_pool2d_backward(np.ones_like(out), cache)
    assert dx[0, 0, 4].sum() == 0 and dx[0, 0, :, 4].sum() == 0 and dx.sum() == 4


def test_max_pool_padding_is_minus_infinity_and_avg_counts_zeros():
    x = -np.ones((1, 1, 2, 2))
    assert np.all(conv.max_pool2d(x, 3, stride=1, padding=1) == -1)          # -inf never wins
    np.testing.assert_allclose(conv.avg_pool2d(x, 3, stride=1, padding=1), -4 / 9)


@pytest.mark.parametrize("backward", ["fast", "naive"])
def test_max_pool_backward_adds_overlapping_windows(backward):
    # one large pixel is the max of all nine 3x3 windows (stride 1) that contain it: its
    # gradient is the sum of nine douts. A backward that writes with = instead of += gives 1.
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 10.0
    out, cache = conv.max_pool2d_forward(x, 3, stride=1)
    dout = np.ones_like(out)
    if backward == "fast":
        dx = conv.max_pool2d_backward(dout, cache)
    else:
        dx = conv.max_pool2d_backward_naive(dout, x, 3, stride=1)
    assert dx[0, 0, 2, 2] == 9.0
    assert dx.sum() == out.size


def test_max_pool_backward_overlap_with_stride_2():
    # 3x3 windows, stride 2 on a 5x5 input overlap on row and column 2
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0
    out, cache = conv.max_pool2d_forward(x, 3, stride=2)
    dx = conv.max_pool2d_backward(np.arange(1.0, 5.0).reshape(out.shape), cache)
    assert dx[0, 0, 2, 2] == 1 + 2 + 3 + 4


def test_avg_pool_backward_adds_overlapping_windows():
    x = np.zeros((1, 1, 3, 3))
    out, cache = conv.avg_pool2d_forward(x, 2, stride=1)
    dx = conv.avg_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_allclose(dx[0, 0], np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4)


def test_pool_numerical_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 7, 6))             # distinct values: max is differentiable
    for fwd, bwd in [(conv.max_pool2d_forward, conv.max_pool2d_backward),
                     (conv.avg_pool2d_forward, conv.avg_pool2d_backward)]:
        out, cache = fwd(x, 3, stride=2, padding=1)
        dout = rng.standard_normal(out.shape)
        dx = bwd(dout, cache)
        num = _numerical_gradient(lambda: np.sum(fwd(x, 3, stride=2, padding=1)[0] * dout), x)
        assert _rel_error(dx, num) < 1e-6


# ---------------------------------------------------------------------------------------------
# Errors: every invalid configuration names the parameter and the rule
# ---------------------------------------------------------------------------------------------

X = np.zeros((2, 3, 5, 5), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)

ERRORS = [
    # (call, substrings the message must contain)
    (lambda: conv.output_size(5, 0), ["kernel_size", "positive integer", "0"]),
    (lambda: conv.output_size(5, -3), ["kernel_size", "positive integer"]),
    (lambda: conv.output_size(5, 2.5), ["kernel_size", "integer", "2.5"]),
    (lambda: conv.output_size(5, 3.0), ["kernel_size", "integer", "use 3"]),
    (lambda: conv.output_size(5, (3, 3, 3)), ["kernel_size", "(h, w) pair", "3 entries"]),
    (lambda: conv.output_size(5, 3, stride=0), ["stride", "positive integer", "stride 1"]),
    (lambda: conv.output_size(5, 3, stride=True), ["stride", "bool"]),
    (lambda: conv.output_size(5, 3, dilation=0),
     ["dilation", "positive integer", "dilation 1 is an ordinary kernel"]),
    (lambda: conv.output_size(5, 3, padding=-1), ["padding", "non-negative"]),
    (lambda: conv.output_size(5, 3, padding="SAME"), ["padding", "'same'"]),
    (lambda: conv.output_size(5, 3, padding="full"), ["padding", "'valid' or 'same'"]),
    (lambda: conv.output_size(5, 7),
     ["kernel_size 7 is larger than the padded input 5 (n=5 + 2*padding 0); "
      "use padding >= 1 or a smaller kernel"]),
    (lambda: conv.output_size((5, 9), 3, dilation=3),
     ["kernel_size 3 (dilated: 7) is larger than the padded input 5 (H=5 + 2*padding 0)",
      "padding >= 1", "smaller dilation"]),
    (lambda: conv.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 7, 7))),
     ["kernel_size 7 is larger than the padded input 5 (H=5 + 2*padding 0); "
      "use padding >= 1 or a smaller kernel"]),
    (lambda: conv.output_size(5, 3, stride=2, padding="same"),
     ["padding='same'", "stride 1", "stride 2", "padding=1"]),
    (lambda: conv.output_size(6, 3, stride=2, exact=True),
     ["exact=True", "stride 2", "n=6", "not a multiple", "dropped"]),
    (lambda: conv.output_size((7, 6), 3, stride=2, exact=True), ["exact=True", "W=6"]),
    (lambda: conv.output_size(7, 3, stride=3, exact=True),
     ["exact=True", "use padding 1", "n=6 or 9"]),
    (lambda: conv.output_size(0, 3), ["n (input size)", "positive"]),
    (lambda: conv.conv2d(np.zeros((28, 28)), W[:, :1]), ["x must be 4-D", "x[None, None]"]),
    (lambda: conv.conv2d(np.zeros((3, 28, 28)), W), ["x must be 4-D", "x[None]"]),
    (lambda: conv.conv2d(np.zeros((28, 28, 3)), W), ["x must be 4-D", "transpose(2, 0, 1)"]),
    (lambda: conv.conv2d(X, W[:, :2]),
     ["w has 2 input channels", "x has 3", "must match the input channels"]),
    (lambda: conv.conv2d(np.zeros((2, 5, 5, 3)), W), ["input channels", "transpose(0, 3, 1, 2)"]),
    (lambda: conv.conv2d(X, W[0]), ["w must be 4-D", "(F, C, KH, KW)"]),
    (lambda: conv.conv2d(X, W, np.zeros((1, 4))), ["b must have shape (F,) = (4,)", "reshape(-1)"]),
    (lambda: conv.conv2d(X, W, np.zeros(3)), ["b must have shape (F,) = (4,)", "(3,)"]),
    (lambda: conv.conv2d(X, W, stride=0), ["stride", "positive integer"]),
    (lambda: conv.conv2d(X, W, padding=-2), ["padding", "non-negative"]),
    (lambda: conv.conv2d(X, W, stride=2, padding="same"), ["padding='same'", "stride 1"]),
    (lambda: conv.conv2d_backward(np.zeros((2, 4, 2, 2)), conv.conv2d_forward(X, W)[1]),
     ["dout", "(2, 4, 3, 3)"]),
    (lambda: conv.im2col(X, 0), ["kernel_size", "positive integer"]),
    (lambda: conv.im2col(X[0], 3), ["x must be 4-D", "x[None]"]),
    (lambda: conv.col2im(np.zeros((5, 27)), X.shape, 3), ["cols must have shape", "(18, 27)"]),
    (lambda: conv.max_pool2d(X, 0), ["kernel_size", "positive integer"]),
    (lambda: conv.max_pool2d(X, 2, padding=2),
     ["padding 2 is more than half of kernel_size 2", "padding <= 1"]),
    (lambda: conv.avg_pool2d(X, 6),
     ["kernel_size 6 is larger than the padded input 5"]),
    (lambda: conv.max_pool2d(X[0, 0], 2), ["x must be 4-D", "x[None, None]"]),
    (lambda: conv.avg_pool2d(X, 2, stride=-1), ["stride", "positive integer"]),
]


@pytest.mark.parametrize("call, parts", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_name_parameter_and_rule(call, parts):
    with pytest.raises(ValueError) as info:
        call()
    for part in parts:
        assert part in str(info.value), f"{part!r} not in {str(info.value)!r}"


def test_every_entry_point_gives_the_same_message():
    x = np.zeros((1, 2, 5, 5))
    w = np.zeros((3, 2, 7, 7))
    messages = set()
    for call in [lambda: conv.output_size((5, 5), 7), lambda: conv.conv2d(x, w),
                 lambda: conv.conv2d_forward(x, w), lambda: conv.conv2d_naive(x, w),
                 lambda: conv.im2col(x, 7), lambda: conv.col2im(np.zeros((1, 98)), x.shape, 7),
                 lambda: conv.max_pool2d(x, 7), lambda: conv.avg_pool2d_naive(x, 7)]:
        with pytest.raises(ValueError) as info:
            call()
        messages.add(str(info.value))
    assert messages == {"kernel_size 7 is larger than the padded input 5 "
                        "(H=5 + 2*padding 0); use padding >= 1 or a smaller kernel"}


# ---------------------------------------------------------------------------------------------
# Optional: the conventions agree with PyTorch (skipped when torch is not installed)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, dilation=1),
                                dict(stride=1, padding="same", dilation=2),
                                dict(stride=(1, 2), padding=(2, 0), dilation=(1, 3))])
def test_agrees_with_pytorch(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 10))
    w = rng.standard_normal((4, 3, 4, 3))                              # even kernel height
    b = rng.standard_normal(4)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                     torch.from_numpy(b), **kw).numpy()
    np.testing.assert_allclose(conv.conv2d(x, w, b, **kw), ref, rtol=1e-10, atol=1e-10)
    for k, s, p in [(3, 2, 1), (2, None, 0), (3, 1, 1)]:
        tx = torch.from_numpy(x)
        np.testing.assert_allclose(conv.max_pool2d(x, k, s, p),
                                   torch.nn.functional.max_pool2d(tx, k, s, p).numpy())
        np.testing.assert_allclose(conv.avg_pool2d(x, k, s, p),
                                   torch.nn.functional.avg_pool2d(tx, k, s, p).numpy(),
                                   atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_backward_without_dx(stride):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 7, 6))
    w = rng.standard_normal((4, 2, 3, 3))
    b = rng.standard_normal(4)
    out, cache = conv.conv2d_forward(x, w, b, stride=stride, padding=1)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv.conv2d_backward(dout, cache)
    none, dw2, db2 = conv.conv2d_backward(dout, cache, need_dx=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dw, dw2)
    np.testing.assert_array_equal(db, db2)


def test_max_pool_ties_go_to_the_first_tap_as_in_the_loops():
    # 0/1 images: nearly every window holds several equal maxima
    x = np.random.default_rng(0).integers(0, 2, (2, 2, 7, 6)).astype(np.float64)
    for k, s, p in [(3, 2, 1), (2, 1, 0), ((2, 3), (1, 2), 0), (2, 2, 0)]:
        out, cache = conv.max_pool2d_forward(x, k, s, p)
        dout = np.random.default_rng(1).standard_normal(out.shape)
        np.testing.assert_allclose(conv.max_pool2d_backward(dout, cache),
                                   conv.max_pool2d_backward_naive(dout, x, k, s, p), atol=1e-12)


def test_col2im_x_shape_must_be_4d():
    with pytest.raises(ValueError, match=r"x_shape must be 4-D \(N, C, H, W\), got \(9, 9\)"):
        conv.col2im(np.zeros((9, 9)), (9, 9), 3)
