"""Regression losses (Gluon names and semantics)."""

from __future__ import annotations

from typing import Any, ClassVar

from .. import functional as F
from .._array import Array
from .._core import check_flag, check_number
from ..registry import register
from .base import Loss


@register("regression", curve="regression")
class L2Loss(Loss):
    r"""Half the squared error between ``label`` and ``pred``, averaged per example.

    .. math:: L = \frac{w}{2} \operatorname{mean}_{i \ne \text{batch}} (\text{label}_i - \text{pred}_i)^2

    Unlike the other Gluon losses, ``weight`` defaults to 1 and is halved.

    Shape:
        - pred: any shape, with the batch along ``batch_axis``.
        - label: same number of elements as ``pred`` (reshaped to its shape).
        - sample_weight: broadcastable to ``pred`` with as many axes, e.g. ``(N, 1)``.
        - output: ``(N,)``, the mean over every axis but ``batch_axis``.

    Stability: a polynomial; float16/bfloat16 inputs are computed in float32.

    >>> import numpy as np, losskit
    >>> x, y = np.ones(2), 2 * np.ones(2)
    >>> losskit.L2Loss()(x, y)
    array([0.5, 0.5])
    >>> losskit.L2Loss()(x, y, np.array([1.0, 2.0]))
    array([0.5, 1. ])
    """

    _function = staticmethod(F.l2_loss)

    def __init__(self, weight: float | None = 1.0, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)


@register("regression", curve="regression")
class L1Loss(Loss):
    r"""Absolute error between ``label`` and ``pred``, averaged per example.

    .. math:: L = w \operatorname{mean}_{i \ne \text{batch}} |\text{label}_i - \text{pred}_i|

    Shape:
        - pred: any shape, with the batch along ``batch_axis``.
        - label: same number of elements as ``pred``.
        - sample_weight: broadcastable to ``pred`` with as many axes.
        - output: ``(N,)``.

    Stability: exact; the gradient at ``pred == label`` is 0 on every backend (as torch's and
    MXNet's ``abs``; JAX's own would give 1).

    >>> import numpy as np, losskit
    >>> losskit.L1Loss()(np.array([[1.0, -1.0], [0.5, 0.5]]), np.zeros((2, 2)))
    array([1. , 0.5])
    """

    _function = staticmethod(F.l1_loss)

    def __init__(self, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)


@register("regression", curve="regression")
class HuberLoss(Loss):
    r"""Smoothed L1 loss: quadratic within ``rho`` of the label, linear beyond.

    .. math::
        \ell_i = \begin{cases} \frac{1}{2\rho} d_i^2 & d_i \le \rho \\
                               d_i - \frac{\rho}{2} & d_i > \rho \end{cases},
        \quad d_i = |\text{label}_i - \text{pred}_i|

    Note ``1/(2 rho) d^2``: this is ``torch.nn.functional.smooth_l1_loss(beta=rho)``, which is
    ``huber_loss(delta=rho) / rho``.

    Shape:
        - pred, label: any shape, the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: continuous with a continuous gradient at ``d = rho``. ``rho`` must be positive.

    >>> import numpy as np, losskit
    >>> losskit.HuberLoss(rho=1)(np.array([[0.5, 3.0]]), np.zeros((1, 2)))
    array([1.3125])
    """

    _function = staticmethod(F.huber_loss)

    _ported_options: ClassVar[dict[str, str]] = {
        "delta": "torch's, Keras's and optax's Huber loss with delta=d is HuberLoss(rho=d, weight=d)",
        "beta": "torch's SmoothL1Loss(beta=b) is HuberLoss(rho=b)",
    }

    def __init__(self, rho: float = 1, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_number(rho, "rho", low=0.0, low_open=True, array_ok=True)
        self._rho = rho


@register("regression")
class PoissonNLLLoss(Loss):
    r"""Negative log-likelihood of ``target`` counts under a Poisson rate predicted by ``pred``.

    .. math::
        \ell_i = \begin{cases} e^{p_i} - t_i p_i & \text{from\_logits (p is the log-rate)} \\
                               p_i - t_i \log(p_i + \epsilon) & \text{otherwise} \end{cases}
        \;+\; [t_i > 1]\,\bigl(t_i \log t_i - t_i + \tfrac12 \log(2\pi t_i)\bigr)_{\text{compute\_full}}

    Returns one value per example, as MXNet 2.x (MXNet 1.9.1 returned the scalar mean over
    everything, which equals the mean of this result).

    Shape:
        - pred, target: any shape, the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: the Stirling term is evaluated only where ``target > 1`` (``log 0`` never enters
    the graph, so targets of 0 give finite values and gradients, where MXNet 1.9.1 gave NaN).

    >>> import numpy as np, losskit
    >>> losskit.PoissonNLLLoss()(np.zeros((1, 2)), np.array([[1.0, 2.0]]))
    array([1.])
    """

    _function = staticmethod(F.poisson_nll_loss)

    def __init__(
        self,
        weight: float | None = None,
        from_logits: bool = True,
        batch_axis: int = 0,
        compute_full: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._from_logits = check_flag(from_logits, "from_logits")
        self._compute_full = check_flag(compute_full, "compute_full")

    def _compute(self, pred: Array, target: Array, sample_weight: Any = None, epsilon: float = 1e-08) -> Array:
        return self._function(pred, target, sample_weight, epsilon, **self._options())


@register("regression", curve="regression")
class LogCoshLoss(Loss):
    r"""Log of the hyperbolic cosine of the error, averaged per example.

    .. math:: \ell_i = \log\cosh(\text{pred}_i - \text{label}_i)

    About :math:`d^2/2` for small errors and :math:`|d| - \log 2` for large ones: a smooth Huber
    loss, twice differentiable (``optax.log_cosh``).

    Shape:
        - pred, label: any shape, the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: ``|d| + softplus(-2|d|) - log 2`` for ``|d| > 1``, so ``cosh`` never overflows
    (errors of 1e4 in float32 are fine); ``log1p(2 sinh(d/2)^2)`` for ``|d| <= 1``, which keeps full
    relative precision near 0, where ``log(e^d + e^-d) - log 2`` cancels. The gradient is ``tanh(d)``.

    >>> import numpy as np, losskit
    >>> pred = np.array([[1.0, -1.0], [0.0, 100.0]])
    >>> losskit.LogCoshLoss()(pred, np.zeros((2, 2)))  # log cosh 1; (0 + 100 - log 2) / 2
    array([ 0.43378083, 49.65342641])
    """

    _function = staticmethod(F.log_cosh_loss)

    def __init__(self, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)


@register("regression", curve="regression")
class QuantileLoss(Loss):
    r"""Quantile (pinball) loss: its minimiser is the ``quantile`` of the label's distribution.

    .. math::
        \ell_i = \max\bigl(q\, d_i,\ (q - 1)\, d_i\bigr), \qquad d_i = \text{label}_i - \text{pred}_i

    ``quantile=0.5`` is half the absolute error (the median). ``quantile`` may be a 0-d array
    (not checked): ``jax.vmap`` over it fits several quantiles at once.

    Shape:
        - pred, label: any shape, the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: piecewise linear; ``quantile`` must lie in ``[0, 1]``.

    >>> import numpy as np, losskit
    >>> losskit.QuantileLoss(quantile=0.9)(np.zeros((2, 1)), np.array([[1.0], [-1.0]]))  # under: 0.9, over: 0.1
    array([0.9, 0.1])
    """

    _function = staticmethod(F.quantile_loss)

    def __init__(self, quantile: float = 0.5, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._quantile = check_number(quantile, "quantile", low=0.0, high=1.0, array_ok=True)


@register("regression")
class GaussianNLLLoss(Loss):
    r"""Negative log-likelihood of ``label`` under a Gaussian of mean ``pred`` and variance ``var``.

    .. math::
        \ell_i = \tfrac12 \Bigl(\log v_i + \frac{(\text{pred}_i - \text{label}_i)^2}{v_i}\Bigr)
        \;\bigl[+ \tfrac12 \log 2\pi \text{ if full}\bigr], \qquad v_i = \max(\text{var}_i, \epsilon)

    as ``torch.nn.GaussianNLLLoss``, averaged per example.

    Call: ``loss(pred, label, var, sample_weight=None)``.

    Shape:
        - pred: any shape; label: the same number of elements.
        - var: non-negative, ``pred``'s shape, or ``pred``'s shape with exactly one axis of size 1
          (one variance shared along it, e.g. ``(N, 1)`` for ``(N, D)``), or a number. Other
          shapes (also torch's ``pred.shape[:-1]``, which would align with the wrong axis under
          NumPy broadcasting) raise ``ValueError``.
        - sample_weight: broadcastable to ``pred`` with as many axes.
        - output: ``(N,)``.

    Stability: ``var`` is clamped at ``eps`` (tied to nothing but the user's choice; 1e-6 by
    default) before the log and the division. Below ``eps`` the loss is constant in ``var``
    and its gradient there is 0; PyTorch passes the gradient at the clamped value through
    instead. Values agree everywhere, gradients wherever ``var >= eps``. Negative variances raise
    ``ValueError`` on eager arrays with value checks on (:func:`losskit.set_value_checks`); the
    one ``min(var)`` that check reads also skips the clamp, an identity then, when no variance
    lies below ``eps``.

    >>> import numpy as np, losskit
    >>> losskit.GaussianNLLLoss()(np.zeros((1, 1)), np.ones((1, 1)), np.ones((1, 1)))  # (log 1 + 1) / 2
    array([0.5])
    >>> losskit.GaussianNLLLoss(full=True)(np.zeros((1, 1)), np.ones((1, 1)), np.ones((1, 1)))
    array([1.41893853])
    """

    _function = staticmethod(F.gaussian_nll_loss)

    def __init__(
        self, full: bool = False, eps: float = 1e-6, weight: float | None = None, batch_axis: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._full = check_flag(full, "full")
        self._eps = check_number(eps, "eps", low=0.0, low_open=True)

    def _compute(self, pred: Array, label: Array, var: Array, sample_weight: Any = None) -> Array:
        return self._function(pred, label, var, sample_weight, **self._options())


@register("regression", aliases=("MSLELoss",), curve="regression")
class SquaredLogErrorLoss(Loss):
    r"""Squared error of ``log(1 + x)``, averaged per example: Keras's MSLE (alias ``MSLELoss``).

    .. math::
        \ell_i = \bigl(\log(1 + \max(\text{pred}_i, \epsilon)) - \log(1 + \max(\text{label}_i, \epsilon))\bigr)^2

    ``keras.losses.MeanSquaredLogarithmicError`` (``epsilon``, 1e-7 by default, is Keras's
    ``keras.config.epsilon()``), averaged over every axis but ``batch_axis`` where Keras averages
    over the last one only. Meant for non-negative targets spanning orders of magnitude: it
    penalises the ratio ``(1 + pred) / (1 + label)``, not the difference.

    Shape:
        - pred, label: any shape, the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: ``log1p``, exact for small values where ``log(1 + x)`` rounds. Values below
    ``epsilon`` (negatives included) are clamped to it, as Keras does: the loss is constant
    there and their gradient is 0 (a prediction below ``epsilon`` gets no push back up).
    ``epsilon`` must be non-negative.

    >>> import numpy as np, losskit
    >>> losskit.SquaredLogErrorLoss()(np.array([[1.0, 3.0]]), np.array([[3.0, 1.0]]))  # (log 2 - log 4)**2
    array([0.48045301])
    >>> losskit.MSLELoss()(np.array([[-5.0]]), np.array([[np.e - 1]]))  # (log1p(1e-7) - 1)**2
    array([0.9999998])
    """

    _function = staticmethod(F.squared_log_error_loss)

    def __init__(self, epsilon: float = 1e-7, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._epsilon = check_number(epsilon, "epsilon", low=0.0)


MSLELoss = SquaredLogErrorLoss


@register("regression", aliases=("MAPELoss",))  # drawn at label 1 (plot._percentage_slice), not 0
class AbsolutePercentageErrorLoss(Loss):
    r"""Absolute error in percent of the label, averaged per example: Keras's MAPE (alias ``MAPELoss``).

    .. math:: \ell_i = 100\, \frac{|\text{label}_i - \text{pred}_i|}{\max(|\text{label}_i|, \epsilon)}

    ``keras.losses.MeanAbsolutePercentageError`` (``epsilon``, 1e-7 by default, is Keras's
    ``keras.config.epsilon()``), averaged over every axis but ``batch_axis`` where Keras averages
    over the last one only.

    Shape:
        - pred, label: any shape, the same number of elements; sample_weight broadcastable.
        - output: ``(N,)``.

    Stability: the denominator is at least ``epsilon`` (which must be positive), so a label of
    0 gives a finite loss, but a huge one (``1e9 |pred|`` at the default): MAPE suits labels
    bounded away from 0. The gradient at ``pred == label`` is 0, as :class:`L1Loss`'s.

    >>> import numpy as np, losskit
    >>> losskit.AbsolutePercentageErrorLoss()(np.array([[110.0, 45.0]]), np.array([[100.0, 50.0]]))
    array([10.])
    >>> losskit.MAPELoss()(np.array([[90.0, 0.5]]), np.array([[100.0, 0.0]]))  # (10 + 100 * 0.5 / 1e-7) / 2
    array([2.50000005e+08])
    """

    _function = staticmethod(F.absolute_percentage_error_loss)

    def __init__(self, epsilon: float = 1e-7, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._epsilon = check_number(epsilon, "epsilon", low=0.0, low_open=True)


MAPELoss = AbsolutePercentageErrorLoss


__all__ = [
    "L2Loss",
    "L1Loss",
    "HuberLoss",
    "PoissonNLLLoss",
    "LogCoshLoss",
    "QuantileLoss",
    "GaussianNLLLoss",
    "SquaredLogErrorLoss",
    "MSLELoss",
    "AbsolutePercentageErrorLoss",
    "MAPELoss",
]
