"""Interactive explorers built from ipywidgets and helpers.plots, one module each.

Each explorer is a function that returns an ipywidgets container, e.g.
``from helpers.widgets.output_size import output_size_explorer``. Every explorer can be driven
from code (set a control's ``.value``) and keeps its last computed state on the returned object,
so tests and nbval can check what a learner would see.
The steps all explorers end with (wiring, the box, the first draw) are
``helpers.widgets.base.finish_explorer``.
"""
