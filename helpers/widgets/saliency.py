"""Where does the network look? (lesson 14): occlusion and gradient saliency side by side.

For one test image the explorer shows four panels: the image, the occlusion map (how much the
target class's probability drops when a grey square covers each spot), the gradient saliency
(how fast the target's score changes with each pixel), and the predicted probabilities as a
bar chart. Controls: the test image, the class to explain, the occlusion patch size, and
SmoothGrad (average the gradient over noisy copies).

The two maps answer different questions. Occlusion is a real experiment on the model (cover
this, and the answer changes by that much) but it is coarse and slow: one forward pass per
patch position. The gradient is one backward pass and pixel-sharp, but it is a local slope:
it says what would change the score a little, not what the network used.
"""
from __future__ import annotations

import time
from collections import OrderedDict

import ipywidgets as widgets
import numpy as np
from matplotlib.artist import Artist

from helpers import interpret
from helpers.fast.threads import one_blas_thread
from helpers.plots import MAGNITUDE_CMAP, SIGNED_CMAP, blit_png, widget_figure
from helpers.widgets.base import finish_explorer

TARGET_CHOICES = ("true class", "predicted class")


MEASURES = {"score (logit)": "logit", "probability": "probability"}
CACHE_SIZE = 48                 # occlusion and gradient maps kept, oldest dropped first


class _KeptTexts(Artist):
    """Draws a few Text artists and keeps each one's pixels per wording: drawn again, the same
    wording is copied back instead of laid out and rendered glyph by glyph again (text is the
    slowest part of a redraw). For blitting only: draw it first, straight after the background
    is restored, so that the kept pixels hold that background and one text, nothing else. When
    the texts overlap (a long title), they are drawn as usual and nothing is kept."""

    def __init__(self, texts, keep=64):
        super().__init__()
        self.texts, self.keep, self.kept = list(texts), keep, OrderedDict()

    def draw(self, renderer):
        canvas = self.texts[0].figure.canvas
        shown = [t for t in self.texts if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent(renderer).padded(2) for t in shown]
        apart = not any(a.overlaps(b) for n, a in enumerate(boxes) for b in boxes[n + 1:])
        for text, box in zip(shown, boxes):
            key = (id(text), text.get_text())
            if apart and key in self.kept:
                canvas.restore_region(self.kept[key])
                self.kept.move_to_end(key)
                continue
            text.draw(renderer)
            if apart:
                self.kept[key] = canvas.copy_from_bbox(box)
                if len(self.kept) > self.keep:
                    self.kept.popitem(last=False)


def saliency_explorer(model, images, labels, class_names, pixels=None, index=0,
                      target="true class", patch_size=6, stride=2, measure="score (logit)",
                      smooth=False, dpi=72):
    """Widget: occlusion map, gradient saliency and predicted probabilities for one image.

    model: a trained Sequential; images: (N, 1, H, W) network inputs (standardised, so 0.0 is
    the data set's mean grey, the occlusion patch's value); labels: (N,); class_names: K names;
    pixels: (N, H, W) for display (default images[:, 0]). target: "true class", "predicted
    class" or a class name. patch_size, stride: the occlusion square and its step (pixels).
    measure: what the occlusion map records the drop of, "score (logit)" or "probability"
    (stuck near 100 % for confident predictions, so small patches barely move it).

    Returns an ``ipywidgets.VBox`` with ``.controls`` ({"image", "target", "patch", "measure",
    "smooth"}),
    ``.state`` (index, label, predicted, probs, target, occlusion (an interpret.Occlusion),
    saliency (H, W), occlusion_peak and saliency_peak (row, col)), ``.figure``, ``.image``,
    ``.caption`` and ``.update()``. The picture is ``.image``: the figure's changing parts are
    animated (blitted), so a plain drawing of ``.figure`` leaves them out. The maps of each
    setting are computed once and kept (``CACHE_SIZE`` of them).
    """
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels)
    pixels = images[:, 0] if pixels is None else np.asarray(pixels)
    class_names = list(class_names)
    if images.ndim != 4 or len(images) != len(labels) or len(pixels) != len(images):
        raise ValueError(f"images must be (N, C, H, W) with N labels and N pixel images; got "
                         f"{images.shape}, {labels.shape}, {pixels.shape}")
    h, w = images.shape[2:]
    options = list(TARGET_CHOICES) + class_names
    if target not in options:
        raise ValueError(f"target must be one of {options}, got {target!r}")
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {list(MEASURES)}, got {measure!r}")

    image_s = widgets.IntSlider(value=index, min=0, max=len(images) - 1, description="test image #",
                                continuous_update=False, style={"description_width": "initial"})
    target_dd = widgets.Dropdown(options=options, value=target, description="explain",
                                 style={"description_width": "initial"})
    patch_s = widgets.IntSlider(value=patch_size, min=2, max=14, step=2,
                                description="occlusion patch (pixels)", continuous_update=False,
                                style={"description_width": "initial"})
    measure_tb = widgets.ToggleButtons(options=list(MEASURES), value=measure,
                                       description="occlusion drop of", style={"description_width": "initial"})
    smooth_cb = widgets.Checkbox(value=smooth, description="SmoothGrad (average 16 noisy copies)",
                                 indent=False)
    caption = widgets.HTML()
    image_w = widgets.Image(format="png")

    # One figure, changed in place. Only what an update changes is animated (left out of the kept
    # background and drawn on top of it, "blitting"): the three pictures, their peak marks and
    # titles, the occlusion colour bar (its scale follows each map), the bars and their numbers,
    # and the title. The axes' frames (spines) are animated too, so that they are drawn over the
    # pictures and bars as in a full drawing. Everything else (tick labels, the gradient's colour
    # bar, the axis labels) is drawn once: text is what costs most to draw. For the same reason
    # the titles are drawn first and their pixels kept, per wording (_KeptTexts).
    fig = widget_figure(figsize=(12.5, 3.6), dpi=dpi)
    gs = fig.add_gridspec(1, 5, width_ratios=[1, 1, 1, 0.3, 1.3], left=0.035, right=0.985,
                          bottom=0.26, top=0.8, wspace=0.45)
    ax_img, ax_occ, ax_sal, ax_bar = (fig.add_subplot(gs[0, c]) for c in (0, 1, 2, 4))
    img_art = ax_img.imshow(pixels[index], cmap="gray")
    occ_art = ax_occ.imshow(np.zeros((h, w)), cmap=SIGNED_CMAP, vmin=-1, vmax=1)
    sal_art = ax_sal.imshow(np.zeros((h, w)), cmap=MAGNITUDE_CMAP, vmin=0, vmax=1)
    occ_mark, = ax_occ.plot([], [], "+", color="black", markersize=10, markeredgewidth=2)
    sal_mark, = ax_sal.plot([], [], "+", color="white", markersize=10, markeredgewidth=2)
    occ_cbar = fig.colorbar(occ_art, ax=ax_occ, fraction=0.046, pad=0.03)
    fig.colorbar(sal_art, ax=ax_sal, fraction=0.046, pad=0.03).set_label("|gradient| (scaled to max 1)")
    for ax in (ax_img, ax_occ, ax_sal):
        ax.set_xlabel("column (pixel)")
    ax_img.set_ylabel("row (pixel)")
    k = len(class_names)
    bars = ax_bar.barh(np.arange(k), np.zeros(k), color="#0072B2")
    ax_bar.set_yticks(range(k), class_names, fontsize=8)
    ax_bar.invert_yaxis()
    ax_bar.set_xlim(0, 1)
    ax_bar.set_xlabel("predicted probability\norange: explained, hatched: true class")
    ax_bar.set_title("what the network says", fontsize=10)
    bar_texts = [ax_bar.text(0, i, "", va="center", fontsize=7) for i in range(k)]
    titles = [ax.set_title("", fontsize=9) for ax in (ax_img, ax_occ, ax_sal)]
    suptitle = fig.suptitle("", fontsize=11)
    spines = {ax: list(ax.spines.values()) for ax in (ax_img, ax_occ, ax_sal, ax_bar)}
    # drawn on the kept background in this order: the titles (above the axes, over no picture),
    # then axes by axes, each in the order (zorder) a full drawing follows
    pictures = [img_art, *spines[ax_img], occ_art, occ_mark, *spines[ax_occ], sal_art, sal_mark,
                *spines[ax_sal], *bars, *spines[ax_bar], *bar_texts, occ_cbar.ax]
    for artist in [*titles, suptitle, *pictures]:
        artist.set_animated(True)
    moving = [_KeptTexts([*titles, suptitle]), *pictures]
    drawn = {"background": None}

    # The maps of every setting seen are kept (a few dozen at most): going back to an image or a
    # patch size shows them again without recomputing. The key holds the network's probabilities
    # for the image, so maps of a network that has been trained since are never reused.
    maps: OrderedDict = OrderedDict()

    def cached(key, compute):
        if key in maps:
            maps.move_to_end(key)
        else:
            maps[key] = compute()
            while len(maps) > CACHE_SIZE:
                maps.popitem(last=False)
        return maps[key]

    state: dict = {}
    timing: list[float] = []

    def update(*_):
        t0 = time.perf_counter()
        i = image_s.value
        x = images[i]
        probs = model.predict_proba(x[None])[0]
        pred = int(probs.argmax())
        label = int(labels[i])
        choice = target_dd.value
        tgt = label if choice == "true class" else pred if choice == "predicted class" \
            else class_names.index(choice)
        patch = patch_s.value
        score = MEASURES[measure_tb.value]
        smooth = bool(smooth_cb.value)
        seen = (i, tgt, probs.tobytes())
        n_samples, noise = (16, 0.3) if smooth else (1, 0.0)
        # the BLAS in one thread, as in training (helpers/fast README, idea 6): its idle second
        # thread would go on spinning after each call and slow the drawing on a busy machine
        with one_blas_thread():
            occ = cached(("occlusion", *seen, patch, stride, score), lambda: interpret.occlusion_map(
                model, x, tgt, patch_size=patch, stride=stride, fill=0.0, score=score))
            sal = cached(("gradient", *seen, smooth), lambda: interpret.gradient_saliency(
                model, x, tgt, n_samples=n_samples, noise=noise, seed=i))
        occ_peak = tuple(int(v) for v in np.unravel_index(np.argmax(occ.heat), occ.heat.shape))
        sal_peak = tuple(int(v) for v in np.unravel_index(np.argmax(sal), sal.shape))
        state.update(index=i, label=label, predicted=pred, probs=probs, target=tgt,
                     target_name=class_names[tgt], occlusion=occ, saliency=sal,
                     occlusion_peak=occ_peak, saliency_peak=sal_peak, patch_size=patch,
                     measure=occ.score, smooth=smooth)

        img_art.set_data(pixels[i])
        img_art.set_clim(float(pixels[i].min()), float(pixels[i].max()))
        verdict = "right" if pred == label else "wrong"
        titles[0].set_text(f"test image #{i}\ntrue: {class_names[label]}, predicted: "
                           f"{class_names[pred]} ({verdict})")
        lim = float(np.abs(occ.heat).max()) or 1e-6
        occ_art.set_data(occ.heat)
        occ_art.set_clim(-lim, lim)
        occ_mark.set_data([occ_peak[1]], [occ_peak[0]])
        what = "probability" if occ.score == "probability" else "score"
        titles[1].set_text(f"occlusion ({patch}×{patch} grey patch)\nred: covering lowers the {what}")
        occ_cbar.set_label("drop in probability" if occ.score == "probability" else "drop in score (logit)")
        sal_art.set_data(sal / (sal.max() or 1.0))
        sal_mark.set_data([sal_peak[1]], [sal_peak[0]])
        titles[2].set_text("gradient of the score" + (" (SmoothGrad)" if smooth else "") +
                           "\nbright: most sensitive pixels")
        for c, (bar, txt) in enumerate(zip(bars, bar_texts)):
            bar.set_width(probs[c])
            bar.set_color("#E69F00" if c == tgt else "#0072B2")
            bar.set_hatch("//" if c == label else "")
            txt.set_x(min(probs[c] + 0.02, 0.8))
            txt.set_text(f"{probs[c]:.0%}" if probs[c] >= 0.005 else "")
        suptitle.set_text(f"Where does the network look for '{class_names[tgt]}'?")
        image_w.value, drawn["background"] = blit_png(fig, moving, drawn["background"])
        p_tgt = probs[tgt]
        if occ.score == "probability":
            drop = f"lowers it by up to {occ.grid.max():.1%}"
        else:
            drop = (f"lowers its score (logit {occ.base:.1f}) by up to {occ.grid.max():.1f}")
        caption.value = (f"p({class_names[tgt]}) = {p_tgt:.1%} with nothing covered; the "
                         f"{patch}×{patch} patch {drop} (peak at row {occ_peak[0]}, column "
                         f"{occ_peak[1]}). The gradient peaks at row {sal_peak[0]}, column "
                         f"{sal_peak[1]}.")
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    controls = {"image": image_s, "target": target_dd, "patch": patch_s, "measure": measure_tb,
                "smooth": smooth_cb}
    rows = [widgets.HBox([image_s, target_dd]), widgets.HBox([patch_s, measure_tb]), smooth_cb,
            image_w, caption]
    return finish_explorer(rows, "cnn-saliency", controls, state, update, redraw_on=controls.values(),
                           figure=fig, image=image_w, caption=caption, timing=timing)
