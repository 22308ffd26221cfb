"""The base class of every loss: owns ``weight`` and ``batch_axis`` as Gluon's ``Loss`` does."""

from __future__ import annotations

import inspect
import numbers
from typing import Any

from .._core import check_weight

_GLUON_BLOCK_KWARGS = {"prefix", "params"}


class Loss:
    """Base class for losses, with Gluon's constructor ``Loss(weight, batch_axis)``.

    ``weight`` (a number or None) scales the loss; ``batch_axis`` names the axis kept in the
    result: every other axis is averaged out, giving one value per example. Subclasses
    implement :meth:`forward` by calling their function in :mod:`losskit.functional`.
    Gluon's block keywords ``prefix`` and ``params`` are accepted and ignored, so that ported
    code runs unchanged; ``hybridize()`` is a no-op for the same reason.
    """

    def __init__(self, weight: float | None, batch_axis: int, **kwargs: Any) -> None:
        check_weight(weight)
        if not isinstance(batch_axis, numbers.Integral):
            raise TypeError(f"batch_axis must be an int, got {batch_axis!r}")
        unknown = sorted(set(kwargs) - _GLUON_BLOCK_KWARGS)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword arguments: {', '.join(unknown)}")
        self._weight = weight
        self._batch_axis = int(batch_axis)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        """No-op, kept so that Gluon code calling ``loss.hybridize()`` runs unchanged."""

    def __repr__(self) -> str:
        # Gluon's form, then the loss's own parameters, each stored as ``self._<name>``
        own = inspect.signature(type(self).__init__).parameters
        extra = "".join(
            f", {name}={getattr(self, '_' + name)!r}"
            for name in own
            if name not in ("self", "weight", "batch_axis", "kwargs") and hasattr(self, "_" + name)
        )
        return f"{type(self).__name__}(batch_axis={self._batch_axis}, w={self._weight}{extra})"
