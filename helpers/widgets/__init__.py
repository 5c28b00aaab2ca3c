"""Interactive explorers built from ipywidgets and helpers.plots, one module each.

Each explorer is a function that returns an ipywidgets container, e.g.
``from helpers.widgets.output_size import output_size_explorer``. Every explorer can be driven
from code (set a control's ``.value``) and keeps its last computed state on the returned object,
so tests and nbval can check what a learner would see.
The steps all explorers end with (wiring, the box, the first draw) are
``helpers.widgets.base.finish_explorer``.

The explorers, by lesson:

* 01 ``conv_stepper`` (one window at a time);
* 02 ``filter_explorer`` (classic filters on a photograph), ``equivariance`` (shift the input,
  the feature map shifts the same way);
* 03 ``value_stepper`` (the numbers, under stride and padding);
* 04 ``output_size`` (where the windows land), ``receptive_field`` (a stack of layers);
* 05 ``channel_explorer`` (one filter on three channels: maps, sum, bias, ReLU);
* 08 ``shift_invariance`` (pooling against a shift);
* 12 ``feature_maps`` and ``saliency`` (inside a trained network).
* 15 ``own_input`` (your own drawing or photo through the trained network).

The browser test (tests/browser) times every one of them in JupyterLab, from a slider change
to the new picture on the screen, against a budget of 100 ms.
"""
