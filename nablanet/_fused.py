"""The old home of the fused kernels (now `nablanet.kernels`), for pickles only.

A network pickled by an earlier release holds its loss by value, and the loss referred to
its kernel's getter by this module's name; unpickling resolves those names, so they stay,
bound to today's kernels (which a loss now holds directly). Nothing imports this module.
"""

from nablanet.kernels import sigmoid_cross_entropy as sigmoid_cross_entropy_kernel
from nablanet.kernels import softmax_cross_entropy as softmax_cross_entropy_kernel

__all__ = ["sigmoid_cross_entropy_kernel", "softmax_cross_entropy_kernel"]
