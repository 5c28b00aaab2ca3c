"""Your own drawing or photo through a trained network (lesson 15).

The explorer has a drawing pad (an ipycanvas canvas: draw with the mouse or a finger, with a
brush size, undo and clear) and a photo upload. When a stroke ends, or a file arrives, the input
goes through ``helpers.preprocess.to_fashion_mnist`` (the Fashion-MNIST authors' six steps) and
the network. One picture then shows what the network sees and does:

- the 28 x 28 input beside the mean training image of the predicted class;
- the ten class probabilities as bars;
- the feature maps of the first layers (by default the convolution after ReLU, and the pool);
- the occlusion map and the gradient saliency of the predicted class (``helpers.interpret``).

Bad input (an empty canvas, a file that is not an image, a truncated file, a decompression bomb,
a file over 10 MB, a tiny image, a blank photo) is reported in the widget in words; nothing is
raised into the kernel. The strokes are kept in Python and drawn again with Pillow, so what the
network gets never depends on the browser.
"""
from __future__ import annotations

import html
import time

import ipywidgets as widgets
import numpy as np
from PIL import Image, ImageDraw

from helpers import interpret, preprocess
from helpers.preprocess import number_argument
from helpers.plots import MAGNITUDE_CMAP, SIGNED_CMAP, figure_png, widget_figure
from helpers.widgets.base import finish_explorer
from helpers.widgets.feature_maps import tile_maps

PAD = 280                   # the drawing pad's side (pixels): ten pad pixels per input pixel
INK = "#000000"
PAPER = "#ffffff"

#: Drawings made of strokes on the pad, as {"width": brush (pixels), "points": [(x, y), ...]}.
#: Lesson 15 draws them in code and the browser test (tests/browser/test_own_input.py) draws the
#: first two with the mouse. The boot stands with its shaft on the left; the data set's boots
#: face the other way.
EXAMPLE_DRAWINGS = {
    "trousers": [{"width": 30, "points": [(90, 250), (110, 40), (170, 40), (190, 250)]}],
    "sneaker": [{"width": 40, "points": [(30, 140), (250, 140)]}],
    "T-shirt": [{"width": 60, "points": [(30, 100), (90, 60), (190, 60), (250, 100)]},
                {"width": 60, "points": [(110, 70), (110, 240), (170, 240), (170, 70)]}],
    "bag": [{"width": 40, "points": [(60, 130), (220, 130), (220, 170), (60, 170), (60, 210),
                                     (220, 210), (220, 240), (60, 240), (60, 130)]},
            {"width": 12, "points": [(100, 120), (110, 60), (170, 60), (180, 120)]}],
    "boot": [{"width": 60, "points": [(100, 40), (100, 200), (230, 210)]}],
}


def _checked_strokes(strokes):
    """[(width, [(x, y), ...]), ...] from strokes, or TypeError / ValueError naming "strokes"."""
    if not isinstance(strokes, (list, tuple)):
        raise TypeError(f"strokes must be a list of {{'width': ..., 'points': [(x, y), ...]}}, "
                        f"got {type(strokes).__name__}")
    out = []
    for i, stroke in enumerate(strokes):
        if not isinstance(stroke, dict) or "width" not in stroke or "points" not in stroke:
            raise TypeError(f"strokes[{i}] must be a dict with 'width' and 'points', got {stroke!r:.60}")
        w = number_argument(stroke["width"], f"strokes[{i}]['width']", 1, 200)
        pts = stroke["points"]
        if not isinstance(pts, (list, tuple)) or not pts:
            raise ValueError(f"strokes[{i}]['points'] must be a non-empty list of (x, y), got {pts!r:.60}")
        xy = []
        for p in pts:
            if not isinstance(p, (list, tuple)) or len(p) != 2:
                raise ValueError(f"strokes[{i}]['points'] must hold (x, y) pairs, got {p!r:.40}")
            xy.append((number_argument(p[0], f"strokes[{i}] x", -1e4, 1e4), number_argument(p[1], f"strokes[{i}] y", -1e4, 1e4)))
        out.append((w, xy))
    return out


def render_strokes(strokes, size=PAD):
    """Strokes -> what the pad shows: (size, size, 3) uint8, black ink on white.

    strokes: a list of {"width": brush diameter (pixels), "points": [(x, y), ...]}; a stroke of
    one point is a dot. Round ends and joins, as the canvas draws them.
    """
    size = number_argument(size, "size", 8, 4000, integer=True)
    img = Image.new("RGB", (size, size), PAPER)
    draw = ImageDraw.Draw(img)
    for w, pts in _checked_strokes(strokes):
        if len(pts) > 1:
            draw.line(pts, fill=INK, width=max(1, round(w)), joint="curve")
        for x, y in pts:                    # round caps and joins
            draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=INK)
    return np.asarray(img)


def own_input_explorer(model, class_names, mean, std, class_means, brush=18, layers=(1, 2),
                       occlusion_patch=6, dpi=72):
    """Widget: draw or upload an image and follow it through ``model``.

    model: a trained Sequential for (1, 28, 28) inputs (lesson 12's SimpleConvNet); class_names:
    its K class names; mean, std: the training pixels' statistics on the 0..1 scale, used to
    standardise the input as in training; class_means: (K, 28, 28) the mean training image of
    each class (0..1), shown beside the input; brush: the starting brush diameter in pad pixels;
    layers: the two layer indices whose feature maps are shown (they must give (C, H, W) maps);
    occlusion_patch: the side of the grey square of the occlusion map (pixels).

    Returns an ``ipywidgets.VBox`` with ``.controls`` ({"brush", "undo", "clear", "upload"}),
    ``.canvas`` (the ipycanvas Canvas), ``.state`` (source "drawing" or "upload", strokes,
    error (a message, or None), image28 (28, 28) uint8, probs (K,), predicted, predicted_name,
    maps (the two layers' outputs), occlusion, saliency), ``.figure``, ``.image``,
    ``.caption``, ``.message``, ``.update()``, ``.timing`` and, for code and tests,
    ``.draw_stroke(points, width=None)``, ``.show_file(data, name)``, ``.undo()`` and
    ``.clear()``. Raises TypeError or ValueError, naming the argument, for a bad argument; bad
    input from the learner is never raised, only shown.
    """
    from ipycanvas import Canvas, hold_canvas

    if not (hasattr(model, "layers") and hasattr(model, "predict_proba") and hasattr(model, "forward")):
        raise TypeError(f"model must be a trained Sequential (with layers, forward and "
                        f"predict_proba), got {type(model).__name__}")
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, (list, tuple)):
        raise TypeError(f"class_names must be a list of names, got {type(class_names).__name__}")
    class_names = [str(c) for c in class_names]
    k = len(class_names)
    if k < 2:
        raise ValueError(f"class_names must name at least 2 classes, got {k}")
    mean, std = number_argument(mean, "mean"), number_argument(std, "std")
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    if not isinstance(class_means, np.ndarray) or not (np.issubdtype(class_means.dtype, np.integer)
                                                       or np.issubdtype(class_means.dtype, np.floating)):
        raise TypeError(f"class_means must be a numeric numpy array ({k}, 28, 28), got "
                        f"{type(class_means).__name__} {getattr(class_means, 'dtype', '')}")
    class_means = class_means.astype(np.float64)
    if class_means.shape != (k, preprocess.SIZE, preprocess.SIZE):
        raise ValueError(f"class_means must have shape ({k}, 28, 28), one mean image for each of "
                         f"the {k} class_names; got {class_means.shape}")
    brush = number_argument(brush, "brush (pixels)", 2, 60, integer=True)
    if not isinstance(layers, (list, tuple)) or len(layers) != 2:
        raise ValueError(f"layers must be two layer indices, got {layers!r:.60}")
    layers = tuple(interpret.layer_index(model, number_argument(li, "layers", integer=True)) for li in layers)
    occlusion_patch = number_argument(occlusion_patch, "occlusion_patch (pixels)", 2, 14, integer=True)
    dpi = number_argument(dpi, "dpi", 20, 300)
    probe = np.zeros((1, 1, preprocess.SIZE, preprocess.SIZE), np.float32)
    for li in layers:
        shape = interpret.activations(model, probe, li).shape
        if len(shape) != 4:
            raise ValueError(f"layers must give feature maps (C, H, W); layer {li} gives {shape[1:]}")

    canvas = Canvas(width=PAD, height=PAD, layout=widgets.Layout(
        width=f"{PAD}px", height=f"{PAD}px", border="2px solid #888", flex="0 0 auto"))
    brush_s = widgets.IntSlider(value=int(brush), min=2, max=60, step=2, description="brush (pixels)",
                                continuous_update=False, style={"description_width": "initial"},
                                layout=widgets.Layout(width=f"{PAD}px"))
    undo_b = widgets.Button(description="undo", icon="undo", tooltip="remove the last stroke",
                            layout=widgets.Layout(width="90px"))
    clear_b = widgets.Button(description="clear", icon="trash", tooltip="empty the pad",
                             layout=widgets.Layout(width="90px"))
    upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload a photo",
                                layout=widgets.Layout(width=f"{PAD}px"))
    message = widgets.HTML()
    caption = widgets.HTML()
    image_w = widgets.Image(format="png")

    # The picture: input and class mean, probabilities; two feature-map mosaics; occlusion and
    # saliency. The artists are made once and changed in place; each update draws it in full.
    fig = widget_figure(figsize=(11, 6.4), dpi=dpi)
    gs = fig.add_gridspec(2, 6, left=0.02, right=0.98, top=0.88, bottom=0.03, hspace=0.35, wspace=0.3)
    blank = np.zeros((preprocess.SIZE, preprocess.SIZE))
    ax_in, ax_mean = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
    ax_bar = fig.add_subplot(gs[0, 3:])                 # column 2 holds the class names
    ax_m1, ax_m2 = fig.add_subplot(gs[1, 0:2]), fig.add_subplot(gs[1, 2:4])
    ax_occ, ax_sal = fig.add_subplot(gs[1, 4]), fig.add_subplot(gs[1, 5])
    in_art = ax_in.imshow(blank, cmap="gray", vmin=0, vmax=255)
    mean_art = ax_mean.imshow(blank, cmap="gray", vmin=0, vmax=1)
    m_arts = [ax.imshow(np.zeros((2, 2)), cmap=MAGNITUDE_CMAP, interpolation="nearest")
              for ax in (ax_m1, ax_m2)]
    occ_art = ax_occ.imshow(blank, cmap=SIGNED_CMAP, vmin=-1, vmax=1)
    sal_art = ax_sal.imshow(blank, cmap=MAGNITUDE_CMAP, vmin=0, vmax=1)
    for ax in (ax_in, ax_mean, ax_m1, ax_m2, ax_occ, ax_sal):
        ax.set_xticks([])
        ax.set_yticks([])
    ax_in.set_title("what the network sees\n(28 × 28)", fontsize=9)
    mean_title = ax_mean.set_title("", fontsize=9)
    m_titles = [ax.set_title("", fontsize=9) for ax in (ax_m1, ax_m2)]
    ax_occ.set_title(f"occlusion ({occlusion_patch}×{occlusion_patch} patch)\nred: covering "
                     f"lowers the score", fontsize=9)
    ax_sal.set_title("gradient saliency\nbright: most sensitive", fontsize=9)
    bars = ax_bar.barh(np.arange(k), np.zeros(k), color="#0072B2")
    ax_bar.set_yticks(range(k), class_names, fontsize=8)
    ax_bar.invert_yaxis()
    ax_bar.set_xlim(0, 1)
    ax_bar.set_xlabel("probability (softmax)", fontsize=8)
    bar_texts = [ax_bar.text(0, i, "", va="center", fontsize=7) for i in range(k)]
    bar_title = ax_bar.set_title("", fontsize=10)
    suptitle = fig.suptitle("", fontsize=11)

    state: dict = {"source": "drawing", "strokes": [], "error": None, "upload": None}
    timing: list[float] = []
    live = {"stroke": None}

    # --- what the network makes of an input -------------------------------------------------
    def classify(image28):
        x = preprocess.standardise(image28, mean, std)
        probs = model.predict_proba(x)[0]
        pred = int(np.argmax(probs))
        maps = [interpret.activations(model, x, li)[0] for li in layers]
        occ = interpret.occlusion_map(model, x[0], pred, patch_size=occlusion_patch, stride=2,
                                      fill=0.0, score="logit")
        sal = interpret.gradient_saliency(model, x[0], pred)
        return probs, pred, maps, occ, sal

    def show(image28, probs, pred, maps, occ, sal, where):
        in_art.set_data(image28)
        mean_art.set_data(class_means[pred])
        mean_title.set_text(f"mean training image\nof '{class_names[pred]}'")
        for li, art, title, acts in zip(layers, m_arts, m_titles, maps):
            mosaic = tile_maps(acts)[0]
            art.set_data(mosaic)
            art.set_extent((-0.5, mosaic.shape[1] - 0.5, mosaic.shape[0] - 0.5, -0.5))
            art.axes.set_xlim(-0.5, mosaic.shape[1] - 0.5)
            art.axes.set_ylim(mosaic.shape[0] - 0.5, -0.5)
            art.set_clim(0, float(np.nanmax(mosaic)) or 1.0)
            c, h, w = acts.shape
            title.set_text(f"layer {li}, {type(model.layers[li]).__name__}:\n{c} maps of {h}×{w}")
        lim = float(np.abs(occ.heat).max()) or 1e-6
        occ_art.set_data(occ.heat)
        occ_art.set_clim(-lim, lim)
        sal_art.set_data(sal / (sal.max() or 1.0))
        for c, (bar, txt) in enumerate(zip(bars, bar_texts)):
            bar.set_width(probs[c])
            bar.set_color("#E69F00" if c == pred else "#0072B2")
            txt.set_x(min(probs[c] + 0.02, 0.85))
            txt.set_text(f"{probs[c]:.1%}" if probs[c] >= 0.0005 else "")
        bar_title.set_text(f"the network says: {class_names[pred]} ({probs[pred]:.1%})")
        suptitle.set_text(f"Your {where} through the network")
        image_w.value = figure_png(fig)

    def update(*_):
        t0 = time.perf_counter()
        src = state["source"]
        try:
            if src == "upload":
                name, data = state["upload"]
                image28 = preprocess.to_fashion_mnist(preprocess.decode_image(data))
                where = f"photo '{name}'"
            else:
                rgb = preprocess.decode_drawing(render_strokes(state["strokes"]))
                image28 = preprocess.to_fashion_mnist(rgb)
                where = "drawing"
        except Exception as exc:               # say it in the widget; the kernel goes on
            if not isinstance(exc, preprocess.InputError):
                exc = f"This input could not be used ({type(exc).__name__}: {exc})."
            state.update(error=str(exc), image28=None, probs=None, predicted=None, predicted_name=None)
            hint = " Or upload a photo." if src == "drawing" and not state["strokes"] else ""
            message.value = (f"<div style='padding:4px 8px;border-left:4px solid #D55E00;"
                             f"background:#fdf0e6'>{html.escape(str(exc), quote=False)}{html.escape(hint, quote=False)}</div>")
            caption.value = ""
            image_w.layout.display = "none"     # no picture of an earlier input under the message
            return
        probs, pred, maps, occ, sal = classify(image28)
        state.update(error=None, image28=image28, probs=probs, predicted=pred,
                     predicted_name=class_names[pred], maps=maps, occlusion=occ, saliency=sal)
        show(image28, probs, pred, maps, occ, sal, where)
        message.value = ""
        image_w.layout.display = ""
        second = int(np.argsort(probs)[-2])
        caption.value = (f"<b class='cnn-own-input-prediction'>The network says: {class_names[pred]} "
                         f"({probs[pred]:.1%})</b>; next: {class_names[second]} ({probs[second]:.1%}). "
                         f"Input: your {html.escape(where, quote=False)}.")
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    # --- the pad --------------------------------------------------------------------------
    def paint(strokes):
        """Draw the strokes on the canvas (in the browser) from scratch."""
        with hold_canvas():
            canvas.clear()
            canvas.fill_style = PAPER
            canvas.fill_rect(0, 0, PAD, PAD)
            canvas.stroke_style = INK
            canvas.fill_style = INK
            canvas.line_cap = "round"
            canvas.line_join = "round"
            for s in strokes:
                canvas.line_width = s["width"]
                if len(s["points"]) > 1:
                    canvas.stroke_lines(s["points"])
                else:
                    canvas.fill_circle(*s["points"][0], s["width"] / 2)

    def start(x, y):
        stroke = {"width": int(brush_s.value), "points": [(float(x), float(y))]}
        live["stroke"] = stroke
        state["strokes"].append(stroke)
        state["source"] = "drawing"
        with hold_canvas():
            canvas.fill_style = INK
            canvas.fill_circle(float(x), float(y), stroke["width"] / 2)

    def move(x, y):
        stroke = live["stroke"]
        if stroke is None:
            return
        x0, y0 = stroke["points"][-1]
        stroke["points"].append((float(x), float(y)))
        with hold_canvas():
            canvas.stroke_style = INK
            canvas.line_width = stroke["width"]
            canvas.line_cap = "round"
            canvas.stroke_line(x0, y0, float(x), float(y))

    def end(*_):
        if live["stroke"] is None:
            return
        live["stroke"] = None
        update()

    def first(touches):
        return touches[0] if touches else (None, None)

    canvas.on_mouse_down(start)
    canvas.on_mouse_move(move)
    canvas.on_mouse_up(end)
    canvas.on_mouse_out(end)
    canvas.on_touch_start(lambda t: t and start(*first(t)))
    canvas.on_touch_move(lambda t: t and move(*first(t)))
    canvas.on_touch_end(end)
    canvas.on_touch_cancel(end)
    canvas.on_client_ready(lambda: paint(state["strokes"]))   # a page reloaded: draw again

    def on_undo(_=None):
        if state["strokes"]:
            state["strokes"].pop()
        state["source"] = "drawing"
        paint(state["strokes"])
        update()

    def on_clear(_=None):
        state["strokes"].clear()
        state["source"] = "drawing"
        paint(state["strokes"])
        update()

    def show_file(data, name="upload"):
        """Put the bytes of an image file through the network, as an upload does."""
        state["upload"] = (str(name), data)
        state["source"] = "upload"
        update()

    def on_upload(change):
        files = change["new"]
        if not files:
            return
        f = files[-1]
        show_file(f.get("content", b""), f.get("name", "upload"))
        upload.value = ()               # empty again, so that the same file can be chosen again

    def draw_stroke(points, width=None):
        """Add a stroke from code, as if drawn with the mouse: points [(x, y), ...] in pad pixels."""
        if not isinstance(points, (list, tuple)) or not points:
            raise ValueError(f"points must be a non-empty list of (x, y), got {points!r:.60}")
        w = int(brush_s.value) if width is None else number_argument(width, "width (pixels)", 1, 200, integer=True)
        ((_, pts),) = _checked_strokes([{"width": w, "points": list(points)}])
        state["strokes"].append({"width": w, "points": pts})
        state["source"] = "drawing"
        paint(state["strokes"])
        update()

    undo_b.on_click(on_undo)
    clear_b.on_click(on_clear)
    upload.observe(on_upload, names="value")
    paint([])

    left = widgets.VBox([canvas, brush_s, widgets.HBox([undo_b, clear_b]), upload],
                        layout=widgets.Layout(flex="0 0 auto", margin="0 12px 0 0"))
    right = widgets.VBox([message, image_w, caption])
    controls = {"brush": brush_s, "undo": undo_b, "clear": clear_b, "upload": upload}
    return finish_explorer([widgets.HBox([left, right])], "cnn-own-input", controls, state, update,
                           figure=fig, image=image_w, caption=caption, message=message,
                           canvas=canvas, timing=timing, draw_stroke=draw_stroke,
                           show_file=show_file, undo=on_undo, clear=on_clear)
