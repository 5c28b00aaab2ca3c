"""The course library: small NumPy modules, one idea each.

Imports run one way: shapes <- conv <- fast <- layers <- model <- train; plots and widgets sit
on top; data stands alone. Import the module you need, e.g. ``from helpers import conv``.

Importing helpers changes nothing outside it: no thread starts, no allocator or BLAS setting
changes. ``helpers.train.fit`` tunes the process for training while it runs (``tune=False``
turns that off); see helpers/fast/README.md.
"""
