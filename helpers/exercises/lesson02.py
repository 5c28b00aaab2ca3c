"""Checkers for lesson 02 (convolution): the sliding window by hand, and a vertical-edge filter.

Each checker returns a :class:`helpers.exercises.Feedback` and never raises on an unfinished
answer. Solutions: ``helpers.exercises.solution("correlate2d_taps")`` and
``solution("vertical_edge_filter")``.
"""
from __future__ import annotations

import numpy as np

from helpers import conv
from helpers.widgets import conv_stepper
from helpers.exercises import call_learner, correct, is_unfinished, not_done, register_solution, wrong

#: The worked example of lesson 01 (defined once, in helpers.widgets.conv_stepper), in float64.
EXAMPLE_IMAGE = conv_stepper.EXAMPLE_IMAGE.astype(np.float64)
EXAMPLE_KERNEL = conv_stepper.EXAMPLE_KERNEL.astype(np.float64)


def _reference(image, kernel):
    return conv.conv2d_naive(np.asarray(image, float)[None, None], np.asarray(kernel, float)[None, None])[0, 0]


def _num(v) -> str:
    v = float(v)
    return str(int(round(v))) if abs(v - round(v)) < 1e-9 else f"{v:.4g}"


# --- exercise 1: the sliding window ---------------------------------------------------------

@register_solution("correlate2d_taps")
def correlate2d_taps(image, kernel):
    """Cross-correlation of one image (H, W) with one kernel (KH, KW), stride 1, no padding,
    looping over the KH*KW kernel taps instead of the output pixels: tap (u, v) multiplies the
    whole shifted image image[u:u+OH, v:v+OW] by one weight."""
    H, W = image.shape
    KH, KW = kernel.shape
    OH, OW = H - KH + 1, W - KW + 1          # window positions per column and per row (the +1!)
    out = np.zeros((OH, OW))
    for u in range(KH):
        for v in range(KW):
            out += kernel[u, v] * image[u:u + OH, v:v + OW]
    return out


def _cases():
    rng = np.random.default_rng(1)
    yield "the 5×5 example with the 2×2 kernel", EXAMPLE_IMAGE, EXAMPLE_KERNEL
    yield ("a 6×7 image with a 2×3 kernel (not square, so rows and columns cannot be mixed up)",
           rng.integers(-3, 4, size=(6, 7)).astype(float), rng.integers(-2, 3, size=(2, 3)).astype(float))
    yield "a 4×5 image with a 3×1 kernel", rng.integers(0, 5, size=(4, 5)).astype(float), np.array([[1.], [-2.], [1.]])


def check_correlate2d(fn) -> "Feedback":
    """Check a learner's ``fn(image, kernel) -> out`` (valid cross-correlation, stride 1)."""
    if is_unfinished(fn):
        return not_done("Write the function with two loops over the kernel taps (u, v).")
    if not callable(fn):
        return wrong(f"pass your function itself, as in check_correlate2d(correlate2d_taps); you passed "
                     f"{type(fn).__name__} {repr(fn)[:40]}.")
    for label, image, kernel in _cases():
        result, fb = call_learner(fn, image.copy(), kernel.copy())
        if fb is not None:
            return fb if fb.done else not_done("Write the function with two loops over the kernel taps (u, v).")
        if result is None:
            return wrong("your function returned None: end it with `return out`.")
        if isinstance(result, (str, bytes)) or callable(result):
            return wrong(f"your function returned {type(result).__name__}, which is not an array of numbers.")
        try:
            out = np.asarray(result, dtype=float)
        except (TypeError, ValueError):
            return wrong(f"your function returned {type(result).__name__}, which is not an array of numbers.")
        expected = _reference(image, kernel)
        (H, W), (KH, KW) = image.shape, kernel.shape
        if out.shape != expected.shape:
            msg = (f"on {label}, your output has shape {out.shape}; expected {expected.shape} = "
                   f"(H - KH + 1, W - KW + 1) = ({H} - {KH} + 1, {W} - {KW} + 1). ")
            if out.shape == (H, W):
                msg += ("That is the input's size: the window may only start where it fits "
                        "completely, so the last start row is H - KH.")
            elif out.shape == (H - KH, W - KW):
                msg += ("One row and one column short: the window can start at rows 0 ... H - KH, "
                        "which is H - KH + 1 positions (the +1).")
            elif out.shape == expected.shape[::-1]:
                msg += "Rows and columns are swapped: the first axis is the row (height)."
            else:
                msg += "Use the image's and the kernel's shapes: H, W = image.shape; KH, KW = kernel.shape."
            return wrong(msg)
        if np.allclose(out, expected):
            continue
        flipped = _reference(image, kernel[::-1, ::-1])
        if np.allclose(out, flipped) and not np.allclose(kernel, kernel[::-1, ::-1]):
            return wrong(f"on {label} your function flips the kernel: that is the mathematicians' "
                         f"convolution. CNN libraries (and this course) compute cross-correlation: "
                         f"multiply each pixel by the weight that lies on top of it, without flipping.")
        i, j = np.argwhere(~np.isclose(out, expected))[0]
        window = image[i:i + KH, j:j + KW]
        return wrong(f"on {label}, out[{i}, {j}] is {_num(out[i, j])}, expected {_num(expected[i, j])}: "
                     f"the window there is rows {i}-{i + KH - 1}, columns {j}-{j + KW - 1} "
                     f"({window.astype(int).tolist() if np.all(window == window.astype(int)) else window.tolist()}), "
                     f"and out[{i}, {j}] = sum(window * kernel).")
    return correct("your function agrees with helpers.conv.conv2d_naive on all three test images, "
                   "including a non-square image and kernel.")


# --- exercise 2: a vertical-edge filter -----------------------------------------------------

@register_solution("vertical_edge_filter")
def vertical_edge_filter():
    """Sobel x: right column minus left column, the middle row counted twice.
    Every row sums to 0 (so horizontal edges and flat regions give 0), and the left and right
    columns differ (so a change from left to right gives a large response)."""
    return np.array([[-1, 0, 1],
                     [-2, 0, 2],
                     [-1, 0, 1]], dtype=np.float32)


def edge_test_images(size: int = 16) -> dict[str, np.ndarray]:
    """The images the edge checker uses: a vertical step edge (dark left half, bright right half),
    a horizontal one (dark top, bright bottom) and a flat grey square. Values in [0, 1]."""
    v = np.zeros((size, size))
    v[:, size // 2:] = 1.0
    return {"vertical edge": v, "horizontal edge": v.T.copy(), "flat grey": np.full((size, size), 0.5)}


def edge_responses(w) -> dict[str, float]:
    """Largest absolute response of the filter w (KH, KW) to each image of ``edge_test_images``."""
    w = np.asarray(w, dtype=np.float64)
    return {name: float(np.abs(_reference(img, w)).max()) for name, img in edge_test_images().items()}


def _step_lobes(w) -> tuple[float, float]:
    """The largest positive and the largest negative output of w on the vertical step edge.
    An edge detector gives one sign along the edge (the other lobe is ~0); a line detector
    ([-1, 2, -1] in a row: a second difference) gives + on one side and - on the other."""
    out = _reference(edge_test_images()["vertical edge"], w)
    return float(max(out.max(), 0.0)), float(max(-out.min(), 0.0))


def _diagnose(w, report: str):
    """None when w (2-D, finite, not all zero) is a vertical-edge filter; else (kind, message)."""
    r = edge_responses(w)
    total = float(w.sum())
    scale = float(np.abs(w).sum())
    if abs(total) > 1e-6 * scale:
        msg = (f"your weights sum to {_num(total)}, not 0. On a flat area of brightness b the output is "
               f"b × {_num(total)}, so the filter responds to brightness itself, not only to edges. ")
        if np.all(w >= 0) or np.all(w <= 0):
            msg += "All the weights have the same sign: that is a blur (a weighted average), which smooths edges away. "
        msg += "Give it negative weights on one side and positive on the other, summing to 0. " + report
        return "sum", msg
    rv, rh = r["vertical edge"], r["horizontal edge"]
    if rv < 1e-9 and rh < 1e-9:
        return "neither", ("it responds neither to a vertical nor to a horizontal edge (a checkerboard-like "
                           "filter finds corners or texture instead). Compare the left side of the window "
                           "with the right side. " + report)
    if rh > 0.1 * rv:
        if rv < 0.1 * rh:
            return "horizontal", ""
        return "both", ("it responds to vertical and to horizontal edges alike (like a Laplacian or a "
                        "diagonal filter). A vertical-edge filter must ignore a horizontal edge: make each "
                        "row of weights sum to 0, so that a row of equal pixels gives nothing. " + report)
    pos, neg = _step_lobes(w)
    if min(pos, neg) > 0.25 * max(pos, neg):
        ramp = float((w * np.arange(w.shape[1])[None, :]).sum())     # output on brightness = column
        msg = (f"it is a line detector, not an edge detector. On the vertical step edge (dark left half, "
               f"bright right half) its output is +{_num(pos)} on one side of the edge and -{_num(neg)} on "
               f"the other: two stripes of opposite sign, not one edge. A row like [-1, 2, -1] (a second "
               f"difference: the middle minus its two neighbours) finds thin lines, a bright or dark stripe "
               f"one pixel wide")
        if abs(ramp) <= 1e-6 * scale:
            msg += ", and gives 0 on a smooth ramp that gets brighter from left to right"
        msg += (". A vertical-edge filter compares the left side of the window with the right side, "
                "e.g. [-1, 0, 1] in every row; then the whole edge gets one sign. " + report)
        return "line", msg
    return None


def check_vertical_edge_filter(w) -> "Feedback":
    """Check a filter meant to find vertical edges; says what the filter responds to.

    A vertical-edge filter responds to the vertical step edge, gives 0 on the flat grey area and
    (almost) 0 on the horizontal edge, and marks the edge with one sign (a line detector such as
    [-1, 2, -1] in each row gives + and - on the two sides of the edge instead)."""
    if is_unfinished(w):
        return not_done("Set `my_filter` to a small 2-D array, e.g. np.array([[...], [...], [...]]).")
    if isinstance(w, (str, bytes)):
        return wrong(f"my_filter is a string ({w!r:.40}); the filter should be an array of numbers, "
                     f"e.g. np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]]).")
    if callable(w):
        return wrong("my_filter is a function; the filter should be an array of numbers, e.g. "
                     "np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]]). (If your function builds the "
                     "filter, call it: my_filter = make_my_filter().)")
    try:
        w = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError):
        return wrong("the filter should be an array of numbers, e.g. np.array([[1, 0, -1], ...]).")
    if w.ndim != 2:
        hint = " Write one row in brackets inside brackets: [[-1, 0, 1]]." if w.ndim == 1 else ""
        return wrong(f"a filter here is a 2-D array (rows, columns), e.g. 3×3; yours has shape {w.shape}.{hint}")
    if w.shape[0] > 9 or w.shape[1] > 9 or w.size < 2:
        return wrong(f"choose a small filter, between 1×2 and 9×9 (yours is {w.shape[0]}×{w.shape[1]}).")
    if not np.all(np.isfinite(w)):
        return wrong("the filter contains NaN or infinity.")
    if np.allclose(w, 0):
        return wrong("all the weights are zero, so the filter responds to nothing at all.")
    r = edge_responses(w)
    report = (f"Largest response to a vertical edge: {_num(r['vertical edge'])}, to a horizontal edge: "
              f"{_num(r['horizontal edge'])}, to a flat grey area: {_num(r['flat grey'])}.")
    verdict = _diagnose(w, report)
    if verdict is None:
        sign = "positive" if _reference(edge_test_images()["vertical edge"], w).max() > 0 else "negative"
        return correct(f"it finds vertical edges and ignores horizontal edges and flat areas. {report} "
                       f"Where the image goes from dark (left) to bright (right) its output is {sign}; "
                       f"from bright to dark it has the other sign; np.abs(output) finds both.")
    kind, message = verdict
    if kind != "horizontal":
        return wrong(message)
    # It finds horizontal edges. Is it a vertical-edge filter turned by 90 degrees (e.g. kernel.T)?
    turned = _diagnose(w.T, report)
    wt = w.T.astype(int).tolist() if np.all(w == np.round(w)) else np.round(w.T, 3).tolist()
    if turned is None:
        return wrong(f"this finds horizontal edges (brightness changing from top to bottom), not vertical "
                     f"ones: transpose it. Your filter is a vertical-edge filter turned by 90 degrees; its "
                     f"transpose w.T = {wt} compares left with right, and the checker accepts it. " + report)
    return wrong("this responds to horizontal lines (brightness changing from top to bottom), not to "
                 "vertical edges. Turned by 90 degrees (w.T) it would still be a line detector: a column "
                 "like [-1, 2, -1] finds thin stripes, not edges. A vertical-edge filter compares the left "
                 "side of the window with the right side, e.g. [-1, 0, 1] in every row. " + report)
