"""The plan of one fast convolution: sizes, grid, layout and groups of images, and the copies
(im2col, col2im) that fill and empty its matrices. README.md beside this file explains the
ideas by number; ``helpers.conv`` is the plain version of the same arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from helpers import conv
from helpers.fast import threads
from helpers.shapes import check_memory, conv_geometry

__all__ = ["GROUP_BYTES", "BY_IMAGE_PIXELS", "SHARE_MACS", "Plan", "view", "take"]

# Largest im2col matrix of one group of images, in bytes (idea 1), and the smallest image (in
# grid points) that gets a matrix product of its own (idea 3); both measured on the course's
# 2-core reference machine (1 MB of L2 cache per core) with the benchmarks. Nothing else
# depends on these numbers: every choice gives the same result.
GROUP_BYTES = 2 << 20
BY_IMAGE_PIXELS = 512
# Smallest convolution, in multiply-adds of its forward products, that is shared between two
# threads (idea 8); measured the same way.
SHARE_MACS = 12 << 20


def view(a, shape):
    """a.reshape(shape), but never a copy: the fast path writes through these views."""
    v = a.reshape(shape)
    assert np.may_share_memory(v, a), "internal error: reshape made a copy"
    return v


def take(buf, shape):
    """The first prod(shape) entries of the 1-D buffer ``buf``, as an array of that shape."""
    return buf[:math.prod(shape)].reshape(shape)


class Plan:
    """What the fast convolution works out once per call: sizes, grid, layout and groups.

    x_shape (N, C, H, W), w_shape (F, C, KH, KW). ``flat``: stride 1, the long-row layout;
    ``grid``: (OH, grid width) on which the output is computed (Wp when flat, else OW);
    ``pixels``: grid points per image; ``by_image``: one matrix product per image (else one per
    group); ``shared``: the groups are shared between two threads (idea 8); ``group``: images
    per group.
    """

    def __init__(self, x_shape, w_shape, stride, padding, dilation, dtype, bias=False):
        self.k, self.s, self.pads, self.d, self.out_hw = conv_geometry(
            x_shape[2:], w_shape[2:], stride, padding, dilation)
        (top, bottom), (left, right) = self.pads
        self.n, self.c, self.h, self.w = x_shape
        self.hp, self.wp = self.h + top + bottom, self.w + left + right
        self.f = w_shape[0]
        self.taps = self.c * self.k[0] * self.k[1]            # C*KH*KW
        self.rows = self.taps + bool(bias)                    # rows of im2col: + ones for b
        self.flat = self.s == (1, 1)
        oh, ow = self.out_hw
        self.grid = (oh, self.wp if self.flat else ow)
        self.pixels = oh * self.grid[1]
        self.tail = (self.pixels,) if self.flat else self.out_hw  # a grid row's axes in cols
        self.by_image = self.pixels >= BY_IMAGE_PIXELS
        self.direct = self.by_image and not self.flat         # the product's result is NCHW
        self.dtype = dtype
        # the flat row is read up to dilation*(KW - 1) pixels past its end: a zero tail
        self.area = self.hp * self.wp                          # pixels of a padded image
        # how far past a grid point its farthest kernel tap reads, in the flat row
        self.reach = (self.d[0] * (self.k[0] - 1) * self.wp + self.d[1] * (self.k[1] - 1)
                      if self.flat else 0)
        self.row = self.area + (self.d[1] * (self.k[1] - 1) if self.flat else 0)
        # the side-by-side layout computes dx on grids of the padded images' size (idea 5)
        self.side = self.flat and not self.by_image
        # multiply-adds of the forward products, wrapped-around grid columns included
        self.macs = self.n * self.f * self.rows * self.pixels
        self.shared = threads.THREADS > 1 and self.n > 1 and self.macs >= SHARE_MACS
        largest = max(1, GROUP_BYTES // (self.rows * self.pixels * dtype.itemsize))
        groups = -(-self.n // largest)                        # ceil: as few groups as fit,
        if self.shared:                                       # an even number, for 2 threads
            groups = min(self.n, groups + groups % 2 if groups > 1 else 2)
        self.group = -(-self.n // groups)                     # then balanced in size
        # the largest work buffer: a group's im2col matrix (the output is checked by its caller)
        check_memory((self.group, self.rows, self.pixels + self.reach), dtype,
                     "the im2col matrix of one group of images", "use smaller images or a "
                     "larger stride (a group holds at least one image)")

    def buffer(self, rows):
        """A 1-D work buffer for a (rows, pixels) matrix per image of a group."""
        return np.empty(self.group * rows * self.pixels, dtype=self.dtype)

    def matrix(self, buf, m, rows):
        """A group's matrix in ``buf``: (m, rows, pixels) by image, else (rows, m * pixels)."""
        if self.by_image:
            return take(buf, (m, rows, self.pixels))
        return take(buf, (rows, m * self.pixels))

    def unfold(self, mat, m, lead, tail):
        """View a group's matrix with axes (image, *lead, *tail), whatever its layout;
        lead * tail = rows * pixels, e.g. lead (C, KH, KW) and tail (OH, OW)."""
        if self.by_image:
            return view(mat, (m, *lead, *tail))
        v = view(mat, (*lead, m, *tail))
        k = len(lead)
        return v.transpose(k, *range(k), *range(k + 1, v.ndim))

    def groups(self, x, lo=0, hi=None):
        """Yield (start, m, xbuf) for each group of m images from lo (a group's start) to hi:
        xbuf (m, C, row), padded."""
        buf = np.zeros(self.group * self.c * self.row, dtype=self.dtype)
        hi = self.n if hi is None else hi
        for a in range(lo, hi, self.group):
            xg = x[a:min(a + self.group, hi)]
            m = xg.shape[0]
            # a last, smaller group is the first m images of a full one: the same border
            xbuf = take(buf, (m, self.c, self.row))
            self.crop(xbuf)[...] = xg                         # the border stays zero
            yield a, m, xbuf

    def padded(self, xbuf):
        """The padded images inside xbuf (m, C, row) -> (m, C, Hp, Wp) view (without the tail)."""
        return xbuf[:, :, :self.area].reshape(-1, self.c, self.hp, self.wp)

    def crop(self, xbuf):
        """The un-padded images inside xbuf (m, C, row) -> (m, C, H, W) view."""
        return conv.unpad(self.padded(xbuf), self.pads, (self.h, self.w))

    def im2col(self, xbuf, cols_buf):
        """A group's im2col matrix (see ``matrix``): row (c, i, j) holds tap (i, j) of channel
        c at every grid point, and with a bias a last row of ones (CS231n's "bias trick": the
        bias is one more weight, b * 1). One copy, from a strided view of the padded images."""
        m = xbuf.shape[0]
        (kh, kw), (dh, dw) = self.k, self.d
        cols = self.matrix(cols_buf, m, self.rows)
        if self.rows > self.taps:
            cols[..., self.taps, :] = 1
        taps = cols[..., :self.taps, :]
        if self.flat:     # tap (i, j): the contiguous stretch that starts at i*dh*Wp + j*dw
            s_n, s_c, s_px = xbuf.strides
            view = as_strided(xbuf, (m, self.c, kh, kw, self.pixels),
                              (s_n, s_c, dh * self.wp * s_px, dw * s_px, s_px), writeable=False)
        else:             # tap (i, j) of output (r, q): row r*sh + i*dh, column q*sw + j*dw
            view = conv.windows(self.padded(xbuf), self.k, self.s, self.d, self.out_hw)
        np.copyto(self.unfold(taps, m, (self.c, kh, kw), self.tail), view)
        return cols

    def col2im(self, dcols, dbuf):
        """Adjoint of ``im2col`` with a stride: add a group's dcols back into dbuf
        (m, C, Hp*Wp), zeroed first; one strided ``+=`` per kernel tap. Windows overlap, so it
        must be +=, never =."""
        m = dbuf.shape[0]
        dbuf[...] = 0
        conv.scatter_windows(self.unfold(dcols, m, (self.c, *self.k), self.tail), None,
                             self.s, self.d, out=self.padded(dbuf))

    def spaced(self, buf, rows, length):
        """A (rows, length) matrix in the 1-D ``buf`` whose rows lie ``reach`` numbers further
        apart than their length, with zeros in between: the layout ``add_taps`` reads."""
        full = take(buf, (rows, length + self.reach))
        full[:, length:] = 0
        return full[:, :length]

    def add_taps(self, dcols, dbuf):
        """The col2im of the flat layout (stride 1), in one NumPy call: dbuf (..., C, span) =
        the sum over the kernel taps (i, j) of dcols' row (..., c, i, j) shifted right by the
        tap's offset in the flat row, i*dilation*Wp + j*dilation (at most ``reach``).

        dcols: (rows, length) from ``spaced``, rows ordered (image, c, i, j); dbuf (m, C, span)
        by image, or (C, span) side by side. Output position q takes element q - offset of tap
        (i, j)'s row: for q < offset that is up to ``reach`` numbers before the row's start,
        for q >= length + offset past its end, and both are the zeros that ``spaced`` put
        between the rows (span <= length + reach keeps every read in the row's own slot or the
        gap before it). So all the shifted rows are one strided view of dcols, and one sum
        over the taps adds them (idea 7)."""
        (kh, kw), (dh, dw) = self.k, self.d
        e = dcols.itemsize
        step = dcols.strides[0] // e                        # length + reach
        assert dbuf.shape[-1] <= step, "internal error: the shifted rows leave their slots"
        lead = dbuf.shape[:-2]                              # (m,) by image, else ()
        strides = (self.taps * step,) * len(lead) + (kh * kw * step, kw * step - dh * self.wp,
                                                     step - dw, 1)
        shifted = as_strided(dcols, (*lead, self.c, kh, kw, dbuf.shape[-1]),
                             tuple(v * e for v in strides), writeable=False)
        np.sum(shifted, axis=(-3, -2), out=dbuf)
