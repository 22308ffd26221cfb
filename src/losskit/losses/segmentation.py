"""Segmentation losses: overlap indices of predicted and target masks."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._core import check_axis_option, check_flag
from ..functional.segmentation import check_tversky
from ..registry import register
from .base import Loss


@register("segmentation")
class TverskyLoss(Loss):
    r"""Tversky loss (Salehi et al., 2017): one minus the Tversky index, averaged over classes.

    With :math:`p` the predicted probabilities and :math:`t` the target mask of class
    :math:`c`, summed over the spatial axes (every axis but the batch and class axes):
    :math:`I_c = \sum p t`, :math:`FP_c = \sum p - I_c`, :math:`FN_c = \sum t - I_c`, and

    .. math::
        \ell = 1 - \frac{1}{C} \sum_c \frac{I_c + s}{I_c + \alpha FP_c + \beta FN_c + s}

    per example: ``optax.losses.dice_loss`` with ``alpha``, ``beta`` (channels along ``axis``).
    ``alpha = beta = 1/2`` is :class:`DiceLoss`; ``beta > alpha`` weighs missed pixels more.

    ``from_logits=True`` (default): ``pred`` holds logits, turned into probabilities by a softmax
    over the class axis, or a sigmoid when there is a single class (a binary mask).
    ``from_logits=False``: ``pred`` holds probabilities.

    Shape:
        - pred: ``(N, C, d1, ...)``, classes along ``axis`` (1; ``-1`` for channels-last).
        - label: target masks (one-hot or soft) of ``pred``'s shape; for a single class also
          without the class axis, ``(N, d1, ...)``.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``.

    Stability: probabilities as ``exp(log_softmax)`` (no overflow); the denominator is at
    least ``smooth``; with ``smooth=0`` two empty masks would be 0/0: their index is taken as
    1 (perfect agreement) with no gradient. ``alpha``, ``beta``, ``smooth`` must be non-negative.

    >>> import numpy as np, losskit
    >>> probs = np.full((1, 2, 2), 0.5)  # (N, C, W): half of each class everywhere
    >>> mask = np.array([[[1.0, 1.0], [0.0, 0.0]]])  # all of class 0
    >>> losskit.TverskyLoss(alpha=0.7, beta=0.3, smooth=0.0, from_logits=False)(probs, mask).round(6)
    array([0.615385])
    """

    _function = staticmethod(F.tversky_loss)

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        smooth: float = 1.0,
        from_logits: bool = True,
        axis: int = 1,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        self._alpha, self._beta, self._smooth = check_tversky(alpha, beta, smooth)
        self._from_logits = check_flag(from_logits, "from_logits")
        self._axis = check_axis_option(axis)


@register("segmentation")
class DiceLoss(Loss):
    r"""Soft Dice loss (Milletari et al., 2016): one minus the Dice coefficient, averaged over classes.

    With :math:`I_c = \sum p t`, :math:`P_c = \sum p`, :math:`T_c = \sum t` over the spatial axes:

    .. math::
        \ell = 1 - \frac{1}{C} \sum_c \frac{I_c + s}{\tfrac12 (P_c + T_c) + s}
             = 1 - \frac{1}{C} \sum_c \frac{2 I_c + 2 s}{P_c + T_c + 2 s}

    per example: :class:`TverskyLoss` with ``alpha = beta = 1/2``, and ``optax.losses.dice_loss``.
    Note where ``smooth`` enters: :math:`2s`, not the :math:`s` of ``(2I + s) / (P + T + s)``.
    ``from_logits`` as in :class:`TverskyLoss` (softmax over classes; sigmoid for one class).

    Shape:
        - pred: ``(N, C, d1, ...)``, classes along ``axis`` (1; ``-1`` for channels-last).
        - label: target masks (one-hot or soft) of ``pred``'s shape; for a single class also
          without the class axis, ``(N, d1, ...)``.
        - sample_weight: ``(N,)``.
        - output: ``(N,)``.

    Stability: as :class:`TverskyLoss`: ``exp(log_softmax)`` probabilities, denominator at least
    ``smooth``, empty masks with ``smooth=0`` scored as agreeing.

    >>> import numpy as np, losskit
    >>> probs = np.full((1, 2, 2), 0.5)
    >>> mask = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # each class on one pixel
    >>> losskit.DiceLoss(from_logits=False)(probs, mask)  # 1 - (0.5 + 1) / (1 + 1)
    array([0.25])
    >>> losskit.DiceLoss(from_logits=False)(mask, mask)
    array([0.])
    """

    _function = staticmethod(F.dice_loss)

    def __init__(
        self,
        smooth: float = 1.0,
        from_logits: bool = True,
        axis: int = 1,
        weight: float | None = None,
        batch_axis: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        _, _, self._smooth = check_tversky(0.5, 0.5, smooth)
        self._from_logits = check_flag(from_logits, "from_logits")
        self._axis = check_axis_option(axis)


__all__ = ["DiceLoss", "TverskyLoss"]
