"""Lesson 10 (backpropagation through a convolution): implement the backward pass.

The learner writes ``conv_backward(dout, x, w, padding=0) -> (dx, dw, db)`` for a stride-1
convolution. The checker runs a numerical gradient check (float64) of each of the three
gradients, says which one is wrong, and recognises the usual mistakes: the kernel not flipped,
db not summed over the batch or the positions, dw transposed, dx still padded, the kernel
flipped but not transposed for dx, dw computed from the unpadded x. When the learner's function
raises on one test input, the checker still runs the others, so that a mistake which raises
where C != F can be named from its values where C == F.
"""
from __future__ import annotations

import re

import numpy as np

from helpers import conv
from helpers.gradcheck import numerical_gradient_array, rel_error

from . import Feedback, call_learner, correct, is_unfinished, not_done, register_solution, wrong

# (x shape (N, C, H, W), w shape (F, C, KH, KW), padding). C != F in the first two, so a dw
# with F and C swapped has the wrong shape; the last has C == F, where only the values tell.
CONV_BACKWARD_CASES = [
    ((2, 3, 5, 5), (4, 3, 3, 3), 0),
    ((2, 2, 4, 6), (3, 2, 3, 2), 1),
    ((3, 2, 4, 4), (2, 2, 2, 2), 1),
]
TOLERANCE = 1e-6      # float64 gradient check: a right answer gives ~1e-10, a wrong one ~1e-1


@register_solution("conv_backward")
def conv_backward_solution(dout, x, w, padding=0):
    from helpers import conv
    p = padding
    f, c, kh, kw = w.shape
    # db[f]: every output pixel of channel f adds b[f] once -> sum over batch and positions
    db = dout.sum(axis=(0, 2, 3))
    # dw[f, c] = sum over images n of cross-correlate(xp[n, c], dout[n, f]):
    # swap the batch and channel axes and the sum over n is the sum over "channels" of conv2d
    xp = conv.pad(x, p)
    dw = conv.conv2d(xp.transpose(1, 0, 2, 3), dout.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    # dx: full convolution of dout with the flipped kernel (pad dout by K-1), then drop the padding
    w_flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)           # (C, F, KH, KW)
    dxp = conv.conv2d(dout, w_flipped, padding=(kh - 1, kw - 1))    # (N, C, H + 2p, W + 2p)
    dx = dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]]
    return dx, dw, db


def _case_data(case, seed):
    x_shape, w_shape, p = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    out = conv.conv2d_naive(x, w, b, padding=p)
    dout = rng.standard_normal(out.shape)
    return x, w, b, p, dout


def _case_text(x, w, p):
    return f"x of shape {x.shape}, w of shape {w.shape}, padding={p}"


def _numerical(x, w, b, p, dout):
    """Numerical gradients of L = sum(conv2d(x, w, b) * dout), float64 central differences."""
    dx = numerical_gradient_array(lambda v: conv.conv2d(v, w, b, padding=p), x.copy(), dout)
    dw = numerical_gradient_array(lambda v: conv.conv2d(x, v, b, padding=p), w.copy(), dout)
    db = numerical_gradient_array(lambda v: conv.conv2d(x, w, v, padding=p), b.copy(), dout)
    return {"dx": dx, "dw": dw, "db": db}


def _close(a, b):
    return a.shape == b.shape and rel_error(a, b) < TOLERANCE


def _diagnose_dx(got, ref, x, w, p, dout):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    if got.shape == (n, c, h + 2 * p, wd + 2 * p) and p > 0:
        return (f"dx has shape {got.shape}, the padded input's; drop the {p} padding row(s) and "
                f"column(s) on each side: dx[:, :, {p}:{p}+H, {p}:{p}+W]. The padding is not an "
                f"input, so it gets no gradient.")
    if got.shape != ref.shape:
        return f"dx must have the shape of x, {ref.shape}; yours has shape {got.shape}."

    def full(kernel):                   # full convolution of dout with a (C, F, KH, KW) kernel
        dxp = conv.conv2d(dout, kernel, padding=(kh - 1, kw - 1))
        return dxp[:, :, p:p + h, p:p + wd]
    wt = w.transpose(1, 0, 2, 3)
    if _close(got, full(wt)):
        return ("dx looks like a full convolution of dout with the kernel *not flipped*. Output "
                "pixel (i, j) reads x[i + a, j + b] with weight w[a, b], so input pixel (p, q) "
                "gets dout[p - a, q - b] * w[a, b]: the kernel runs backwards. Flip it along both "
                "spatial axes, w[:, :, ::-1, ::-1], before the transpose to (C, F, KH, KW).")
    if _close(got, full(wt[:, :, ::-1, :])) or _close(got, full(wt[:, :, :, ::-1])):
        return ("dx uses a kernel flipped along only one axis; flip both the rows and the "
                "columns: w[:, :, ::-1, ::-1].")
    if c == f and _close(got, full(w[:, :, ::-1, ::-1])):
        return ("dx uses the kernel flipped but not transposed, so it mixes up the channels. Input "
                "channel c collects from every filter f through w[f, c], so the kernel for dx is w "
                "flipped and transposed to (C, F, KH, KW): w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).")
    return ("dx is wrong. It is the full convolution of dout with the flipped kernel: pad dout by "
            "K-1, cross-correlate with w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), then drop the "
            "padding of x.")


def _diagnose_dw(got, ref, x, w, p, dout):
    f, c, kh, kw = w.shape
    if got.shape == (c, f, kh, kw) and c != f:
        return (f"dw has shape {got.shape} = (C, F, KH, KW): F and C are swapped. It must have the "
                f"shape of w, (F, C, KH, KW) = {w.shape}; add .transpose(1, 0, 2, 3).")
    if p > 0 and got.shape == (f, c, kh - 2 * p, kw - 2 * p):
        return (f"dw has shape {got.shape}, {2 * p} smaller than w's in each spatial axis: it looks "
                f"computed from the unpadded x. The forward pass slid w over the padded input, so "
                f"pad x first, xp = conv.pad(x, padding), then cross-correlate xp with dout.")
    if got.shape != ref.shape:
        return f"dw must have the shape of w, {ref.shape}; yours has shape {got.shape}."
    if _close(got, ref.transpose(1, 0, 2, 3)):
        return ("dw is transposed: your dw[f, c] holds the gradient of w[c, f]. Swap the first two "
                "axes, .transpose(1, 0, 2, 3).")
    if _close(got, ref.reshape(f, -1).T.reshape(ref.shape)):
        return ("dw has the right shape but scrambled values: it is the (C*KH*KW, F) matrix "
                "cols.T @ dout reshaped to (F, C, KH, KW) without transposing it first. "
                "Transpose to (F, C*KH*KW), then reshape.")
    if _close(got, ref[:, :, ::-1, ::-1]):
        return ("dw is flipped. The weight gradient is a cross-correlation of the (padded) input "
                "with dout, no flip: dw[f, c, a, b] = sum over n, i, j of dout[n, f, i, j] * "
                "xp[n, c, i + a, j + b].")
    n = x.shape[0]
    if n > 1 and _close(got * n, ref):
        return "dw is divided by the batch size; the gradient is a sum over the images, not a mean."
    return ("dw is wrong. dw[f, c, a, b] = sum over n, i, j of dout[n, f, i, j] * "
            "xp[n, c, i + a, j + b]: cross-correlate each padded input channel with each dout "
            "channel, summed over the batch.")


def _diagnose_db(got, ref, x, w, p, dout):
    n, f, oh, ow = dout.shape
    shapes = {(n, f): "summed over the positions but not over the batch",
              (f, oh, ow): "summed over the batch but not over the positions",
              (n, f, oh, ow): "not summed at all",
              (n, f, oh): "summed over one spatial axis only",
              (f, oh): "summed over the batch and one spatial axis only"}
    if got.shape in shapes and got.shape != (f,):
        return (f"db has shape {got.shape}: {shapes[got.shape]}. The bias b[f] is added to every "
                f"output pixel of channel f in every image, so its gradient sums dout over the "
                f"batch and both positions: dout.sum(axis=(0, 2, 3)), shape ({f},).")
    if got.shape != ref.shape:
        return f"db must have one entry per filter, shape ({f},); yours has shape {got.shape}."
    if _close(got, dout.mean(axis=(0, 2, 3))) or _close(got, dout.sum(axis=(2, 3)).mean(axis=0)):
        return "db is a mean; the gradient is a sum: dout.sum(axis=(0, 2, 3))."
    if n > 1 and _close(got, dout[0].sum(axis=(1, 2))):
        return "db counts only the first image; sum over the whole batch: dout.sum(axis=(0, 2, 3))."
    return "db is wrong: it is dout summed over the batch and both positions, dout.sum(axis=(0, 2, 3))."


_CHANNELS_LAST = re.compile(r"; x looks channels-last \(N, H, W, C\): use x\.transpose\(0, 3, 1, 2\)")
_CHANNELS = re.compile(r"w has (\d+) input channels \(w\.shape\[1\]\) but x has (\d+)")
_TOO_BIG = re.compile(r"kernel_size (\d+) is larger than the padded input \d+ \(([HW])=(\d+) ")


def _diagnose_raise(message, x, w, p, dout):
    """What a usual mistake that makes helpers.conv raise looks like: (message, hint or "")."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = dout.shape[2:]
    channels = _CHANNELS.search(message)
    if channels and c != f and (int(channels[1]), int(channels[2])) == (c, f):
        message = _CHANNELS_LAST.sub("", message)   # x is NCHW here: that hint would mislead
        return message, (
            f"This looks like the dx step with the kernel flipped but not transposed. For dx the "
            f"convolution's input is dout, with F = {f} channels, so its kernel must have shape "
            f"(C, F, KH, KW) = {(c, f, kh, kw)}. The flipped w still has shape (F, C, KH, KW) = "
            f"{w.shape}. Input channel c collects from every filter f through w[f, c]: flip, then "
            f"transpose, w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).")
    too_big = _TOO_BIG.search(message)
    if too_big and p > 0:
        k, axis, size = int(too_big[1]), too_big[2], int(too_big[3])
        out_size, in_size = (oh, h) if axis == "H" else (ow, wd)
        if (k, size) == (out_size, in_size):
            message = re.sub(r"; use padding >= .*$", "", message)   # padding dout is not the fix
            return message, (
                f"This looks like the dw step done on the unpadded x: dout, {out_size} pixels "
                f"along {axis}, is used as the kernel, but x is only {in_size}. The forward pass "
                f"slid w over the padded input ({in_size} + 2*{p} = {in_size + 2 * p}), so dw "
                f"needs it too: xp = conv.pad(x, padding), then cross-correlate xp with dout.")
    return message, ""


def check_conv_backward(fn) -> Feedback:
    """Gradient-check a learner's ``conv_backward(dout, x, w, padding=0) -> (dx, dw, db)``
    (stride 1) and say which of dx, dw, db is wrong, and why when the mistake is a usual one."""
    if is_unfinished(fn):
        return not_done("Hint: db is the easiest; start with db = dout.sum(axis=...).")
    lines, raised = [], ""      # raised: what happened on the first test input that raised
    for k, case in enumerate(CONV_BACKWARD_CASES):
        x, w, b, p, dout = _case_data(case, seed=k)
        args = [a.copy() for a in (dout, x, w)]
        result, problem = call_learner(fn, *args, padding=p)
        if problem is not None:
            if not problem.done:
                return problem
            if not raised:
                message, hint = _diagnose_raise(problem.message, x, w, p, dout)
                raised = f"For {_case_text(x, w, p)}: {message}." + (f"\n{hint}" if hint else "")
            continue                # the other inputs may still show what is wrong
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            got = f"{len(result)} values" if isinstance(result, (tuple, list)) else type(result).__name__
            return wrong(f"conv_backward must return three arrays, (dx, dw, db); yours returned {got}.")
        if any(r is None for r in result):
            missing = [nm for nm, r in zip(("dx", "dw", "db"), result) if r is None]
            names = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
            return not_done(f"{names} {'is' if len(missing) == 1 else 'are'} still None.")
        try:
            if any(np.iscomplexobj(r) or isinstance(r, (str, bytes, dict)) for r in result):
                raise TypeError("complex numbers, strings or dicts are not gradients")
            got = {nm: np.asarray(r, dtype=np.float64) for nm, r in zip(("dx", "dw", "db"), result)}
        except (TypeError, ValueError, OverflowError) as exc:
            return wrong(f"conv_backward must return three arrays of numbers: {exc}")
        num = _numerical(x, w, b, p, dout)
        report, wrong_ones = [], []
        for nm in ("dx", "dw", "db"):
            if got[nm].shape != num[nm].shape:
                report.append(f"{nm}: shape {got[nm].shape}, expected {num[nm].shape}")
                wrong_ones.append(nm)
                continue
            err = rel_error(got[nm], num[nm])
            ok = err < TOLERANCE
            report.append(f"{nm}: relative error {err:.1e} {'ok' if ok else 'WRONG'}")
            if not ok:
                wrong_ones.append(nm)
        if wrong_ones:
            diagnose = {"dx": _diagnose_dx, "dw": _diagnose_dw, "db": _diagnose_db}
            why = [f"{nm}: {diagnose[nm](got[nm], num[nm], x, w, p, dout)}" for nm in wrong_ones]
            check = (f"gradient check for {_case_text(x, w, p)} (against central differences, "
                     f"float64; right is below {TOLERANCE:.0e}):\n  " + "\n  ".join(report)
                     + "\n" + "\n".join(why))
            if raised:
                return wrong(f"{raised}\nWhere your function ran, the {check}")
            return wrong(check[0].upper() + check[1:])
        lines.append(f"{_case_text(x, w, p)}: " + ", ".join(report))
    if raised:
        return wrong(raised)
    return correct("dx, dw and db pass the gradient check on every test input:\n" + "\n".join(lines))
