"""What every loss shares: input checks, dtype handling, weighting and the batch-axis reduction.

A loss's public function finds the namespace once, calls the checks here *before* any
arithmetic (so bad input raises without work done and nothing is modified), computes its
formula in the compute dtype, and hands the unreduced loss to :func:`finish`.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator
from typing import Any

import array_api_compat
import numpy as np

from ._array import (
    OPTION_DEVICE_ADVICE,
    Array,
    broadcasts_to,
    check_array,
    compute_dtype,
    cpu_index_span,
    device,
    dtype_kind,
    index_summaries,
    is_cpu_int_tensor,
    is_floating,
    is_traced,
    readable,
    size,
    stop_gradient,
)
from ._compile import is_symbolic_number, torch_compiling
from ._switch import Switch


def float_input(xp: Any, x: Array, name: str) -> Array:
    """``x`` in its compute dtype (float16/bfloat16 promoted to float32); ``TypeError`` if not float.
    ``x`` is an array: the public function named it in :func:`namespace`'s ``names``."""
    if not is_floating(xp, x):
        raise TypeError(f"{name} must be a real floating-point array, got dtype {x.dtype}")
    dtype = compute_dtype(xp, x.dtype)
    return x if x.dtype == dtype else xp.astype(x, dtype, copy=False)


def promoted_input(xp: Any, x: Array, name: str, *peers: tuple[str, Array]) -> tuple[Array, Any]:
    """``x`` in the compute dtype of its promotion with its ``peers`` (``(name, array)`` pairs:
    inputs that play the same part, embeddings to compare), and that promoted dtype, the result's.
    Each must be floating, else a ``TypeError`` naming it. A float64 input beside a float32 one is
    not rounded to float32, as torch's losses promote (Gluon 1.9.1 refused mixed dtypes); the
    peers follow with :func:`like`."""
    x_c = float_input(xp, x, name)
    out = x.dtype
    for peer_name, peer in peers:
        check_array(xp, peer, peer_name)
        if not is_floating(xp, peer):  # like() would cast an int or bool peer silently
            raise TypeError(f"{peer_name} must be a real floating-point array, got dtype {peer.dtype}")
        if peer.dtype != out:
            out = xp.result_type(out, peer.dtype)
    wide = compute_dtype(xp, out)
    return (x_c if x_c.dtype == wide else xp.astype(x_c, wide)), out


def like(xp: Any, x: Array, ref: Array, name: str, ref_name: str = "pred") -> Array:
    """``x`` cast to ``ref``'s dtype and, when it has as many elements, reshaped to ``ref``'s shape.

    This is Gluon's ``_reshape_like`` rule: a label of shape ``(N,)`` serves a prediction of
    shape ``(N, 1)``. Shapes with different element counts never broadcast: they raise; so does a
    transposed label, its axes of size above 1 in another order (see :func:`reshape_to`).
    """
    if x.dtype != ref.dtype and dtype_kind(xp, x.dtype) not in ("bool", "integral", "real floating"):
        # astype would drop a complex number's imaginary part, and parse strings as numbers
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    return xp.astype(reshape_to(xp, x, tuple(ref.shape), name, ref_name), ref.dtype, copy=False)


def reshape_to(xp: Any, x: Array, shape: tuple[int, ...], name: str, ref_name: str) -> Array:
    """``x`` reshaped to ``shape`` if it has that many elements (Gluon's rule); ``ValueError``
    otherwise. One case is refused even with as many elements: as many axes of size above 1 in
    another order or grouping, ``(T, N)`` against ``(N, T)``, a transposed label, which a reshape
    would silently scramble (Gluon 1.9.1 reshaped it). Moving axes of size 1 (``(N,)`` for
    ``(N, 1)``, a channels-last mask of one channel) or flattening (``(N * T,)`` for ``(N, T)``)
    keeps the order of the elements and is a reshape."""
    if tuple(x.shape) != shape:
        if size(x.shape) != size(shape):
            raise ValueError(
                f"{name} shape {tuple(x.shape)} does not match {ref_name} shape "
                f"{shape}: they must have the same number of elements"
            )
        axes, ref_axes = [d for d in x.shape if d != 1], [d for d in shape if d != 1]
        if axes != ref_axes and len(axes) == len(ref_axes):
            raise ValueError(
                f"{name} shape {tuple(x.shape)} does not match {ref_name} shape {shape}: as many elements "
                "and axes of size above 1, in another order (transposed?), which a reshape would scramble; "
                "reshape or transpose it yourself"
            )
        x = xp.reshape(x, shape)
    return x


def is_real(x: Any) -> bool:
    """A real number (not a bool), or its symbolic stand-in inside a ``torch.compile`` graph."""
    if type(x) is float or type(x) is int:  # the common case, without the ABC's isinstance
        return True
    if isinstance(x, numbers.Real):
        return not isinstance(x, bool)
    return is_symbolic_number(x)


def is_integer(x: Any) -> bool:
    """An integer (not a bool), or its symbolic stand-in inside a ``torch.compile`` graph."""
    if type(x) is int:
        return True
    if isinstance(x, numbers.Integral):
        return not isinstance(x, bool)
    return is_symbolic_number(x) and type(x).__name__ == "SymInt"


def as_number(x: Any) -> Any:
    """A checked number option as a Python float, or as it is if symbolic or being traced
    (``torch.compile``): ``float()`` would fix its value in the graph, a recompile per value."""
    return x if is_symbolic_number(x) or torch_compiling() else float(x)


def check_flag(value: Any, name: str) -> bool:
    """A boolean option as a ``bool``; ``TypeError`` for anything else (``bool("False")`` is True)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def check_axis_option(axis: Any, name: str = "axis") -> int:
    """An axis given to a loss's constructor, before any input is seen: an int (its range is
    checked against each call's input). ``TypeError`` for a float or bool, which ``int()`` would
    silently truncate."""
    if not is_integer(axis):
        raise TypeError(f"{name} must be an int, got {axis!r}")
    return int(axis)


def check_axis(axis: int, ndim: int) -> int:
    """The class ``axis`` of a ``pred`` with ``ndim`` axes, as a non-negative int (an axis is static:
    a symbolic int from ``torch.compile(dynamic=True)`` is made concrete)."""
    check_axis_option(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis!r} is out of range for pred with {ndim} axes")
    return int(axis) % ndim


#: The range an ``ignore_index`` must lie in: int32's, JAX's index dtype without x64, so that the
#: comparison with the labels means the same on every backend (a larger one overflowed there, and
#: on torch past int64, with the backends' own errors).
IGNORE_INDEX_RANGE = (-(2**31), 2**31 - 1)


def check_ignore_index(ignore_index: Any, *, optional: bool = True) -> None:
    """``ignore_index``: an int in :data:`IGNORE_INDEX_RANGE` (or None when ``optional``)."""
    if ignore_index is None and optional:
        return
    if not is_integer(ignore_index):  # int() would truncate 1.5 (or True) to class 1, silently ignored
        raise TypeError(f"ignore_index must be an int{' or None' if optional else ''}, got {ignore_index!r}")
    low, high = IGNORE_INDEX_RANGE
    if not low <= ignore_index <= high:
        raise ValueError(
            f"ignore_index must be in [{low}, {high}] (int32, the index dtype of JAX without x64), got {ignore_index}"
        )


def check_has_classes(shape: tuple[int, ...], cls: int) -> None:
    """A class axis of size 0 has nothing to normalise, rank or pick a label from: refused here,
    before the backends' own errors (a reduction with no identity) or a NaN (a mean over 0 classes)."""
    if shape[cls] == 0:
        raise ValueError(f"pred has no classes along axis {cls} (shape {tuple(shape)}): it needs at least one")


def check_batch_axis(batch_axis: int, ndim: int, class_axis: int | None = None) -> int:
    """``batch_axis`` as a non-negative int; with ``class_axis`` (of a ``pred`` with more than one
    axis) it must be another axis: each example's loss is the mean over the other axes, and with
    the classes kept there would be one "example" per class, each averaging over the batch."""
    check_axis_option(batch_axis, "batch_axis")
    if not -max(ndim, 1) <= batch_axis < max(ndim, 1):
        raise ValueError(f"batch_axis={batch_axis!r} is out of range for an input with {ndim} axes")
    b_axis = int(batch_axis) % max(ndim, 1)
    if class_axis is not None and ndim > 1 and b_axis == class_axis:
        raise ValueError(
            f"batch_axis={batch_axis!r} is the class axis ({class_axis}) of pred's {ndim} axes: they must differ"
        )
    return b_axis


def check_weight(weight: Any) -> None:
    if weight is None:
        return
    if not is_real(weight):
        hint = ""
        if len(getattr(weight, "shape", ())) > 0 or isinstance(weight, (list, tuple)):  # torch's class weights
            hint = "; weight is Gluon's global scale: per-class weights (torch's weight=) are class_weight="
        raise TypeError(f"weight must be a number or None, got {weight!r}{hint}")
    if is_concrete(weight) and not is_finite(weight):  # NaN or inf would make every loss NaN or inf
        raise ValueError(f"weight must be finite, got {weight!r}")


def is_concrete(value: Any) -> bool:
    """A number whose value can be read: not symbolic, and not met while Dynamo traces (a float
    argument that changes between calls is then a plain float whose ``math.isfinite`` Dynamo
    cannot trace)."""
    return not (is_symbolic_number(value) or torch_compiling())


def is_finite(value: Any) -> bool:
    """A concrete real number is finite (``10**400``, beyond float's range, is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_sample_weight(xp: Any, sample_weight: Any, loss_shape: tuple[int, ...]) -> Any:
    """``sample_weight`` must broadcast to the unreduced loss *without changing its shape*; returns
    it, an array of one element with fewer axes than the loss reshaped to ``(1,) * len(loss_shape)``.

    It needs as many axes as the loss (or none): a ``(N,)`` weight against a ``(N, C)`` loss is
    refused instead of being silently aligned with the class axis. A single weight is unambiguous
    in any shape of ones up to the loss's axes: Gluon code passes ``nd.array([w])``, shape
    ``(1,)``, as MXNet 1.x has no 0-d arrays.
    """
    if isinstance(sample_weight, bool):
        raise TypeError(f"sample_weight must be an array or a number, got {sample_weight!r}")
    if sample_weight is None:
        return None
    if is_real(sample_weight):
        if is_concrete(sample_weight) and not is_finite(sample_weight):  # as weight: NaN everywhere
            raise ValueError(f"sample_weight must be finite, got {sample_weight!r}")
        return sample_weight
    check_array(xp, sample_weight, "sample_weight")
    shape = tuple(sample_weight.shape)
    if 0 < len(shape) < len(loss_shape) and all(s == 1 for s in shape):
        shape = (1,) * len(loss_shape)
        sample_weight = xp.reshape(sample_weight, shape)  # a view: one weight for every element
    if len(shape) not in (0, len(loss_shape)) or not broadcasts_to(shape, loss_shape):
        raise ValueError(
            f"sample_weight shape {shape} does not broadcast to the loss shape {tuple(loss_shape)} "
            f"(it needs {len(loss_shape)} {'axis' if len(loss_shape) == 1 else 'axes'}, each equal to the loss's "
            f"or 1){_sample_weight_hint(shape, tuple(loss_shape))}"
        )
    if not (is_floating(xp, sample_weight) or xp.isdtype(sample_weight.dtype, ("integral", "bool"))):
        raise TypeError(f"sample_weight must be a real array, got dtype {sample_weight.dtype}")
    return sample_weight


def _sample_weight_hint(shape: tuple[int, ...], loss_shape: tuple[int, ...]) -> str:
    """The shape a refused ``sample_weight`` was most likely meant as, for the error."""
    if len(loss_shape) == 1 and shape == loss_shape + (1,):  # (N, 1) where the loss is (N,): a Gluon habit
        return f"; for one weight per example use shape {loss_shape}"
    if len(shape) != 1 or len(loss_shape) < 2:
        return ""
    if shape[0] == loss_shape[0]:
        return f"; for one weight per example use shape {shape + (1,) * (len(loss_shape) - 1)}"
    if shape[0] == loss_shape[-1]:
        # Gluon broadcasts a (C,) weight along the last axis: here it is written out
        return f"; for one weight per entry of the last axis use shape {(1,) * (len(loss_shape) - 1) + shape}"
    axes = [k for k, n in enumerate(loss_shape) if n == shape[0]]
    if axes:  # a batch axis other than 0, say
        k = axes[0]
        return f"; for one weight per entry of axis {k} use shape {(1,) * k + shape + (1,) * (len(loss_shape) - k - 1)}"
    return ""


_VALUE_CHECKS = Switch("losskit_value_checks", True)


def value_checks_on() -> bool:
    """Whether value checks run (:func:`set_value_checks`): a check that costs work to prepare asks first."""
    return _VALUE_CHECKS.on()


# Dynamo runs it rather than tracing it (the context lookup is not traceable), the result a constant
# of the graph: what torch.compiler.assume_constant_result(fn) sets, by hand, as in _compile
value_checks_on._dynamo_marked_constant = True  # type: ignore[attr-defined]


def set_value_checks(enabled: bool) -> None:
    """Turn the checks that read array *values* on or off for the calls that follow, in every
    thread of this process (on by default; a process started by ``spawn`` starts with them on); a
    :func:`value_checks` block overrides it in its own thread or task.

    These are the range checks of class indices (cross-entropy, NLL, focal, ...), of CTC's
    labels and lengths and of CosineEmbeddingLoss's labels, which also refuse non-integer float
    labels, and GaussianNLLLoss's check for negative variances (unchecked, it floors every
    variance at ``eps``). Each brings values to the
    host; on a GPU that waits for all queued work: one synchronisation per call. With the checks
    off a loss never synchronises, as a ``torch.nn.functional`` loss does not, and an index out
    of range is left to the backend, with an undefined result: torch's fused cross-entropy raises
    on the CPU and fails a device-side assert on CUDA, an array-API path may wrap a negative index
    around (as Python indexing does) or, on JAX, clamp it. Shape, dtype and option checks stay
    on: they read no values. Under ``jax.jit`` and ``torch.compile`` values are symbolic and
    never checked, nor under ``torch.func.vmap`` (which refuses to read a batched value).

    >>> import numpy as np, losskit
    >>> losskit.set_value_checks(False)
    >>> losskit.SoftmaxCELoss()(np.zeros((1, 2)), np.array([1]))  # no range check: no host read
    array([0.69314718])
    >>> losskit.set_value_checks(True)
    """
    _VALUE_CHECKS.default = check_enabled(enabled)


def check_enabled(enabled: Any) -> bool:
    """A switch's setting: True or False, not a truthy number."""
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False, got {enabled!r}")
    return enabled


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """:func:`set_value_checks` for the calls inside a ``with`` block, in this thread or asyncio
    task only: others keep their setting, and the setting is restored after.

    >>> import numpy as np, losskit
    >>> with losskit.value_checks(False):
    ...     losskit.SoftmaxCELoss()(np.zeros((1, 2)), np.array([1]))
    array([0.69314718])
    """
    with _VALUE_CHECKS.block(check_enabled(enabled)):
        yield


def read_value(x: Array) -> float | None:
    """A 0-d array's value as a float for a value check, or ``None`` where it is not read: traced
    (``jax.jit``, ``torch.compile``, ``torch.func.vmap``) or value checks off."""
    return float(readable(x)) if value_checks_on() and not is_traced(x) else None


def without_ignored(xp: Any, label: Array, ignore_index: Any) -> Array:
    """``label`` with ``ignore_index`` replaced by class 0, for the range check. An index that the
    label's integer dtype cannot hold (-100 against uint8) matches nothing: compared as it is,
    the standard leaves it undefined (``array_api_strict`` raises)."""
    if xp.isdtype(label.dtype, "integral"):
        info = xp.iinfo(label.dtype)
        if not info.min <= ignore_index <= info.max:
            return label
    return xp.where(label == ignore_index, xp.zeros_like(label), label)


def check_labels_in_range(
    xp: Any, label: Array, low: int, high: int, name: str = "label", what: str = "class indices"
) -> None:
    """On eager arrays, raise ``ValueError`` if ``label`` holds a value outside ``[low, high)`` or
    a non-integer. Skipped for traced arrays (``jax.jit``, ``torch.compile``, ``torch.func.vmap``)
    and when value checks are off (:func:`set_value_checks`)."""
    check_ranges(xp, (label, low, high, name, what))


def check_ranges(xp: Any, *checks: tuple[Any, ...]) -> None:
    """:func:`check_labels_in_range` of several ``(array, low, high, name, what)`` at once: the
    values of all of them reach the host together (one synchronisation on a GPU). A check may
    carry a sixth element, a function giving the error message in place of the range's (another
    value check riding along: its array a 0-d 0 or 1 that must be 0)."""
    if not value_checks_on():
        return  # (a torch uint64 is still refused where it is used: as_index, comparable_index)
    span = cpu_index_span(checks[0][0]) if len(checks) == 1 else None  # one CPU label: the lean read
    summaries: list[tuple[bool, int, int]] | None
    if span is not None:
        summaries = [(True, *span)]
    else:
        checks = tuple(c for c in checks if size(c[0].shape) > 0 and not is_traced(c[0]))
        if not checks:
            return
        # a concrete array captured by jax.jit's function is not a tracer, but what is computed
        # from it there is: index_summaries returns None then
        summaries = index_summaries(xp, [comparable_index(xp, check[0], check[3]) for check in checks])
        if summaries is None:
            return
    for (_, low, high, name, what, *message), (whole, lo, hi) in zip(checks, summaries):
        if message and (not whole or lo < low or hi >= high):
            raise ValueError(message[0]())
        if not whole:
            raise ValueError(f"{name} holds non-integer or non-finite values; {what} must be whole numbers")
        if lo < low or hi >= high:
            raise ValueError(f"{name} holds {what} in [{lo}, {hi}], outside the valid range [{low}, {high - 1}]")


def kernel_checks_range(label: Array) -> bool:
    """Whether the range check of the class indices ``label`` is left to the torch kernel that reads
    them: with value checks on, for a concrete CPU tensor of integers. torch's CPU ``nll_loss``,
    ``cross_entropy`` and ``multi_margin_loss`` raise for an index out of range in the pass that
    reads it, before they return anything, so reading the labels first as well costs a pass and
    two host reads for nothing. Its CUDA kernels assert on the device instead, which poisons the
    CUDA context: labels on a GPU are read first. The caller computes with
    :func:`range_checked_by_kernel`."""
    return value_checks_on() and is_cpu_int_tensor(label)


def range_checked_by_kernel(compute: Callable[[], Array], check: Callable[[], object]) -> Array:
    """``compute()``, whose torch kernel checks the class indices (see :func:`kernel_checks_range`).
    Where it raises, ``check()``, losskit's own range check, raises the ``ValueError`` that names
    the values and the valid range, the error a check before the computation gives; an error that
    is not the labels' is torch's, raised as it is."""
    try:
        return compute()
    except (IndexError, RuntimeError) as error:
        failure = error
    check()  # outside the except block: the ValueError is not chained to torch's message
    raise failure


def check_not_nan(xp: Any, x: Array, name: str, what: str) -> None:
    """On eager arrays, ``ValueError`` if ``x`` holds a NaN (skipped where values are traced and
    when value checks are off, as :func:`check_ranges`): for labels compared for equality, where a
    NaN equals nothing, not even itself."""
    if not value_checks_on() or size(x.shape) == 0 or is_traced(x):
        return
    found = xp.any(xp.isnan(x))
    if is_traced(found):  # computed inside jax.jit from a concrete (captured) array
        return
    if bool(found):
        raise ValueError(f"{name} holds NaN; {what} are compared for equality, and NaN equals nothing")


def check_probabilities(xp: Any, x: Array, name: str, hint: str) -> None:
    """On eager arrays, ``ValueError`` if ``x`` holds a value outside ``[0, 1]``, naming the range
    of its values and ``hint``; skipped where values are traced and when value checks are off, as
    :func:`check_ranges` (one read: one synchronisation on a GPU). A NaN passes: it makes that
    loss NaN, as a diverging model's must be (the range found ignores it)."""
    if not value_checks_on() or size(x.shape) == 0 or is_traced(x):
        return
    outside = xp.any(xp.logical_or(x < 0, x > 1))  # NaN compares False both ways
    if is_traced(outside):  # computed inside jax.jit from a concrete (captured) array
        return
    if bool(outside):
        x = stop_gradient(x)  # (torch: no graph, no warning on reading it)
        number = xp.logical_not(xp.isnan(x))
        lo = float(xp.min(xp.where(number, x, math.inf)))
        hi = float(xp.max(xp.where(number, x, -math.inf)))
        raise ValueError(f"{name} holds values in [{lo:g}, {hi:g}], outside [0, 1]: {hint}")


def index_dtype(xp: Any) -> Any:
    """The namespace's default index dtype (int64 for NumPy and torch; JAX's follows x64 mode, so not cached)."""
    return xp.__array_namespace_info__().default_dtypes()["indexing"]


# PyTorch's uint16, uint32 and uint64 are "shell" dtypes: casts and equality work, but not min,
# max, minimum or order comparisons on the CPU ("aminmax_cpu" not implemented for 'UInt64').
_TORCH_WIDE_UNSIGNED = {"torch.uint16": 32, "torch.uint32": 32, "torch.uint64": 64}


def check_index_dtype(label: Array, name: str = "label") -> None:
    """``TypeError`` for a torch ``uint64`` array of indices, before any work: torch can neither
    check its range nor clamp it (a cast to int64 would wrap ``2**63`` round to a negative index).
    torch's ``uint16``/``uint32`` are cast to int64 losslessly where they are checked and used."""
    if _TORCH_WIDE_UNSIGNED.get(str(label.dtype)) == 64:
        raise TypeError(
            f"{name} has dtype torch.uint64, which PyTorch cannot compare or clamp (no min, max or "
            "order comparisons for it): give indices as torch.int64"
        )


def comparable_index(xp: Any, x: Array, name: str) -> Array:
    """Indices or lengths ``x`` in a dtype every backend can compare and clamp: torch's uint16 and
    uint32 cast to int64 (losslessly), its uint64 a ``TypeError`` (:func:`check_index_dtype`)."""
    check_index_dtype(x, name)
    return xp.astype(x, xp.int64) if _TORCH_WIDE_UNSIGNED.get(str(x.dtype)) == 32 else x


def as_index(xp: Any, label: Array) -> Array:
    """``label`` in the namespace's index dtype. An unsigned label past that dtype's range is first
    clamped to its largest value (out of range still), not wrapped: a uint32 ``2**32 - 100`` cast to
    JAX's int32 would be -100, the default ``ignore_index``, and ``2**32 + 3`` class 3. Eagerly the
    range checks refuse such labels first; under ``jax.jit`` values go unchecked."""
    idx = index_dtype(xp)
    if label.dtype == idx:
        return label  # no no-op cast node in a traced graph
    label = comparable_index(xp, label, "label")  # torch has no minimum for its uint16/32/64
    if label.dtype == idx:
        return label
    if xp.isdtype(label.dtype, "unsigned integer") and xp.iinfo(label.dtype).max > xp.iinfo(idx).max:
        label = xp.minimum(label, xp.asarray(xp.iinfo(idx).max, dtype=label.dtype, device=device(label)))
    return xp.astype(label, idx)


def finish(
    xp: Any,
    loss: Array,
    *,
    out_dtype: Any,
    weight: float | None = None,
    sample_weight: Any = None,
    batch_axis: int | None = 0,
    reduce: str = "mean",
) -> Array:
    """Apply ``sample_weight`` and ``weight``, then reduce every axis but ``batch_axis``.

    ``batch_axis=None`` leaves the loss unreduced (for losses that are already per example).
    """
    if sample_weight is not None:
        if not is_real(sample_weight):
            sample_weight = xp.astype(sample_weight, loss.dtype, copy=False)
        loss = loss * sample_weight
    if batch_axis is not None and loss.ndim > 1:
        axes = tuple(i for i in range(loss.ndim) if i != batch_axis)
        if all(loss.shape[i] == 1 for i in axes):  # one value per example already (CE): no kernel
            loss = xp.reshape(loss, (loss.shape[batch_axis],))
        else:
            if reduce == "mean" and 0 in loss.shape and loss.shape[batch_axis] != 0:  # another axis is empty
                raise ValueError(
                    f"the loss of each example is a mean over nothing (NaN): its values have shape "
                    f"{tuple(loss.shape)}, and the axes it averages over, all but batch_axis={batch_axis}, "
                    "include one of size 0"
                )
            # never reduce with axis=(): torch.mean(dim=()) reduces *every* axis
            loss = xp.mean(loss, axis=axes) if reduce == "mean" else xp.sum(loss, axis=axes)
    if weight is not None:
        loss = loss * weight  # after the reduction (mean and sum are linear): one pass over N values, not N*D
    # as_array: 0-d NumPy arithmetic gives a scalar (np.float32), not the 0-d array other losses return
    return as_array(xp, loss if loss.dtype == out_dtype else xp.astype(loss, out_dtype, copy=False))


REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def numpy_number(value: Any) -> Any:
    """NumPy's real 0-d array as the number it holds (see :func:`check_number`); anything else as it is."""
    if type(value) is np.ndarray and value.shape == () and value.dtype.kind in "iuf":
        return value.item()
    return value


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    array_ok: bool = False,
) -> Any:
    """``value`` as a float, if it is a finite real number (not a bool) within the given bounds; else an error.

    ``array_ok``: a 0-d array is also taken, as it is and unchecked (its value may be traced: a
    margin swept by ``jax.vmap``, or one learnt as a tensor); the formula broadcasts it. NumPy's
    0-d array is a number (nothing traces or differentiates it): checked as one, and weak in type
    promotion as a number is, where the array would make float32 inputs' arithmetic float64 (NEP 50).
    """
    value = numpy_number(value)
    if not is_real(value):
        if array_ok and hasattr(value, "shape"):
            if tuple(value.shape) != ():
                raise ValueError(f"{name} must be a number or a 0-d array, got an array of shape {tuple(value.shape)}")
            if any(kind in str(value.dtype) for kind in ("bool", "complex")):  # astype would drop meaning
                raise TypeError(f"{name} must be a real number or a real 0-d array, got dtype {value.dtype}")
            return value
        raise TypeError(f"{name} must be a real number, got {value!r}")
    # as as_number: a symbolic or traced value (torch.compile) stays one, the bounds become guards,
    # and only a concrete value's finiteness is checked (math.isfinite cannot take a traced one)
    concrete = is_concrete(value)
    finite = not concrete or is_finite(value)
    v = float(value) if concrete and finite else value
    too_low = low is not None and (v <= low if low_open else v < low)
    too_high = high is not None and (v >= high if high_open else v > high)
    if too_low or too_high or not finite:
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise ValueError(f"{name} must be in {lo}, {hi}, got {value!r}")
    return v


def check_class_vector(value: Any, name: str) -> Any:
    """A per-class vector given to a loss's constructor: ``None``, a sequence of real numbers
    (stored as a tuple, usable with every array library), or a 1-D array (whose library must
    then be the one of the inputs; the namespace check of the call enforces it)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value or not all(is_real(v) for v in value):
            raise TypeError(f"{name} must be a non-empty sequence of real numbers or a 1-D array, got {value!r}")
        bad = [v for v in value if is_concrete(v) and not is_finite(v)]
        if bad:  # a NaN weight makes every loss it touches NaN, silently (an array's values are not read)
            raise ValueError(f"{name} must hold finite numbers, got {bad[0]!r} in {value!r}")
        return tuple(float(v) for v in value)
    if not hasattr(value, "shape") or len(tuple(value.shape)) != 1:
        raise ValueError(
            f"{name} must be a 1-D array or a sequence of numbers (one per class), "
            f"got {getattr(value, 'shape', type(value).__name__)}"
        )
    return value


def check_class_count(value: Any, n_classes: int, name: str) -> None:
    """A per-class vector checked by :func:`check_class_vector` must have ``n_classes`` entries."""
    length = None if value is None else len(value) if isinstance(value, tuple) else tuple(value.shape)[0]
    if length is not None and length != n_classes:
        raise ValueError(f"{name} has shape ({length},) but pred has {n_classes} classes: expected ({n_classes},)")


def arrays_in(*values: Any) -> tuple[Any, ...]:
    """The array arguments among ``values`` (for the namespace check): sequences and numbers are left out."""
    return tuple(v for v in values if v is not None and not isinstance(v, (list, tuple)) and not is_real(v))


def class_vector(xp: Any, value: Any, n_classes: int, like_array: Array, name: str) -> Array:
    """A per-class vector (checked by :func:`check_class_vector`) as an array of shape ``(C,)`` in
    ``like_array``'s dtype and device; ``ValueError`` when its length is not ``C``."""
    value = check_class_vector(value, name)
    check_class_count(value, n_classes, name)
    if isinstance(value, tuple):
        arr = xp.asarray(value, dtype=like_array.dtype, device=device(like_array))
    else:
        if not (is_floating(xp, value) or xp.isdtype(value.dtype, "integral")):
            raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
        if array_api_compat.is_torch_array(value) and value.device != like_array.device:
            # a Loss is no torch.nn.Module (its as_module() is): module.to(device) moves no option of it
            raise ValueError(
                f"{name} is on device {value.device} but the inputs on {like_array.device}: move it there "
                + OPTION_DEVICE_ADVICE
            )
        arr = xp.astype(value, like_array.dtype, copy=False)
    return arr


def reduce_all(
    xp: Any,
    loss: Array,
    *,
    out_dtype: Any,
    reduction: str,
    weight: float | None = None,
    sample_weight: Any = None,
    denominator: Array | None = None,
) -> Array:
    """Apply ``sample_weight`` and ``weight``, then sum every element (``'sum'``) or divide that
    sum by ``denominator`` (``'mean'``; the element count when ``None``). A zero denominator
    gives 0 with a zero gradient: it is replaced by 1 before the division, so 0/0 never enters
    the graph."""
    loss = finish(xp, loss, out_dtype=loss.dtype, weight=weight, sample_weight=sample_weight, batch_axis=None)
    total = xp.sum(loss)
    if reduction == "mean":
        if denominator is None:
            total = total / max(size(tuple(loss.shape)), 1)
        else:
            nonzero = denominator != 0
            safe = xp.where(nonzero, denominator, xp.ones_like(denominator))
            total = xp.where(nonzero, total / safe, xp.zeros_like(total))
    return as_array(xp, xp.astype(total, out_dtype, copy=False))


def as_array(xp: Any, x: Any) -> Array:
    """``x`` as a 0-d array where NumPy's reductions and 0-d arithmetic made it a scalar (an
    ``np.float32``, which is a ``numbers.Real``); arrays pass through untouched."""
    return xp.asarray(x) if isinstance(x, numbers.Number) else x
