"""The engine: the operations of ``helpers.conv``, tuned for speed on a CPU.

Same functions, same arguments, same results (the tests check every layout of it against
``helpers.conv``); only the caches that forward passes return differ, so pass a cache to the
backward function of the module that made it. README.md beside this file explains the ideas:
cache-sized groups of images, a long-row layout for stride 1, two threads with the BLAS held to
one, and the allocator setting that ``helpers.train.fit`` uses.

The layers use this engine unless ``helpers.layers.use_engine("reference")`` says otherwise.
Importing it starts nothing: its worker thread starts on the first large call.
"""

from helpers.fast.convolution import conv2d, conv2d_backward, conv2d_forward
from helpers.fast.pooling import (avg_pool2d, avg_pool2d_backward, avg_pool2d_forward,
                                  max_pool2d, max_pool2d_backward, max_pool2d_forward)

__all__ = ["conv2d", "conv2d_forward", "conv2d_backward", "max_pool2d", "max_pool2d_forward",
           "max_pool2d_backward", "avg_pool2d", "avg_pool2d_forward", "avg_pool2d_backward"]
