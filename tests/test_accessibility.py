"""Accessibility: colour maps readable by colour-blind learners, figures with titles and axis
labels, widget controls labelled (with their units where they have one)."""
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import ipywidgets as widgets  # noqa: E402
import pytest  # noqa: E402

from helpers import plots  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Perceptually uniform or colour-blind-safe diverging/sequential maps (no jet, rainbow, hsv, RdYlGn...).
SAFE_CMAPS = {"viridis", "cividis", "magma", "inferno", "plasma", "gray", "Greys", "gray_r", "Greys_r",
              "Blues", "Oranges", "Purples", "RdBu", "RdBu_r", "PuOr", "PuOr_r", "BrBG", "BrBG_r"}
CMAP = re.compile(r"cmap\s*=\s*[\"']([A-Za-z0-9_]+)[\"']|colormaps\[[\"']([A-Za-z0-9_]+)[\"']\]|plt\.cm\.([A-Za-z0-9_]+)")


def course_sources():
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        yield path.relative_to(ROOT), path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        yield path.relative_to(ROOT), "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_every_colour_map_is_colour_blind_safe():
    used = {}
    for where, text in course_sources():
        for m in CMAP.finditer(text):
            name = next(g for g in m.groups() if g)
            used.setdefault(name, where)
    assert used, "no colour maps found: the scan is broken"
    bad = {name: str(where) for name, where in used.items() if name not in SAFE_CMAPS}
    assert not bad, f"colour maps that are hard to read for colour-blind learners: {bad}"


def axes_problems(fig):
    """Axes that show data but lack a title (own or the figure's) or axis labels (unless the axis
    is hidden, as in image thumbnails)."""
    problems = []
    has_suptitle = fig._suptitle is not None and fig._suptitle.get_text()
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison or ax.get_label() == "<colorbar>":
            continue
        if not (ax.images or ax.lines or ax.collections or ax.patches):
            continue
        if not (ax.get_title() or has_suptitle):
            problems.append(f"axes {i}: no title")
        if ax.get_xticks().size and ax.xaxis.get_visible() and not ax.get_xlabel() and ax.get_xticklabels() and any(t.get_text() for t in ax.get_xticklabels()):
            problems.append(f"axes {i}: x axis has ticks but no label")
        if ax.get_yticks().size and ax.yaxis.get_visible() and not ax.get_ylabel() and any(t.get_text() for t in ax.get_yticklabels()):
            problems.append(f"axes {i}: y axis has ticks but no label")
    return problems


FIGURES = {
    "image_grid": lambda: plots.image_grid(np.random.default_rng(0).random((6, 8, 8)), titles=list("abcdef"), suptitle="grid"),
    "show_filters": lambda: plots.show_filters(np.random.default_rng(0).standard_normal((4, 1, 3, 3))),
    "show_filters_rgb": lambda: plots.show_filters(np.random.default_rng(0).standard_normal((4, 3, 5, 5))),
    "feature_maps": lambda: plots.feature_maps(np.random.default_rng(0).random((3, 6, 6))),
    "curves": lambda: plots.curves({"loss": [1.0, 0.5], "acc": [0.5, 0.8], "val_loss": [1.1, 0.6], "val_acc": [0.4, 0.7]}),
    "confusion_matrix": lambda: plots.confusion_matrix([0, 1, 2, 1], [0, 2, 2, 1], ["a", "b", "c"])[0],
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figures_have_titles_and_axis_labels(name):
    fig = FIGURES[name]()
    try:
        # The check itself must be able to fail: an unlabelled plot is caught.
        assert axes_problems(fig) == [], f"plots.{name}: {axes_problems(fig)}"
    finally:
        plt.close(fig)


def test_the_figure_check_catches_an_unlabelled_plot():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert len(axes_problems(fig)) == 3
    plt.close(fig)


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def explorers():
    from helpers.widgets.conv_stepper import conv_stepper
    from helpers.widgets.filter_explorer import filter_explorer
    from helpers.widgets.output_size import output_size_explorer
    from helpers.widgets.receptive_field import receptive_field_explorer
    from helpers.widgets.shift_invariance import shift_invariance_explorer
    return {"conv_stepper": conv_stepper, "filter_explorer": filter_explorer,
            "output_size_explorer": output_size_explorer, "receptive_field_explorer": receptive_field_explorer,
            "shift_invariance_explorer": shift_invariance_explorer}


UNITLESS = {"window #", "filter", "kernel:", "direction:", "pooling:", "next layer:", "play"}


@pytest.mark.parametrize("name", sorted(explorers()))
def test_widget_controls_are_labelled_with_units(name):
    box = explorers()[name]()
    controls = [w for w in walk(box) if isinstance(w, (widgets.IntSlider, widgets.FloatSlider, widgets.Dropdown,
                                                        widgets.ToggleButtons, widgets.Checkbox))]
    assert controls, f"{name} has no controls"
    for w in controls:
        assert w.description.strip(), f"{name}: a {type(w).__name__} has no label"
        if isinstance(w, (widgets.IntSlider, widgets.FloatSlider)) and w.description not in UNITLESS:
            assert "(" in w.description, f"{name}: slider {w.description!r} does not say its unit"
    plt.close("all")
