"""Regression losses: functional forms. The classes in :mod:`losskit.losses.regression` document them."""

from __future__ import annotations

import math
from typing import Any

from .._array import Array
from ._pointwise import pointwise


def l2_loss(
    pred: Array, label: Array, sample_weight: Any = None, *, weight: float | None = 1.0, batch_axis: int = 0
) -> Array:
    """``weight/2 * (label - pred)**2``, averaged per example. See :class:`losskit.L2Loss`."""
    half = 0.5 if weight is None else weight / 2
    return pointwise(lambda xp, p, y: xp.square(y - p), pred, label, sample_weight, weight=half, batch_axis=batch_axis)


def l1_loss(
    pred: Array, label: Array, sample_weight: Any = None, *, weight: float | None = None, batch_axis: int = 0
) -> Array:
    """``|label - pred|``, averaged per example. See :class:`losskit.L1Loss`."""
    return pointwise(lambda xp, p, y: xp.abs(y - p), pred, label, sample_weight, weight=weight, batch_axis=batch_axis)


def huber_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    rho: float = 1.0,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Quadratic within ``rho`` of the label, linear beyond. See :class:`losskit.HuberLoss`."""
    if not rho > 0:
        raise ValueError(f"rho must be positive, got {rho!r}")

    def formula(xp: Any, p: Array, y: Array) -> Array:
        d = xp.abs(y - p)
        return xp.where(d > rho, d - 0.5 * rho, (0.5 / rho) * xp.square(d))

    return pointwise(formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis)


def poisson_nll_loss(
    pred: Array,
    target: Array,
    sample_weight: Any = None,
    epsilon: float = 1e-08,
    *,
    from_logits: bool = True,
    compute_full: bool = False,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Poisson negative log-likelihood. See :class:`losskit.PoissonNLLLoss`."""
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be non-negative, got {epsilon!r}")

    def formula(xp: Any, p: Array, t: Array) -> Array:
        if from_logits:
            loss = xp.exp(p) - t * p  # p is log(rate)
        else:
            loss = p - t * xp.log(p + epsilon)
        if compute_full:
            # Stirling's approximation of log(t!), used for t > 1 only (log(0!) = log(1!) = 0);
            # t is replaced by 1 elsewhere so that log(0) never enters the graph.
            big = t > 1
            ts = xp.where(big, t, xp.ones_like(t))
            stirling = ts * xp.log(ts) - ts + 0.5 * xp.log(2 * math.pi * ts)
            loss = loss + xp.where(big, stirling, xp.zeros_like(t))
        return loss

    return pointwise(formula, pred, target, sample_weight, weight=weight, batch_axis=batch_axis)


__all__ = ["l2_loss", "l1_loss", "huber_loss", "poisson_nll_loss"]
