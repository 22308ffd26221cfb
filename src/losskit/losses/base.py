"""The base class of every loss: owns ``weight`` and ``batch_axis`` as Gluon's ``Loss`` does."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from .._array import Array, namespace
from .._compile import register_with_dynamo
from .._core import check_axis_option, check_number, check_sample_weight, check_weight, reshape_to

_GLUON_BLOCK_KWARGS = {"prefix", "params"}
_BASE_PARAMS = ("self", "weight", "batch_axis", "kwargs")


def _own_params(cls: type) -> tuple[str, ...]:
    """The names of a loss class's own constructor parameters (not ``weight``, ``batch_axis``)."""
    return tuple(name for name in inspect.signature(cls).parameters if name not in _BASE_PARAMS)


class Loss:
    """Base class for losses, with Gluon's constructor ``Loss(weight, batch_axis)``.

    ``weight`` (a number or None) scales the loss; ``batch_axis`` names the axis kept in the
    result: every other axis is averaged out, giving one value per example. Each built-in loss
    computes through its function in :mod:`losskit.functional`, as below. Gluon's block
    keywords ``prefix`` and ``params`` are accepted and ignored, so that ported code runs
    unchanged; ``hybridize()`` is a no-op for the same reason.

    A subclass usually names that function in ``_function`` and stores each of its own
    constructor parameters as ``self._<name>``: the inherited computation, :meth:`_compute`, then
    calls ``_function(pred, label, sample_weight, **self._options())``, every stored parameter
    passed by its name along with ``weight`` and ``batch_axis``. A built-in loss with other
    inputs overrides :meth:`_compute` and passes ``**self._options()`` itself; a loss of your own
    overrides :meth:`forward` (or Gluon's ``hybrid_forward``).

    Custom losses written Gluon's way, ``hybrid_forward(self, F, pred, label, ...)``, are called
    so, with ``F`` the array-API namespace of the inputs (``F.square``, ``F.log``,
    ``F.mean(x, axis=...)``; MXNet-only operators and keywords such as ``exclude=True`` are not
    there), and ``super().hybrid_forward(F, ...)`` in a subclass of a losskit loss is that
    loss's own computation:

    >>> import numpy as np, losskit
    >>> class ScaledL1(losskit.L1Loss):
    ...     def hybrid_forward(self, F, pred, label, sample_weight=None):
    ...         return 10 * super().hybrid_forward(F, pred, label, sample_weight)
    >>> ScaledL1()(np.array([[1.0, 3.0]]), np.array([[0.0, 0.0]]))
    array([20.])
    """

    #: The function of :mod:`losskit.functional` that the loss computes, as a ``staticmethod``.
    _function: ClassVar[Callable[..., Array] | None] = None
    #: The constructor parameters :meth:`_options` passes to it: the own parameters of the
    #: class that sets ``_function`` (a subclass of it adding parameters does not change them).
    _option_names: ClassVar[tuple[str, ...]] = ()
    #: Other libraries' constructor keywords the class does not take, each with its losskit form
    #: (said in the ``TypeError`` for it).
    _ported_options: ClassVar[dict[str, str]] = {}
    #: Whether the class (or a mixin) defines Gluon's ``hybrid_forward``, which ``forward`` then calls.
    _gluon_style: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_function" in cls.__dict__:
            cls._option_names = _own_params(cls)
        # written Gluon's way (here or in a mixin): forward calls hybrid_forward, as HybridBlock's
        cls._gluon_style = cls.hybrid_forward is not Loss.hybrid_forward
        public = cls.__module__.startswith("losskit.") and not cls.__name__.startswith("_")
        if public and cls.__doc__ and "Call:" not in cls.__doc__:
            # help() shows __call__(*args, **kwargs), so the docstring ends with the call's arguments,
            # indented as its own lines are (Python 3.13 strips their indentation at compile time)
            body = [line for line in cls.__doc__.splitlines()[1:] if line.strip()]
            indent = min((len(line) - len(line.lstrip()) for line in body), default=0)
            cls.__doc__ = cls.__doc__.rstrip() + f"\n\n{' ' * indent}Call: ``loss({_call_signature(cls)})``.\n"

    def __init__(self, weight: float | None, batch_axis: int, **kwargs: Any) -> None:
        check_weight(weight)
        check_axis_option(batch_axis, "batch_axis")  # an int, not a bool (True would be axis 1)
        unknown = sorted(set(kwargs) - _GLUON_BLOCK_KWARGS)
        if unknown:
            accepted = inspect.signature(type(self)).parameters  # weight and batch_axis where the class takes them
            options = ", ".join(name for name, q in accepted.items() if q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD))
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword arguments: {', '.join(unknown)}; its options: {options}"
                + "".join(self._port_hint(name) for name in unknown)
            )
        self._weight = weight
        self._batch_axis = int(batch_axis)
        register_with_dynamo()  # before a compiled function first calls this loss, if Dynamo is loaded

    @classmethod
    def _port_hint(cls, name: str) -> str:
        """Where a keyword that another library's constructor takes goes in losskit, if known."""
        if name in cls._ported_options:
            return f". {cls._ported_options[name]}"
        if any(p.name == name for p in call_parameters(cls)):
            return f". {name} is an argument of the call: loss({_call_signature(cls)})"
        if name in ("size_average", "reduce") and "reduction" in inspect.signature(cls).parameters:
            return f". {name} is torch's deprecated form of reduction= ('none', 'mean' or 'sum')"
        if name in ("reduction", "size_average", "reduce"):
            return f". {name}: the loss is one value per example, as Gluon's: take its .mean() or .sum()"
        return ""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        register_with_dynamo()  # run, not traced, inside torch.compile: its first graph has the function as one node
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Array:
        """The loss of the inputs: ``hybrid_forward(F, ...)`` for a loss written Gluon's way (``F``
        the namespace of its array arguments), else the loss's own computation."""
        if self._gluon_style:
            arrays = [a for a in (*args, *kwargs.values()) if hasattr(a, "shape")]  # not flags, strings
            return self.hybrid_forward(namespace(*arrays), *args, **kwargs)
        try:
            return self._compute(*args, **kwargs)
        except TypeError:
            self._check_call(args, kwargs)  # on the error's path only: arguments that do not fit the call
            raise

    def _check_call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """``TypeError`` naming this loss and its call's arguments where ``args`` and ``kwargs`` do
        not fit them (Python's own names ``Loss._compute()``, a method the user never called)."""
        signature = inspect.signature(self._compute)
        try:
            signature.bind(*args, **kwargs)
        except TypeError as error:
            name = type(self).__name__
            raise TypeError(
                f"{name}()(...): {error}; its call takes {name}()({', '.join(signature.parameters)})"
            ) from None

    def hybrid_forward(self, F: Any, *args: Any, **kwargs: Any) -> Array:
        """Gluon's entry point; ``super().hybrid_forward(F, ...)`` in a subclass is the built-in
        loss's own computation (``F``, the namespace, is not needed)."""
        return self._compute(*args, **kwargs)

    def _compute(self, pred: Array, label: Array, sample_weight: Any = None) -> Array:
        """The built-in computation: ``_function`` with the stored options (a built-in loss with
        other inputs overrides this)."""
        if self._function is None:
            raise NotImplementedError(
                f"{type(self).__name__} computes nothing: a Loss subclass overrides forward(pred, label, ...) "
                "or Gluon's hybrid_forward(F, pred, label, ...), or names its function in _function"
            )
        return self._function(pred, label, sample_weight, **self._options())

    def _options(self) -> dict[str, Any]:
        """The keyword arguments of ``_function``: the stored options, ``weight`` and ``batch_axis``."""
        options = {name: getattr(self, "_" + name) for name in self._option_names}
        return {**options, "weight": self._weight, "batch_axis": self._batch_axis}

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        """No-op, kept so that Gluon code calling ``loss.hybridize()`` runs unchanged."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        """No-op: a loss has no parameters to initialize (Gluon's ``Block.initialize``)."""

    def collect_params(self, *args: Any, **kwargs: Any) -> _NoParameters:
        """No parameters: an empty dict whose Gluon ``ParameterDict`` methods (``initialize``,
        ``reset_ctx``, ``setattr``, ``zero_grad``) do nothing (Gluon's ``Block.collect_params``)."""
        return _NoParameters()

    def cast(self, dtype: Any) -> None:
        """No-op: a loss has no parameters to cast; it computes in its inputs' dtype (Gluon's ``Block.cast``)."""

    def as_module(self) -> Any:
        """This loss as a ``torch.nn.Module``, whose buffers are the options given as tensors.

        A loss is a plain object: ``model.to(device)`` and ``state_dict()`` do not see a tensor
        ``class_weight`` held by a loss that is an attribute of a model. The module does, under
        the option's name, as they see ``torch.nn.CrossEntropyLoss``'s ``weight``; it is called
        as the loss is. The loss itself is left as it is. An option given as a
        ``torch.nn.Parameter`` is a parameter of the module, learnt through it (see
        :class:`~losskit.losses._torch_module.LossModule`). Needs ``pip install 'losskit[torch]'``.

        >>> import torch, losskit
        >>> criterion = losskit.SoftmaxCELoss(class_weight=torch.tensor([1.0, 3.0])).as_module()
        >>> criterion = criterion.double()  # as model.to(...) would: the buffer follows
        >>> list(criterion.state_dict()), criterion.class_weight.dtype
        (['class_weight'], torch.float64)
        >>> criterion(torch.zeros(2, 2, dtype=torch.float64), torch.tensor([0, 1]))
        tensor([0.6931, 2.0794], dtype=torch.float64)
        """
        try:
            from ._torch_module import LossModule
        except ModuleNotFoundError as exc:
            if exc.name != "torch":
                raise
            raise ImportError("Loss.as_module() needs torch: pip install 'losskit[torch]'") from exc
        return LossModule(self)

    def _stored_options(self) -> dict[str, Any]:
        """The loss's own constructor parameters as stored (each as ``self._<name>``), by name."""
        return {name: getattr(self, "_" + name) for name in _own_params(type(self)) if hasattr(self, "_" + name)}

    def __repr__(self) -> str:
        # Gluon's form, then the loss's own parameters
        extra = "".join(f", {name}={value!r}" for name, value in self._stored_options().items())
        return f"{type(self).__name__}(batch_axis={self._batch_axis}, w={self._weight}{extra})"


class _NoParameters(dict):
    """The parameters of a loss: none. A script may still call these on Gluon's ParameterDict."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        pass

    def reset_ctx(self, *args: Any, **kwargs: Any) -> None:
        pass

    def setattr(self, *args: Any, **kwargs: Any) -> None:
        pass

    def zero_grad(self) -> None:
        pass


class _MarginLoss(Loss):
    """Shared constructor of the losses with a ``margin`` (hinge and triplet losses): any real number, as in Gluon."""

    def __init__(self, margin: float = 1, weight: float | None = None, batch_axis: int = 0, **kwargs: Any) -> None:
        super().__init__(weight, batch_axis, **kwargs)
        check_number(margin, "margin", array_ok=True)  # any real, as Gluon
        self._margin = margin  # as given: the repr and plot labels show it so


def _call_signature(cls: type[Loss]) -> str:
    return ", ".join(str(p.replace(annotation=inspect.Parameter.empty)) for p in call_parameters(cls))


def call_parameters(cls: type[Loss]) -> list[inspect.Parameter]:
    """The parameters of a loss's call ``loss(...)``: its own ``forward``'s if it overrides it,
    else its ``hybrid_forward``'s after ``F``, else its computation's."""
    if cls.forward is not Loss.forward:
        return list(inspect.signature(cls.forward).parameters.values())[1:]
    if cls._gluon_style:
        return list(inspect.signature(cls.hybrid_forward).parameters.values())[2:]
    return list(inspect.signature(cls._compute).parameters.values())[1:]


# Gluon's private helpers, which custom losses written for Gluon import from ``mxnet.gluon.loss``


def _apply_weighting(F: Any, loss: Array, weight: float | None = None, sample_weight: Any = None) -> Array:
    """Gluon's ``_apply_weighting``: ``loss * sample_weight * weight``, for ported custom losses.

    ``F``, the namespace a ``hybrid_forward`` receives, is taken for Gluon's signature; the arrays'
    own namespace is used (the raw ``torch`` module is not an array-API one). ``sample_weight``
    must broadcast to ``loss`` with as many axes (or be one weight: a number, or an array of one
    element such as ``nd.array([w])``), as for every built-in loss:
    Gluon's broadcast aligned a ``(C,)`` per-class weight with the last axis of a ``(N, C)`` loss;
    here it is refused, with a hint to write ``(1, C)`` (and a ``(N,)`` one, ``(N, 1)``).

    >>> import numpy as np, losskit
    >>> losskit._apply_weighting(np, np.array([[1.0, 2.0]]), 3.0, np.array([[1.0]]))
    array([[3., 6.]])
    """
    xp = namespace(loss, sample_weight)
    check_weight(weight)
    sample_weight = check_sample_weight(xp, sample_weight, tuple(loss.shape))
    if sample_weight is not None:
        loss = loss * sample_weight
    return loss if weight is None else loss * weight


def _reshape_like(F: Any, x: Array, y: Array) -> Array:
    """Gluon's ``_reshape_like``: ``x`` reshaped to ``y``'s shape (the same number of elements; a
    transposed ``x``, as many axes of size above 1 in another order, is refused: a reshape would
    scramble it).

    >>> import numpy as np, losskit
    >>> losskit._reshape_like(np, np.arange(4.0), np.zeros((2, 2))).shape
    (2, 2)
    """
    return reshape_to(namespace(x), x, tuple(y.shape), "x", "y")  # F: as _apply_weighting's
