"""Fused kernels: losses computed without materialising their largest intermediate.

:func:`linear_cross_entropy` is cross-entropy over a large vocabulary fused with the output
projection: the ``(N, V)`` logits are never held in memory at once.
"""

from .linear_cross_entropy import linear_cross_entropy

__all__ = ["linear_cross_entropy"]
