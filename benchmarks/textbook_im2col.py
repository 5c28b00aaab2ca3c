"""The textbook im2col convolution, as a baseline for benchmarks/bench_conv.py.

After "Deep Learning from Scratch" (Saito Koki), ``common/util.py`` (im2col, col2im) and
``common/layers.py`` (Convolution.forward / backward), kept as in the book: a loop over the
kernel offsets fills a 6-D array (N, C, KH, KW, OH, OW), which is then transposed and reshaped
into the (N*OH*OW, C*KH*KW) matrix; backward goes through the same transposes and a col2im
loop over the offsets. No dilation (the book has none).

One change, for a fair comparison: the book allocates ``np.zeros(...)`` with the default
float64, which turns every float32 product into a float64 one; here ``dtype`` defaults to the
input's dtype. Pass ``dtype=np.float64`` for the book's literal behaviour.
"""

import numpy as np


def im2col(input_data, filter_h, filter_w, stride=1, pad=0, dtype=None):
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1

    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w),
                   dtype=input_data.dtype if dtype is None else dtype)

    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]

    col = col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)
    return col


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0, dtype=None):
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


class Convolution:
    """The book's layer: forward(x) -> out (N, F, OH, OW); backward(dout) -> dx; dW, db."""

    def __init__(self, W, b, stride=1, pad=0, dtype=None):
        self.W, self.b, self.stride, self.pad, self.dtype = W, b, stride, pad, dtype

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        out_h = 1 + int((H + 2 * self.pad - FH) / self.stride)
        out_w = 1 + int((W + 2 * self.pad - FW) / self.stride)

        col = im2col(x, FH, FW, self.stride, self.pad, self.dtype)
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
        dx = col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad, self.dtype)
        return dx
