"""The registry of losses: the CLI, the plots and the gallery read it instead of a hand-kept list.

A loss class joins with the :func:`register` decorator, which records its family, its Gluon
aliases, and how to draw it (``curve``): ``"regression"`` losses are drawn against the
prediction with the label fixed at 0, ``"binary"`` losses with the label fixed at 1.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

FAMILIES = ("regression", "classification", "metric", "sequence", "segmentation")
_BASE_PARAMS = {"self", "weight", "batch_axis", "kwargs"}


@dataclass(frozen=True)
class LossInfo:
    """What the registry knows of one loss."""

    name: str
    cls: type
    family: str
    aliases: tuple[str, ...] = ()
    curve: str | None = None

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.cls) or ""
        return doc.strip().split("\n\n")[0].replace("\n", " ")

    @property
    def params(self) -> dict[str, Any]:
        """The loss's own constructor parameters and their defaults (not ``weight``/``batch_axis``)."""
        sig = inspect.signature(self.cls)
        return {
            p.name: p.default
            for p in sig.parameters.values()
            if p.name not in _BASE_PARAMS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }


_REGISTRY: dict[str, LossInfo] = {}
_LOOKUP: dict[str, str] = {}
T = TypeVar("T", bound=type)


def register(family: str, *, aliases: tuple[str, ...] = (), curve: str | None = None) -> Callable[[T], T]:
    """Class decorator that adds a loss to the registry under its class name and ``aliases``."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if curve not in (None, "regression", "binary"):
        raise ValueError(f"curve must be None, 'regression' or 'binary', got {curve!r}")

    def decorate(cls: T) -> T:
        info = LossInfo(cls.__name__, cls, family, tuple(aliases), curve)
        for key in (cls.__name__, *aliases):
            if key.lower() in _LOOKUP and _LOOKUP[key.lower()] != cls.__name__:
                raise ValueError(f"loss name {key!r} is already registered")
            _LOOKUP[key.lower()] = cls.__name__
        _REGISTRY[cls.__name__] = info
        return cls

    return decorate


def list_losses(family: str | None = None) -> list[str]:
    """Names of all registered losses (optionally of one family), family by family."""
    infos = sorted(_REGISTRY.values(), key=lambda info: FAMILIES.index(info.family))  # stable
    return [info.name for info in infos if family is None or info.family == family]


def loss_info(name: str) -> LossInfo:
    """The :class:`LossInfo` of a loss, by class name or alias, case-insensitively."""
    if not isinstance(name, str):
        raise TypeError(f"a loss name must be a string, got {name!r}")
    key = _LOOKUP.get(name.lower())
    if key is None:
        raise ValueError(f"unknown loss {name!r}; {_hint(name)}valid names: {', '.join(list_losses())}")
    return _REGISTRY[key]


def _hint(name: str) -> str:
    """ "did you mean ...? " for a mistyped loss name: the losses whose names contain it (up to
    three: focal -> SigmoidFocalLoss or SoftmaxFocalLoss), else the nearest name, or the nearest
    without its "Loss" (L2 -> L2Loss, huber -> HuberLoss); "" when nothing is near."""
    typed = name.lower()
    spelled = {n.lower(): n for info in _REGISTRY.values() for n in (info.name, *info.aliases)}
    containing = sorted({_REGISTRY[_LOOKUP[key]].name for key in spelled if len(typed) >= 3 and typed in key})
    if 0 < len(containing) <= 3:
        return f"did you mean {' or '.join(containing)}? "
    stems = {key.removesuffix("loss"): key for key in spelled}
    close = difflib.get_close_matches(typed, spelled, n=1)
    stem = difflib.get_close_matches(typed, stems, n=1)
    nearest = close[0] if close else stems[stem[0]] if stem else None
    return f"did you mean {spelled[nearest]}? " if nearest else ""


def get_loss(name: str, **params: Any) -> Any:
    """An instance of the loss ``name`` (class name or alias, any case) built with ``params``.

    >>> import losskit
    >>> losskit.get_loss("huberloss", rho=2.0)
    HuberLoss(batch_axis=0, w=None, rho=2.0)
    """
    info = loss_info(name)
    allowed = set(info.params) | {"weight", "batch_axis"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise TypeError(  # as the constructor would: an unexpected keyword argument
            f"{info.name} has no parameter {', '.join(map(repr, unknown))}; "
            f"valid parameters: {', '.join(sorted(allowed))}"
        )
    return info.cls(**params)
