"""Regression losses: functional forms. The classes in :mod:`losskit.losses.regression` document them."""

from __future__ import annotations

import math
from typing import Any

from .. import _fast
from .._array import Array, abs_, clamp_min, log_cosh, namespace, relu, size, stop_gradient
from .._core import (
    check_batch_axis,
    check_flag,
    check_number,
    check_sample_weight,
    check_weight,
    finish,
    float_input,
    is_real,
    like,
    read_value,
)
from ._pointwise import pointwise


def l2_loss(
    pred: Array, label: Array, sample_weight: Any = None, *, weight: float | None = 1.0, batch_axis: int = 0
) -> Array:
    """``weight/2 * (label - pred)**2``, averaged per example. See :class:`losskit.L2Loss`."""
    check_weight(weight)  # before weight / 2 meets it
    half = 0.5 if weight is None else weight / 2
    return pointwise(
        lambda xp, p, y: xp.square(y - p),
        pred,
        label,
        sample_weight,
        weight=half,
        batch_axis=batch_axis,
        fast=_fast.torch_l2,
    )


def l1_loss(
    pred: Array, label: Array, sample_weight: Any = None, *, weight: float | None = None, batch_axis: int = 0
) -> Array:
    """``|label - pred|``, averaged per example. See :class:`losskit.L1Loss`."""
    return pointwise(
        lambda xp, p, y: abs_(xp, y - p),
        pred,
        label,
        sample_weight,
        weight=weight,
        batch_axis=batch_axis,
        fast=_fast.torch_l1,
    )


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
    rho = check_number(rho, "rho", low=0.0, low_open=True, array_ok=True)

    def formula(xp: Any, p: Array, y: Array) -> Array:
        d = xp.abs(y - p)
        return xp.where(d > rho, d - 0.5 * rho, (0.5 / rho) * xp.square(d))

    def fast(p: Array, y: Array) -> Array:
        return _fast.torch_huber(p, y, rho)

    # torch's smooth_l1_loss takes beta as a concrete float: a dynamic rho (torch.compile) or a
    # 0-d tensor takes the formula
    fast_path = fast if isinstance(rho, float) else None
    return pointwise(
        formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis, extra=(rho,), fast=fast_path
    )


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
    check_flag(from_logits, "from_logits")
    check_flag(compute_full, "compute_full")
    epsilon = check_number(epsilon, "epsilon", low=0.0, array_ok=True)

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

    def fast(p: Array, t: Array) -> Array:
        return _fast.torch_poisson_nll(p, t, from_logits=from_logits, compute_full=compute_full, epsilon=epsilon)

    # torch's poisson_nll_loss takes eps as a concrete float: a dynamic epsilon or a 0-d tensor takes the formula
    use = fast if _fast.poisson_nll_applies(target, compute_full) and isinstance(epsilon, float) else None
    return pointwise(
        formula,
        pred,
        target,
        sample_weight,
        weight=weight,
        batch_axis=batch_axis,
        extra=(epsilon,),
        fast=use,
        label_name="target",
    )


def log_cosh_loss(
    pred: Array, label: Array, sample_weight: Any = None, *, weight: float | None = None, batch_axis: int = 0
) -> Array:
    """``log(cosh(pred - label))``, averaged per example. See :class:`losskit.LogCoshLoss`."""
    return pointwise(
        lambda xp, p, y: log_cosh(xp, p - y), pred, label, sample_weight, weight=weight, batch_axis=batch_axis
    )


def quantile_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    quantile: float = 0.5,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Pinball loss ``max(q (y - p), (q - 1)(y - p))``, averaged per example. See :class:`losskit.QuantileLoss`."""
    q = check_number(quantile, "quantile", low=0.0, high=1.0, array_ok=True)

    def formula(xp: Any, p: Array, y: Array) -> Array:
        d = y - p
        # max(q d, (q - 1) d) = q relu(d) + (1 - q) relu(-d)  (d = label - pred)
        return q * relu(xp, d) + (1 - q) * relu(xp, -d)

    return pointwise(formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis, extra=(q,))


def check_var_shape(var_shape: tuple[int, ...], pred_shape: tuple[int, ...]) -> None:
    """torch's rule where it is unambiguous: ``var`` has ``pred``'s shape, or ``pred``'s shape with
    exactly one axis of size 1 (the homoscedastic case, e.g. ``(N, 1)`` for ``(N, D)``)."""
    if var_shape == pred_shape:
        return
    if len(var_shape) == len(pred_shape):
        differ = [i for i, (v, p) in enumerate(zip(var_shape, pred_shape)) if v != p]
        if len(differ) == 1 and var_shape[differ[0]] == 1:
            return
    hint = ""
    if var_shape == pred_shape[:-1] and pred_shape:
        hint = f"; for one variance per row use shape {pred_shape[:-1] + (1,)}"
    raise ValueError(
        f"var shape {var_shape} does not fit pred shape {pred_shape}: it must equal it, or differ in "
        f"exactly one axis where var has size 1{hint}"
    )


def gaussian_nll_loss(
    pred: Array,
    label: Array,
    var: Array,
    sample_weight: Any = None,
    *,
    full: bool = False,
    eps: float = 1e-6,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """Gaussian negative log-likelihood of ``label`` with mean ``pred`` and variance ``var``. See
    :class:`losskit.GaussianNLLLoss`."""
    check_flag(full, "full")
    eps = check_number(eps, "eps", low=0.0, low_open=True)
    if isinstance(var, bool) or not (is_real(var) or hasattr(var, "shape")):
        raise TypeError(f"var must be an array or a number, got {var!r}")
    xp = namespace(pred, label, var, sample_weight, names=("pred", "label"))
    mean = float_input(xp, pred, "pred")
    target = like(xp, label, mean, "label")
    if is_real(var):
        var = xp.zeros_like(mean) + var  # one variance for every element, as torch allows (no full_like:
        # it fixes a symbolic var's value in a compiled graph)
    v = xp.astype(float_input(xp, var, "var"), mean.dtype, copy=False)
    check_var_shape(tuple(var.shape), tuple(pred.shape))
    axis = check_batch_axis(batch_axis, pred.ndim)
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, tuple(pred.shape))
    # One reduction, read once, serves both value checks: a negative variance is an error, and
    # the floor at eps is the identity, gradient included, where every variance is at least eps,
    # so it is skipped then. A NaN hides in the minimum: then the floor is applied and negatives
    # are looked for elementwise. Not read (traced, or value checks off): always the floor.
    lowest = None if size(v.shape) == 0 else read_value(xp.min(stop_gradient(v)))
    if lowest is not None and not lowest >= 0 and (lowest < 0 or bool(xp.any(v < 0))):
        down_to = f" (down to {lowest:g})" if lowest < 0 else ""
        raise ValueError(f"var holds negative values{down_to}; variances must be non-negative")
    if lowest is None or not lowest >= eps:
        # clamped at eps as torch does, but not as torch differentiates it: torch clamps a copy
        # under no_grad, so its gradient passes through the clamp; here the variance below eps
        # gets none, the loss being constant in it there (a documented deviation, see README)
        v = clamp_min(xp, v, eps)
    diff = mean - target
    # diff * diff: torch differentiates square via pow, slower. Not diff (diff / v) nor (diff /
    # sqrt(v))^2, which keep float32 differences past 1.8e19 (diff^2 overflows): 1.2-1.3x the time
    # of torch's gaussian_nll_loss (the CPU, 256 x 4096), for inputs no model gives
    loss = 0.5 * (xp.log(v) + diff * diff / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return finish(xp, loss, out_dtype=pred.dtype, weight=weight, sample_weight=sample_weight, batch_axis=axis)


def squared_log_error_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    epsilon: float = 1e-7,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``(log1p(max(pred, eps)) - log1p(max(label, eps)))**2``, averaged per example (Keras's MSLE).
    See :class:`losskit.SquaredLogErrorLoss`."""
    eps = check_number(epsilon, "epsilon", low=0.0)

    def formula(xp: Any, p: Array, y: Array) -> Array:
        # log(max(x, eps) + 1) as log1p: exact for small x, where log(1 + x) loses digits;
        # clamp_min: derivative 0 below eps (a constant there, as Keras's maximum), 1 above
        return xp.square(xp.log1p(clamp_min(xp, p, eps)) - xp.log1p(clamp_min(xp, y, eps)))

    return pointwise(formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis)


def absolute_percentage_error_loss(
    pred: Array,
    label: Array,
    sample_weight: Any = None,
    *,
    epsilon: float = 1e-7,
    weight: float | None = None,
    batch_axis: int = 0,
) -> Array:
    """``100 |label - pred| / max(|label|, eps)``, averaged per example (Keras's MAPE). See
    :class:`losskit.AbsolutePercentageErrorLoss`."""
    eps = check_number(epsilon, "epsilon", low=0.0, low_open=True)

    def formula(xp: Any, p: Array, y: Array) -> Array:
        # abs_: derivative sign(x), 0 at a perfect prediction (and at a label of 0, clamped anyway)
        return 100 * (abs_(xp, y - p) / clamp_min(xp, abs_(xp, y), eps))  # the ratio first: 100 |y - p| may overflow

    return pointwise(formula, pred, label, sample_weight, weight=weight, batch_axis=batch_axis)


__all__ = [
    "l2_loss",
    "l1_loss",
    "huber_loss",
    "poisson_nll_loss",
    "log_cosh_loss",
    "quantile_loss",
    "gaussian_nll_loss",
    "squared_log_error_loss",
    "absolute_percentage_error_loss",
]
