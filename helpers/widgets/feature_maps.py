"""Feature-map explorer (lesson 12): pick a network, a test image and a layer; see every channel.

Each channel of a convolution's output is one map: where in the image its filter found its
pattern. Going deeper the maps get smaller (pooling halves them) and each pixel sees a larger
patch of the input (its receptive field), until the Dense layers, which have no map at all:
one number per unit. The explorer shows that progression for any ``helpers.model.Sequential``.

``tile_maps`` lays the channels out as one mosaic image (one ``imshow`` instead of dozens of
axes, so redrawing stays fast); ``feature_map_explorer`` builds the widget.
"""
from __future__ import annotations

import math
import time

import ipywidgets as widgets
import matplotlib
import numpy as np

from helpers import interpret
from helpers.plots import MAGNITUDE_CMAP, SIGNED_CMAP, figure_png, widget_figure
from helpers.widgets.base import finish_explorer


def tile_maps(maps, ncols=None, gap=1, aspect=2.0):
    """Lay out C maps of H x W in a grid: maps (C, H, W) -> (mosaic (R*(H+gap)-gap,
    ncols*(W+gap)-gap), (R, ncols)). Gaps and unused cells are NaN (drawn as background).
    Without ncols, the grid is about ``aspect`` times as wide as it is high (30 maps: 8 x 4)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (C, H, W), got shape {maps.shape}")
    c, h, w = maps.shape
    ncols = ncols or min(c, math.ceil(math.sqrt(c * aspect * h / w)))
    nrows = math.ceil(c / ncols)
    mosaic = np.full((nrows * (h + gap) - gap, ncols * (w + gap) - gap), np.nan)
    for i in range(c):
        r, col = divmod(i, ncols)
        mosaic[r * (h + gap):r * (h + gap) + h, col * (w + gap):col * (w + gap) + w] = maps[i]
    return mosaic, (nrows, ncols)


def _layer_label(i, layer, shape):
    dims = "×".join(str(s) for s in shape)
    return f"{i}: {layer!r} → {dims}"


def feature_map_explorer(models, images, labels, class_names, pixels=None, index=0, layer=0,
                         model=None, dpi=72):
    """Widget: every channel's feature map of one test image at one layer.

    models: a Sequential or a dict {name: Sequential} (a dropdown then picks one); images:
    (N, 1, H, W) network inputs (standardised); labels: (N,) true classes; class_names: K
    names; pixels: (N, H, W) the same images for display (default: images[:, 0]); index,
    layer, model: the starting image, layer index and model name.

    Returns an ``ipywidgets.VBox`` with ``.controls`` ({"model", "image", "layer"}),
    ``.state`` (model, layer, layer_name, shape, maps, index, label, predicted, receptive_field,
    active_fraction), ``.figure``, ``.image``, ``.caption`` and ``.update()``.
    """
    if not isinstance(models, dict):
        models = {"network": models}
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels)
    pixels = images[:, 0] if pixels is None else np.asarray(pixels)
    if images.ndim != 4 or len(images) != len(labels) or len(pixels) != len(images):
        raise ValueError(f"images must be (N, C, H, W) with N labels and N pixel images; got "
                         f"{images.shape}, {labels.shape}, {pixels.shape}")
    names = list(models)
    model = names[0] if model is None else model

    model_dd = widgets.Dropdown(options=names, value=model, description="network",
                                layout=widgets.Layout(display="" if len(names) > 1 else "none"))
    image_s = widgets.IntSlider(value=index, min=0, max=len(images) - 1, description="test image #",
                                continuous_update=False, style={"description_width": "initial"})
    layer_dd = widgets.Dropdown(description="layer", layout=widgets.Layout(width="420px"))
    caption = widgets.HTML()
    image_w = widgets.Image(format="png")
    fig = widget_figure(figsize=(10, 4.6), dpi=dpi)
    state: dict = {}
    timing: list[float] = []
    busy = {"on": False}

    def layer_options(name):
        m = models[name]
        shape, opts = tuple(images.shape[1:]), []
        for i, lay in enumerate(m.layers):
            shape = lay.output_shape(shape)
            if type(lay).__name__ != "Flatten":      # Flatten only reshapes the layer before
                opts.append((_layer_label(i, lay, shape), i))
        return opts

    def set_layers(name, keep=None):
        busy["on"] = True
        opts = layer_options(name)
        layer_dd.options = opts
        values = [v for _, v in opts]
        layer_dd.value = keep if keep in values else values[0]
        busy["on"] = False

    def update(*_):
        if busy["on"]:
            return
        t0 = time.perf_counter()
        name, i, li = model_dd.value, image_s.value, layer_dd.value
        m = models[name]
        x = images[i:i + 1]
        acts = interpret.activations(m, x, li)[0]
        probs = m.predict_proba(x)[0]
        pred = int(probs.argmax())
        lay = m.layers[li]
        try:
            rf = interpret.receptive_field(m, li)
        except ValueError:
            rf = None
        state.update(model=name, layer=li, layer_name=repr(lay), shape=acts.shape, maps=acts,
                     index=i, label=int(labels[i]), predicted=pred, probability=float(probs[pred]),
                     receptive_field=rf, active_fraction=float(np.mean(acts > 0)))

        fig.clf()
        gs = fig.add_gridspec(1, 2, width_ratios=[1, 3.4], left=0.06, right=0.91,
                              bottom=0.12, top=0.82, wspace=0.22)
        ax_in = fig.add_subplot(gs[0, 0])
        ax_in.imshow(pixels[i], cmap="gray")
        ok = "right" if pred == labels[i] else "wrong"
        ax_in.set_title(f"test image #{i}\ntrue: {class_names[labels[i]]}\npredicted: "
                        f"{class_names[pred]} ({probs[pred]:.0%}, {ok})", fontsize=9)
        ax_in.set_xlabel("column (pixel)")
        ax_in.set_ylabel("row (pixel)")
        ax = fig.add_subplot(gs[0, 1])
        signed = bool(acts.min() < 0)
        if acts.ndim == 3:
            c, h, w = acts.shape
            mosaic, (nr, nc) = tile_maps(acts)
            lim = float(np.abs(acts).max()) or 1.0
            cmap = matplotlib.colormaps[SIGNED_CMAP if signed else MAGNITUDE_CMAP].with_extremes(
                bad="white")
            im = ax.imshow(mosaic, cmap=cmap, vmin=-lim if signed else 0, vmax=lim,
                           interpolation="nearest")
            if c <= 40:
                for ch in range(c):
                    r, col = divmod(ch, nc)
                    ax.text(col * (w + 1), r * (h + 1), str(ch), fontsize=6, color="white",
                            va="top", ha="left",
                            bbox=dict(facecolor="black", alpha=0.5, pad=0.5, linewidth=0))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{c} channels, each {h}×{w} pixels (channel 0 top left, row by row)")
            ax.set_ylabel("feature maps")
            cbar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
            cbar.set_label("activation" + (" (blue < 0 < red)" if signed else ""))
            rf_text = (f"each map pixel sees a {rf[0]}×{rf[0]} input patch; neighbours are "
                       f"{rf[1]} input pixel(s) apart" if rf else "")
            ax.set_title(f"{repr(lay)}: {c} maps of {h}×{w}", fontsize=10)
        else:
            vals = acts.reshape(-1)
            is_output = li == len(m.layers) - 1
            colours = ["#0072B2" if v >= 0 else "#D55E00" for v in vals]
            if is_output:
                colours = ["#E69F00" if k == pred else "#0072B2" for k in range(len(vals))]
            ax.bar(np.arange(len(vals)), vals, color=colours, width=0.85)
            ax.axhline(0, color="black", linewidth=0.6)
            if is_output and len(vals) == len(class_names):
                ax.set_xticks(range(len(vals)), class_names, rotation=30, ha="right", fontsize=8)
                ax.set_xlabel("class (orange: predicted)")
            else:
                ax.set_xlabel(f"unit (0 to {len(vals) - 1})")
            ax.set_ylabel("activation" + (" (logit)" if is_output else ""))
            ax.set_title(f"{repr(lay)}: {len(vals)} numbers, no map any more", fontsize=10)
            rf_text = "every unit depends on the whole image (Flatten mixed all positions)"
        fig.suptitle(f"{name}, layer {li}", fontsize=11)
        image_w.value = figure_png(fig)
        shape_txt = "×".join(str(s) for s in acts.shape)
        caption.value = (f"<b>layer {li}, {repr(lay)}</b>: output {shape_txt}; {rf_text}. "
                         f"{state['active_fraction']:.0%} of the values are above zero.")
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    def on_model(change):
        set_layers(change["new"], keep=layer_dd.value)
        update()

    set_layers(model, keep=layer)
    model_dd.observe(on_model, names="value")    # a new model first needs its own layer list
    rows = [widgets.HBox([model_dd, image_s, layer_dd]), image_w, caption]
    return finish_explorer(rows, "cnn-feature-maps", {"model": model_dd, "image": image_s, "layer": layer_dd},
                           state, update, redraw_on=[image_s, layer_dd],
                           figure=fig, image=image_w, caption=caption, timing=timing)
