"""The course library: small NumPy modules, one idea each.

Imports run one way: conv <- layers <- model <- train; plots and widgets sit on top; data
stands alone. Import the module you need, e.g. ``from helpers import conv``.

On import, ``helpers.memory.keep_freed_memory()`` asks the C allocator to keep freed memory
for reuse (a training step then causes no page faults; see helpers/memory.py).
"""
from helpers import memory as _memory

_memory.keep_freed_memory()
