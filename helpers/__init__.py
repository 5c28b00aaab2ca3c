"""The course library: small NumPy modules, one idea each.

Imports run one way: conv <- layers <- model <- train; plots and widgets sit on top; data
stands alone. Import the module you need, e.g. ``from helpers import conv``.
"""
