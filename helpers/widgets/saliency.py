"""Where does the network look? (lesson 08): occlusion and gradient saliency side by side.

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

import ipywidgets as widgets
import numpy as np

from helpers import interpret
from helpers.plots import MAGNITUDE_CMAP, SIGNED_CMAP, blit_png, widget_figure
from helpers.widgets.base import finish_explorer

TARGET_CHOICES = ("true class", "predicted class")


MEASURES = {"score (logit)": "logit", "probability": "probability"}


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
    ``.caption`` and ``.update()``.
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
    ax_bar.set_xlabel("predicted probability")
    ax_bar.set_title("what the network says", fontsize=10)
    bar_texts = [ax_bar.text(0, i, "", va="center", fontsize=7) for i in range(k)]
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
        occ = interpret.occlusion_map(model, x, tgt, patch_size=patch, stride=stride, fill=0.0,
                                      score=MEASURES[measure_tb.value])
        n_samples, noise = (16, 0.3) if smooth_cb.value else (1, 0.0)
        sal = interpret.gradient_saliency(model, x, tgt, n_samples=n_samples, noise=noise, seed=i)
        occ_peak = tuple(int(v) for v in np.unravel_index(np.argmax(occ.heat), occ.heat.shape))
        sal_peak = tuple(int(v) for v in np.unravel_index(np.argmax(sal), sal.shape))
        state.update(index=i, label=label, predicted=pred, probs=probs, target=tgt,
                     target_name=class_names[tgt], occlusion=occ, saliency=sal,
                     occlusion_peak=occ_peak, saliency_peak=sal_peak, patch_size=patch,
                     measure=occ.score, smooth=bool(smooth_cb.value))

        img_art.set_data(pixels[i])
        img_art.set_clim(float(pixels[i].min()), float(pixels[i].max()))
        verdict = "right" if pred == label else "wrong"
        ax_img.set_title(f"test image #{i}\ntrue: {class_names[label]}, predicted: "
                         f"{class_names[pred]} ({verdict})", fontsize=9)
        lim = float(np.abs(occ.heat).max()) or 1e-6
        occ_art.set_data(occ.heat)
        occ_art.set_clim(-lim, lim)
        occ_mark.set_data([occ_peak[1]], [occ_peak[0]])
        what = "probability" if occ.score == "probability" else "score"
        ax_occ.set_title(f"occlusion ({patch}×{patch} grey patch)\nred: covering lowers the {what}",
                         fontsize=9)
        occ_cbar.set_label("drop in probability" if occ.score == "probability" else "drop in score (logit)")
        sal_art.set_data(sal / (sal.max() or 1.0))
        sal_mark.set_data([sal_peak[1]], [sal_peak[0]])
        ax_sal.set_title("gradient of the score" + (" (SmoothGrad)" if smooth_cb.value else "") +
                         "\nbright: most sensitive pixels", fontsize=9)
        for c, (bar, txt) in enumerate(zip(bars, bar_texts)):
            bar.set_width(probs[c])
            bar.set_color("#E69F00" if c == tgt else "#0072B2")
            bar.set_hatch("//" if c == label else "")
            txt.set_x(min(probs[c] + 0.02, 0.8))
            txt.set_text(f"{probs[c]:.0%}" if probs[c] >= 0.005 else "")
        ax_bar.set_xlabel("predicted probability\norange: explained, hatched: true class")
        fig.suptitle(f"Where does the network look for '{class_names[tgt]}'?", fontsize=11)
        image_w.value, _ = blit_png(fig, [])
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
