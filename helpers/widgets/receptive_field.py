"""The receptive field of a stack of layers: add layers and watch it grow on the input.

The receptive field (수용 영역) of an output pixel is the patch of the input that can change it.
For a stack of layers with kernel sizes k_l, strides s_l and dilations d_l
(k_eff = d (k - 1) + 1; dilation 1 = ordinary kernel, PyTorch convention):

    jump  j_0 = 1,  j_l = j_{l-1} * s_l           (input pixels between neighbouring outputs)
    field r_0 = 1,  r_l = r_{l-1} + (k_eff_l - 1) * j_{l-1}

``receptive_field_table`` computes both; ``influence_map`` counts, for each input pixel, the
paths through the stack that lead to one output pixel (all weights 1), which shows the field's
shape: filled in, or full of holes (dilation with a stride), and heavier in the middle.
"""
from __future__ import annotations

import time

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle

from helpers import conv
from helpers.plots import blit_png, widget_figure
from helpers.widgets.base import finish_explorer

#: Okabe-Ito colours (colour-blind safe), one per layer outline.
COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442", "#000000")


def layer(kind="conv", kernel_size=3, stride=1, dilation=1, padding=None) -> dict:
    """One layer as a dict. kind: "conv" or "max pool" (or "avg pool"); padding None means
    d (k - 1) // 2 for a convolution (keeps the size at stride 1) and 0 for pooling."""
    if kind not in ("conv", "max pool", "avg pool"):
        raise ValueError(f"kind must be 'conv', 'max pool' or 'avg pool', got {kind!r}")
    k = conv.pair(kernel_size, "kernel_size")[0]
    s = conv.pair(stride, "stride")[0]
    d = conv.pair(dilation, "dilation")[0]
    if kind != "conv" and d != 1:
        raise ValueError("dilation applies to convolutions here; pooling windows are ordinary (dilation 1)")
    if padding is None:
        padding = d * (k - 1) // 2 if kind == "conv" else 0
    return {"kind": kind, "k": k, "s": s, "d": d, "p": int(padding)}


def layer_name(spec: dict) -> str:
    """E.g. 'conv 3×3', 'conv 3×3 /2', 'conv 3×3 d2', 'max pool 2×2 /2'."""
    name = f"{spec['kind']} {spec['k']}×{spec['k']}"
    if spec["s"] != 1:
        name += f" /{spec['s']}"
    if spec["d"] != 1:
        name += f" d{spec['d']}"
    return name


def receptive_field_table(layers, n=None) -> list[dict]:
    """One row per layer: name, k, s, d, k_eff, jump_in, jump, rf, and size (the output size
    for an n x n input, when n is given; a ValueError from helpers.conv if a layer does not fit).

    >>> [r["rf"] for r in receptive_field_table([layer(), layer()])]
    [3, 5]
    """
    rows, r, j, size = [], 1, 1, n
    for spec in layers:
        k_eff = spec["d"] * (spec["k"] - 1) + 1
        r, j_in = r + (k_eff - 1) * j, j
        j = j * spec["s"]
        if size is not None:
            size = conv.output_size(size, spec["k"], spec["s"], spec["p"], spec["d"])
        rows.append({"name": layer_name(spec), "k": spec["k"], "s": spec["s"], "d": spec["d"],
                     "k_eff": k_eff, "jump_in": j_in, "jump": j, "rf": r, "size": size})
    return rows


def _back_1d(g_out, n_in, spec):
    """Send path counts from one layer's outputs back to its inputs, along one axis."""
    g_in = np.zeros(n_in + 2 * spec["p"])
    for t in range(spec["k"]):
        start = t * spec["d"]
        g_in[start:start + spec["s"] * (len(g_out) - 1) + 1:spec["s"]] += g_out
    return g_in[spec["p"]:spec["p"] + n_in]            # paths into the padding lead nowhere


def influence_1d(layers, n, unit=None):
    """Path counts along one axis from an input of n pixels to output ``unit`` (default: the
    centre one) of the last layer; returns (counts (n,), unit)."""
    sizes = [n]
    for spec in layers:
        sizes.append(conv.output_size(sizes[-1], spec["k"], spec["s"], spec["p"], spec["d"]))
    unit = (sizes[-1] - 1) // 2 if unit is None else unit
    g = np.zeros(sizes[-1])
    g[unit] = 1
    for spec, n_in in zip(reversed(layers), reversed(sizes[:-1])):
        g = _back_1d(g, n_in, spec)
    return g, unit


def influence_map(layers, n):
    """(n, n) array: for each input pixel, how many paths lead from it to the centre output
    pixel of the stack (every weight 1). Non-zero exactly on the receptive field."""
    g, _ = influence_1d(layers, n)
    return np.outer(g, g)


def receptive_field_explorer(n=32, layers=None, dpi=72):
    """Add layers and watch the receptive field of the centre output pixel grow on the input.

    n: input size in pixels; layers: a starting list of :func:`layer` dicts. Returns an
    ``ipywidgets.VBox`` with ``.controls`` (``"n"``, ``"kind"``, ``"kernel_size"``, ``"stride"``,
    ``"dilation"``, and the buttons ``"add"``, ``"remove"``, ``"reset"``), ``.state``
    (``layers``, ``table``, ``rf``, ``jump``, ``influence``, ``message``), ``.table`` (HTML),
    ``.message`` (HTML), ``.figure``, ``.image`` and ``.update()``. ``controls["add"].click()``
    adds a layer from code.
    """
    style = {"description_width": "initial"}
    c = {
        "n": widgets.IntSlider(value=n, min=8, max=64, description="input size (pixels)", style=style,
                               continuous_update=False),
        "kind": widgets.ToggleButtons(options=["conv", "max pool"], value="conv", description="next layer:",
                                      style=style),
        "kernel_size": widgets.IntSlider(value=3, min=1, max=7, description="kernel size (pixels)",
                                         style=style),
        "stride": widgets.IntSlider(value=1, min=1, max=3, description="stride (pixels)", style=style),
        "dilation": widgets.IntSlider(value=1, min=1, max=4, description="dilation (1 = ordinary)",
                                      style=style),
        "add": widgets.Button(description="add layer", button_style="primary", icon="plus"),
        "remove": widgets.Button(description="remove last", icon="minus"),
        "reset": widgets.Button(description="reset", icon="refresh"),
    }
    table_w, message = widgets.HTML(), widgets.HTML()
    image_w = widgets.Image(format="png")
    stack = [dict(s) for s in (layers or [])]
    start = [dict(s) for s in stack]

    fig = widget_figure(figsize=(7.2, 4.8), dpi=dpi)
    ax = fig.add_axes((0.09, 0.1, 0.5, 0.76))
    img = ax.imshow(np.zeros((n, n)), cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    rects = [ax.add_patch(Rectangle((0, 0), 1, 1, fill=False, linewidth=2.2, visible=False))
             for _ in range(12)]
    ax.set_xlabel("input column (pixel)")
    ax.set_ylabel("input row (pixel)")
    state: dict = {"layers": stack}
    timing: list[float] = []

    def on_kind(change=None):
        c["dilation"].disabled = c["kind"].value != "conv"
        if c["kind"].value != "conv":
            c["dilation"].value = 1
            if c["kernel_size"].value == 3 and c["stride"].value == 1:
                c["kernel_size"].value, c["stride"].value = 2, 2   # the usual 2x2 pooling, stride 2

    def update(*_):
        t0 = time.perf_counter()
        size = c["n"].value
        msg = state.pop("pending", "")
        try:
            table = receptive_field_table(stack, size)
        except ValueError as exc:           # a smaller input made a layer impossible: drop layers
            while stack:
                stack.pop()
                try:
                    table = receptive_field_table(stack, size)
                    break
                except ValueError:
                    continue
            else:
                table = []
            msg = f"removed layers that no longer fit an input of {size}: {exc}"
        infl = influence_map(stack, size)
        rf = table[-1]["rf"] if table else 1
        jump = table[-1]["jump"] if table else 1
        state.update(table=table, rf=rf, jump=jump, influence=infl, n=size, message=msg)

        img.set_data(infl)
        img.set_extent((-0.5, size - 0.5, size - 0.5, -0.5))
        img.set_clim(0, max(1.0, float(infl.max())))
        ax.set_xlim(-0.5, size - 0.5)
        ax.set_ylim(size - 0.5, -0.5)
        shown = min(len(stack), len(rects))
        for i, rect in enumerate(rects):
            rect.set_visible(False)
        handles = []
        # The squares are nested: after each layer, the unit whose field is centred nearest to the
        # final pixel's field (one of its ancestors), so the picture shows one field growing.
        g_final, _ = influence_1d(stack, size) if stack else (np.ones(1), 0)
        nz_final = np.flatnonzero(g_final)
        centre = (nz_final[0] + nz_final[-1]) / 2 if stack else 0
        offset, jump_in = 0, 1                           # input index of unit 0's field start
        starts = []
        for spec in stack:
            offset -= spec["p"] * jump_in
            jump_in *= spec["s"]
            starts.append((offset, jump_in))
        for i in range(shown):
            layer_i = len(stack) - shown + i             # the last 12 layers if there are more
            off, jmp = starts[layer_i]
            r_i = table[layer_i]["rf"]
            m = table[layer_i]["size"]
            unit = int(np.clip(round((centre - off - (r_i - 1) / 2) / jmp), 0, m - 1))
            g, _ = influence_1d(stack[:layer_i + 1], size, unit=unit)
            nz = np.flatnonzero(g)
            lo, hi = nz[0], nz[-1]
            rect = rects[i]
            rect.set_bounds(lo - 0.5, lo - 0.5, hi - lo + 1, hi - lo + 1)
            rect.set_edgecolor(COLOURS[layer_i % len(COLOURS)])
            rect.set_visible(True)
            rect.set_label(f"{layer_i + 1}: {table[layer_i]['name']} → {table[layer_i]['rf']}×{table[layer_i]['rf']}")
            handles.append(rect)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8,
                      title="after layer", title_fontsize=8, frameon=False)
        ax.set_title(f"Receptive field of the centre output pixel\nafter {len(stack)} layer(s): "
                     f"{rf}×{rf} input pixels (grey: paths to it)", fontsize=10)
        image_w.value, _ = blit_png(fig, [])

        head = ("<tr><th>layer</th><th>k</th><th>stride</th><th>dilation</th><th>k<sub>eff</sub></th>"
                "<th>jump before</th><th>receptive field r = r<sub>prev</sub> + (k<sub>eff</sub> − 1)·jump</th>"
                "<th>output size</th></tr>")
        body, prev = [], 1
        for i, row in enumerate(table, 1):
            body.append(f"<tr><td>{i}: {row['name']}</td><td>{row['k']}</td><td>{row['s']}</td><td>{row['d']}</td>"
                        f"<td>{row['k_eff']}</td><td>{row['jump_in']}</td>"
                        f"<td>{prev} + ({row['k_eff']} − 1)·{row['jump_in']} = <b>{row['rf']}</b></td>"
                        f"<td>{row['size']}×{row['size']}</td></tr>")
            prev = row["rf"]
        if not table:
            body.append(f"<tr><td colspan='8'>no layers yet: the field is 1 pixel, the input {size}×{size}. "
                        f"Press 'add layer'.</td></tr>")
        table_w.value = ("<table style='border-collapse:collapse' border='1' cellpadding='3'>"
                         + head + "".join(body) + "</table>")
        message.value = f"<span style='color:#D55E00'>{msg}</span>" if msg else ""
        timing.append(1000 * (time.perf_counter() - t0))
        del timing[:-50]

    def add(_=None):
        spec = layer("conv" if c["kind"].value == "conv" else "max pool", c["kernel_size"].value,
                     c["stride"].value, c["dilation"].value if c["kind"].value == "conv" else 1)
        try:
            receptive_field_table(stack + [spec], c["n"].value)
        except ValueError as exc:
            state["pending"] = f"cannot add {layer_name(spec)}: {exc}"
        else:
            stack.append(spec)
        update()

    def remove(_=None):
        if stack:
            stack.pop()
        update()

    def reset(_=None):
        stack[:] = [dict(s) for s in start]
        update()

    c["add"].on_click(add)
    c["remove"].on_click(remove)
    c["reset"].on_click(reset)
    c["kind"].observe(on_kind, names="value")
    next_layer = widgets.VBox([c["kind"], c["kernel_size"], c["stride"], c["dilation"],
                               widgets.HBox([c["add"], c["remove"], c["reset"]])])
    # only the input size redraws at once: the other controls describe the next layer to add
    rows = [widgets.HBox([next_layer, c["n"]]), message, image_w, table_w]
    return finish_explorer(rows, "cnn-receptive-field", c, state, update, redraw_on=[c["n"]],
                           table=table_w, message=message, figure=fig, image=image_w, timing=timing)
