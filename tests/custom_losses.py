"""A loss defined outside losskit, as a user would write one: the plot and gallery tests register
it (under a monkeypatched registry) to check that new losses are drawn without special cases."""

from __future__ import annotations

from typing import Any

import array_api_compat

from losskit.losses.base import Loss


class Pinball(Loss):
    r"""Quantile (pinball) loss.

    .. math:: \ell = \max(q d, (q - 1) d), \quad d = \text{label} - \text{pred}
    """

    def __init__(self, quantile: float = 0.5, weight: float | None = None, batch_axis: int = 0) -> None:
        super().__init__(weight, batch_axis)
        self._quantile = quantile

    def forward(self, pred: Any, label: Any, sample_weight: Any = None) -> Any:
        xp = array_api_compat.array_namespace(pred)
        d = label - pred
        return xp.maximum(self._quantile * d, (self._quantile - 1) * d)
