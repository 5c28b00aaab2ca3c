"""The fast convolution: the same results as ``helpers.conv.conv2d_forward`` and
``conv2d_backward``, tuned (README.md beside this file explains ideas 1-9).

Per group of images: im2col into a reused, cache-sized matrix, one matrix product with the
weights (the bias as one more column), and a copy to NCHW order. Large calls share their
groups between two threads. ``helpers.conv`` holds the plain version; the tests check every
layout of this one against it.
"""

from __future__ import annotations

import numpy as np

from helpers import conv
from helpers.fast import threads
from helpers.fast.plan import Plan, take, view
from helpers.shapes import check_conv, check_dout, check_memory, result_dtype

__all__ = ["conv2d_forward", "conv2d_backward", "conv2d"]


def _share(work, plan):
    """``share_images`` for a convolution: each thread gets half of ``plan``'s groups; a small
    one (``plan.shared`` false, idea 8) runs in this thread alone."""
    if not plan.shared:
        return [work(0, plan.n)]
    starts = range(0, plan.n, plan.group)               # shared: 2 groups or more (Plan)
    return threads.share_images(work, plan.n, starts[len(starts) // 2])


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Fast convolution that also returns what the backward pass needs.

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) or None -> (out (N, F, OH, OW), cache).
    Same arguments and result as ``helpers.conv.conv2d_forward``, but the cache differs: pass
    it to this module's ``conv2d_backward``.

    How (README.md, ideas 1-3): for each group of images, im2col copies the
    windows once into a (C*KH*KW [+ 1], pixels) matrix, and the product with the weights as an
    (F, C*KH*KW [+ 1]) matrix, b as the last column, gives the outputs on the grid; in the
    long-row layout, or with one product for the whole group, a last copy puts them in NCHW
    order without the thrown-away grid columns. The cache keeps x itself (not a copy): do not
    change x in place before the backward pass.
    """
    x, w, b = check_conv(x, w, b)
    if x.shape[0] == 0:                     # no images: nothing to tune
        out, cache = conv.conv2d_forward(x, w, b, stride, padding, dilation)
        return out, {"reference": cache}
    dtype = result_dtype(x, w)
    plan = Plan(x.shape, w.shape, stride, padding, dilation, dtype, bias=b is not None)
    w2 = w.astype(dtype, copy=False).reshape(plan.f, plan.taps)          # (F, C*KH*KW)
    if b is not None:                                                    # (F, C*KH*KW + 1)
        w2 = np.concatenate([w2, b.astype(dtype, copy=False)[:, None]], axis=1)
    (oh, ow), grid = plan.out_hw, plan.grid
    check_memory((plan.n, plan.f, oh, ow), dtype, "the output (N, F, OH, OW)", conv.SMALLER)
    out = np.empty((plan.n, plan.f, oh, ow), dtype=dtype)

    def work(lo, hi):             # images lo..hi-1, group by group
        cols_buf, res_buf = plan.buffer(plan.rows), plan.buffer(plan.f)
        for a, m, xbuf in plan.groups(x, lo, hi):
            cols = plan.im2col(xbuf, cols_buf)
            if plan.direct:           # per image (F, rows) @ (rows, OH*OW): already NCHW
                np.matmul(w2, cols, out=out[a:a + m].reshape(m, plan.f, plan.pixels))
                continue
            # per image (m, F, pixels), or for the group (F, m * pixels); then to NCHW
            res = np.matmul(w2, cols, out=plan.matrix(res_buf, m, plan.f))
            out[a:a + m] = plan.unfold(res, m, (plan.f,), grid)[:, :, :, :ow]  # no wrap-around

    _share(work, plan)
    cache = {"x": x, "w": w2, "w_shape": w.shape, "has_bias": b is not None, "plan": plan}
    return out, cache


def conv2d_backward(dout, cache, need_dx=True):
    """Backward pass of ``conv2d_forward``: dout (N, F, OH, OW) -> (dx, dw, db).

    dx: (N, C, H, W), or None with need_dx=False (the first layer of a network: nobody needs
    the gradient of the images, and it is a third of the work); dw: (F, C, KH, KW);
    db: (F,), or None when the forward had no bias.
    Per group of images, with cols its im2col matrix (recomputed: measured as fast as keeping
    the forward pass's, and it saves the memory) and dout on the same grid as an (F, pixels)
    matrix, zero in the thrown-away columns:

        dw    += dout @ cols.T                       (F, C*KH*KW), summed over the images
                                                     (with the row of ones: db, its last column)
        dcols  = w.T @ dout                          (C*KH*KW, pixels)
        dx     = col2im(dcols): every window's gradient added back where it was read
    """
    if "reference" in cache:
        return conv.conv2d_backward(dout, cache["reference"], need_dx)
    x, w2, plan = cache["x"], cache["w"], cache["plan"]
    (oh, ow), grid = plan.out_hw, plan.grid
    dout = check_dout(dout, (plan.n, plan.f, oh, ow)).astype(plan.dtype, copy=False)
    w2t = np.ascontiguousarray(w2[:, :plan.taps].T)                      # (C*KH*KW, F)
    dx = np.empty(x.shape, dtype=plan.dtype) if need_dx else None
    side = need_dx and plan.side                                         # idea 5
    area = plan.area

    def work(lo, hi):             # images lo..hi-1, group by group -> their [dw; db], transposed
        dw_t = np.zeros((plan.rows, plan.f), dtype=plan.dtype)
        cols_buf = plan.buffer(plan.rows)
        # Zeroed once: a grid point's place in these buffers, counted modulo the grid width
        # (Wp, or Hp*Wp in dfull), is its column (and row), whatever the group's size m, so the
        # thrown-away points are the same places in every group and are never written.
        dgrid_buf = np.zeros(plan.group * plan.f * plan.pixels, dtype=plan.dtype)
        if side:      # grids of the padded images' full size (Hp*Wp), side by side: idea 5
            dfull_buf = np.zeros(plan.group * plan.f * area, dtype=plan.dtype)
            dcols_buf = np.empty(plan.taps * (plan.group * area + plan.reach), dtype=plan.dtype)
            dbuf = np.empty(plan.c * plan.group * area, dtype=plan.dtype)
        else:
            dcols_buf = np.empty(plan.group * plan.taps * (plan.pixels + plan.reach),
                                 dtype=plan.dtype)
            dbuf = np.empty(plan.group * plan.c * area, dtype=plan.dtype)
        for a, m, xbuf in plan.groups(x, lo, hi):
            cols = plan.im2col(xbuf, cols_buf)
            if plan.direct:                               # dout is already the matrix
                dgrid = dout[a:a + m].reshape(m, plan.f, plan.pixels)
            else:                                         # dout on the grid, 0 where thrown away
                dgrid = plan.matrix(dgrid_buf, m, plan.f)
                plan.unfold(dgrid, m, (plan.f,), grid)[:, :, :, :ow] = dout[a:a + m]
            if plan.by_image:                             # one product per image, summed
                dw_t += np.matmul(dgrid, cols.transpose(0, 2, 1)).sum(axis=0).T
            else:
                dw_t += cols @ dgrid.T
            if not need_dx:
                continue
            if side:                                      # idea 5
                dfull = take(dfull_buf, (plan.f, m * area))
                view(dfull, (plan.f, m, plan.hp, plan.wp))[:, :, :oh, :ow] = \
                    dout[a:a + m].transpose(1, 0, 2, 3)
                dcols = np.matmul(w2t, dfull, out=plan.spaced(dcols_buf, plan.taps, m * area))
                dxbuf = take(dbuf, (plan.c, m * area))
                plan.add_taps(dcols, dxbuf)
                full = view(dxbuf, (plan.c, m, plan.hp, plan.wp))
                dx[a:a + m] = conv.unpad(full, plan.pads, (plan.h, plan.w)).transpose(1, 0, 2, 3)
                continue
            dxbuf = take(dbuf, (m, plan.c, area))
            if plan.flat:             # one product per image, into rows spaced for add_taps
                dcols = plan.spaced(dcols_buf, m * plan.taps, plan.pixels)
                np.matmul(w2t, dgrid, out=view(dcols, (m, plan.taps, plan.pixels)))
                plan.add_taps(dcols, dxbuf)
            else:
                plan.col2im(np.matmul(w2t, dgrid, out=plan.matrix(dcols_buf, m, plan.taps)),
                            dxbuf)
            dx[a:a + m] = plan.crop(dxbuf)
        return dw_t

    dw_t = sum(_share(work, plan))
    db = dw_t[plan.taps].copy() if cache["has_bias"] else None
    return dx, dw_t[:plan.taps].T.reshape(cache["w_shape"]), db


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """Fast convolution (cross-correlation): x (N, C, H, W), w (F, C, KH, KW), b (F,) or None
    -> (N, F, OH, OW). Same arguments and result as ``helpers.conv.conv2d``."""
    return conv2d_forward(x, w, b, stride, padding, dilation)[0]
