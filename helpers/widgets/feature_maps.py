"""Feature-map explorer (lesson 14): pick a network, a test image and a layer; see every channel.

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
from collections import OrderedDict

import ipywidgets as widgets
import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import RendererAgg

from helpers import interpret
from helpers.plots import MAGNITUDE_CMAP, SIGNED_CMAP, blit_png, widget_figure
from helpers.widgets.base import finish_explorer

CACHE_SIZE = 32     # images (with their network and layer) whose maps and picture are kept


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


class _Overlay(Artist):
    """Artists that never change but lie over ones that do (the channel numbers over the mosaic):
    drawn once into a transparent layer of their own, then pasted as one image, which is much
    quicker than laying out and drawing dozens of texts again. For blitting: the artists
    themselves are animated, so that the kept background leaves them out."""

    def __init__(self, artists):
        super().__init__()
        self.artists, self.layer = list(artists), None

    def draw(self, renderer):
        if self.layer is None:
            alone = RendererAgg(renderer.width, renderer.height, renderer.dpi)   # transparent
            for artist in self.artists:
                artist.draw(alone)
            rgba = np.asarray(alone.buffer_rgba())
            rows = np.flatnonzero(rgba[..., 3].any(axis=1))
            cols = np.flatnonzero(rgba[..., 3].any(axis=0))
            if not len(rows):
                self.layer = ()
                return
            top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            # draw_image places the picture by its lower left corner, counted from the bottom
            self.layer = (left, renderer.height - bottom, rgba[top:bottom, left:right][::-1].copy())
        if self.layer:
            gc = renderer.new_gc()
            renderer.draw_image(gc, *self.layer)
            gc.restore()


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
    active_fraction), ``.figure``, ``.image``, ``.caption``, ``.update()`` and ``.timing``
    (milliseconds of the last updates). The picture is ``.image``: the figure's changing parts
    are animated (blitted), so a plain drawing of ``.figure`` leaves them out. The maps and the
    picture of each image are computed once and kept (``CACHE_SIZE`` of them).
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

    # One figure per network and layer, drawn in full once (build): the axes, their frames, ticks
    # and labels, the titles that stay, the suptitle. Moving to another image draws on that kept
    # background only what changes (blitting, helpers.plots.blit_png): the test image and its
    # title, the mosaic and its colour bar (the scale follows each image), or the bars and their
    # value axis; the frames are drawn again over them, as a full drawing does. The channel
    # numbers lie over the mosaic but never change: they are drawn once into a transparent layer
    # and pasted (_Overlay).
    drawn: dict = {"key": None, "background": None, "parts": None}
    cmaps = {signed: matplotlib.colormaps[SIGNED_CMAP if signed else MAGNITUDE_CMAP].with_extremes(
        bad="white") for signed in (False, True)}                    # gaps and unused cells: white

    def bar_colours(vals, is_output, pred):
        """Output layer: the predicted class orange; other layers: blue >= 0, vermillion < 0."""
        if is_output:
            return ["#E69F00" if k == pred else "#0072B2" for k in range(len(vals))]
        return ["#0072B2" if v >= 0 else "#D55E00" for v in vals]

    def build(name, li, m, acts, pred):
        """Lay the figure out for one network and layer; return what update() changes."""
        fig.clf()
        gs = fig.add_gridspec(1, 2, width_ratios=[1, 3.4], left=0.06, right=0.91,
                              bottom=0.12, top=0.82, wspace=0.22)
        ax_in = fig.add_subplot(gs[0, 0])
        parts = {"in_img": ax_in.imshow(pixels[0], cmap="gray"), "in_title": ax_in.set_title("", fontsize=9)}
        ax_in.set_xlabel("column (pixel)")
        ax_in.set_ylabel("row (pixel)")
        ax = fig.add_subplot(gs[0, 1])
        lay = m.layers[li]
        moving = [parts["in_img"], *ax_in.spines.values(), parts["in_title"]]
        if acts.ndim == 3:
            c, h, w = acts.shape
            mosaic, (nr, nc) = tile_maps(acts)
            im = ax.imshow(mosaic, cmap=cmaps[False], vmin=0, vmax=1, interpolation="nearest")
            numbers = []
            if c <= 40:
                for ch in range(c):
                    r, col = divmod(ch, nc)
                    numbers.append(ax.text(col * (w + 1), r * (h + 1), str(ch), fontsize=6, color="white",
                                           va="top", ha="left",
                                           bbox=dict(facecolor="black", alpha=0.5, pad=0.5, linewidth=0)))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{c} channels, each {h}×{w} pixels (channel 0 top left, row by row)")
            ax.set_ylabel("feature maps")
            cbar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
            ax.set_title(f"{repr(lay)}: {c} maps of {h}×{w}", fontsize=10)
            parts.update(mosaic=im, cbar=cbar)
            moving += [im, *ax.spines.values(), *([_Overlay(numbers)] if numbers else []), cbar.ax]
            for number in numbers:
                number.set_animated(True)     # left out of the background: the overlay draws them
        else:
            vals = acts.reshape(-1)
            is_output = li == len(m.layers) - 1
            bars = ax.bar(np.arange(len(vals)), vals, color=bar_colours(vals, is_output, pred), width=0.85)
            zero = ax.axhline(0, color="black", linewidth=0.6)
            if is_output and len(vals) == len(class_names):
                ax.set_xticks(range(len(vals)), class_names, rotation=30, ha="right", fontsize=8)
                ax.set_xlabel("class (orange: predicted)")
            else:
                ax.set_xlabel(f"unit (0 to {len(vals) - 1})")
            ax.set_ylabel("activation" + (" (logit)" if is_output else ""))
            ax.set_title(f"{repr(lay)}: {len(vals)} numbers, no map any more", fontsize=10)
            parts.update(bars=list(bars), is_output=is_output)
            # in the order (zorder) of a full drawing: bars, value axis, zero line, frame
            moving += [*bars, ax.yaxis, zero, *ax.spines.values()]
        fig.suptitle(f"{name}, layer {li}", fontsize=11)
        for artist in moving:
            artist.set_animated(True)
        parts.update(ax=ax, moving=moving)
        return parts

    # The maps and picture of every image seen (per network and layer) are kept, CACHE_SIZE at
    # most: going back to an image shows it again without recomputing or redrawing. The key holds
    # the network's probabilities for the image, so a network trained since is never shown stale.
    seen: OrderedDict = OrderedDict()

    def maps_of(key, m, x, li):
        if key in seen:
            seen.move_to_end(key)
            return seen[key]
        acts = interpret.activations(m, x, li)[0]
        entry = {"acts": acts, "png": None}
        if acts.ndim == 3:
            entry["mosaic"] = tile_maps(acts)[0]
            entry["signed"] = bool(acts.min() < 0)
            entry["lim"] = float(np.abs(acts).max()) or 1.0
        seen[key] = entry
        while len(seen) > CACHE_SIZE:
            seen.popitem(last=False)
        return entry

    def update(*_):
        if busy["on"]:
            return
        t0 = time.perf_counter()
        name, i, li = model_dd.value, image_s.value, layer_dd.value
        m = models[name]
        x = images[i:i + 1]
        probs = m.predict_proba(x)[0]
        pred = int(probs.argmax())
        entry = maps_of((name, li, i, probs.tobytes()), m, x, li)
        acts = entry["acts"]
        lay = m.layers[li]
        try:
            rf = interpret.receptive_field(m, li)
        except ValueError:
            rf = None
        state.update(model=name, layer=li, layer_name=repr(lay), shape=acts.shape, maps=acts,
                     index=i, label=int(labels[i]), predicted=pred, probability=float(probs[pred]),
                     receptive_field=rf, active_fraction=float(np.mean(acts > 0)))

        key = (name, li, id(lay), acts.shape)
        if drawn["key"] != key:
            drawn.update(key=key, background=None, parts=build(name, li, m, acts, pred))
        parts = drawn["parts"]
        parts["in_img"].set_data(pixels[i])
        parts["in_img"].set_clim(float(pixels[i].min()), float(pixels[i].max()))
        ok = "right" if pred == labels[i] else "wrong"
        parts["in_title"].set_text(f"test image #{i}\ntrue: {class_names[labels[i]]}\npredicted: "
                                   f"{class_names[pred]} ({probs[pred]:.0%}, {ok})")
        if acts.ndim == 3:
            signed, lim = entry["signed"], entry["lim"]
            im = parts["mosaic"]
            im.set_data(entry["mosaic"])
            if im.get_cmap() is not cmaps[signed]:
                im.set_cmap(cmaps[signed])
            if im.get_clim() != (-lim if signed else 0, lim):
                im.set_clim(-lim if signed else 0, lim)
            parts["cbar"].set_label("activation" + (" (blue < 0 < red)" if signed else ""))
            rf_text = (f"each map pixel sees a {rf[0]}×{rf[0]} input patch; neighbours are "
                       f"{rf[1]} input pixel(s) apart" if rf else "")
        else:
            vals = acts.reshape(-1)
            for bar, v, colour in zip(parts["bars"], vals, bar_colours(vals, parts["is_output"], pred)):
                bar.set_height(v)
                bar.set_facecolor(colour)
            parts["ax"].relim()                          # the value axis follows the bars
            parts["ax"].autoscale_view()
            rf_text = "every unit depends on the whole image (Flatten mixed all positions)"
        if entry["png"] is None:
            entry["png"], drawn["background"] = blit_png(fig, parts["moving"], drawn["background"])
        image_w.value = entry["png"]
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
