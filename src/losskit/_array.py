"""Private array helpers: the namespace lookup and the few operations the standard lacks.

The array operations take the array namespace ``xp`` explicitly (the helpers that only look
at an array, such as :func:`device` or :func:`is_traced`, do not); only the public entry points
call :func:`namespace`, once, and pass ``xp`` down (the scikit-learn / SciPy pattern).
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np

from . import _compile, _fast
from ._compile import is_symbolic_number, register_with_dynamo, torch_compiling, torch_tracing

Array = Any  # an array of any array-API library (NumPy, PyTorch, JAX, array-api-strict)


_NAMESPACES: dict[tuple[Any, ...], tuple[Any, Any]] = {}  # argument types: (namespace, torch.Tensor or None)


def namespace(*arrays: Any, names: tuple[str, ...] = ()) -> Any:
    """Return the array-API namespace shared by ``arrays`` (``None`` and Python scalars are skipped).

    ``names`` names the leading ``arrays`` that must be arrays (a loss's ``pred`` and ``label``):
    ``None``, a number or a NumPy scalar beside another library's arrays there is a ``TypeError``
    naming it. Raises ``TypeError`` too when the arrays come from different libraries, or when
    an input is not an array at all (a list, say), naming the offending types.
    """
    # Not cached while torch.compile traces: a dict cache would put a guard on its contents into
    # the graph, and the first eager call that fills it would recompile.
    if torch_compiling():
        return _compiled_namespace(_array_arguments(arrays))
    # The namespace depends only on the argument types (which of them are arrays, and of which
    # library): cached per tuple of types, a call skips the filtering and array_namespace's
    # inspection, and the check of the named arguments, which depends on their types alone.
    key = (len(names), *map(type, arrays))
    cached = _NAMESPACES.get(key)
    if cached is not None:
        xp, tensor_type = cached
    else:
        try:
            xp = _lookup(_array_arguments(arrays))  # raises for no array, or arrays of two libraries
        except _MixedLibraries as mixed:
            raise TypeError(_mixed_message(arrays, names, str(mixed))) from None
        for name, x in zip(names, arrays):
            check_array(xp, x, name)
        tensor_type = None
        if array_api_compat.is_torch_namespace(xp):
            import torch

            tensor_type = torch.Tensor
        _NAMESPACES[key] = xp, tensor_type
    if tensor_type is not None:
        check_one_device(arrays, names, tensor_type)
    if not _compile._registered:
        register_with_dynamo()  # an eager call once Dynamo is loaded (see _compile)
    return xp


#: What the messages call a call's array arguments that ``names`` leaves unnamed.
UNNAMED_ARRAYS = "sample_weight or an array option (class_weight, pos_weight, ...)"
#: Why a tensor option stays on its device, and what to do (the device checks' messages).
OPTION_DEVICE_ADVICE = (
    "(a loss's options are not module buffers, which module.to() would move; loss.as_module() makes them so), "
    "or give a sequence of numbers, made on the inputs' device at each call"
)


def check_one_device(arrays: tuple[Any, ...], names: tuple[str, ...], tensor_type: Any) -> None:
    """``ValueError`` naming them when torch tensors of a call are on two devices (torch's own
    error came mid-computation, without names). A 0-d CPU tensor may go with any device, as in torch."""
    first = None
    for a in arrays:  # the common case first, in a plain loop (a set of devices took ~5 us a call)
        if isinstance(a, tensor_type):
            if first is None:
                first = a.device
            elif a.device != first:
                break
    else:
        return

    def placed(a: Any) -> bool:  # a tensor whose device counts
        return isinstance(a, tensor_type) and (a.ndim > 0 or a.device.type != "cpu")

    if len({a.device for a in arrays if placed(a)}) > 1:
        named = [f"{n} on {a.device}" for n, a in zip(names, arrays) if placed(a)]
        others = sorted({str(a.device) for a in arrays[len(names) :] if placed(a)})
        advice = ""
        if others:
            named.append(f"{UNNAMED_ARRAYS} on {', '.join(others)}")
            advice = f": move it to {first} {OPTION_DEVICE_ADVICE}"
        raise ValueError(f"the tensors of one call must be on one device: {'; '.join(named)}{advice}")


def check_array(xp: Any, x: Any, name: str) -> None:
    """``TypeError`` unless ``x`` is an array of ``xp``'s library (the namespace lookup skips
    ``None``, numbers and a NumPy scalar beside other arrays: an attribute error came later)."""
    if (
        not hasattr(x, "dtype")
        or not hasattr(x, "shape")
        or (isinstance(x, np.generic) and not array_api_compat.is_numpy_namespace(xp))
    ):
        library = getattr(xp, "__name__", "the inputs'").replace("array_api_compat.", "")
        raise TypeError(f"{name} must be an array of the call's library ({library}), got {type(x).__name__}: {x!r:.60}")


def _array_arguments(arrays: tuple[Any, ...]) -> list[Any]:
    """The arguments that are arrays: not ``None``, Python or symbolic numbers, nor NumPy scalars beside arrays."""
    candidates = [
        a for a in arrays if a is not None and not isinstance(a, (int, float, bool)) and not is_symbolic_number(a)
    ]
    if len(candidates) > 1 and any(isinstance(a, np.generic) for a in candidates):
        # a NumPy scalar (np.float32(2) as a weight) is a number beside arrays of any library
        candidates = [a for a in candidates if not isinstance(a, np.generic)] or candidates[:1]
    if not candidates:
        raise TypeError("losskit: expected at least one array input, got only None or scalars")
    return candidates


def _compiled_namespace(candidates: list[Any]) -> Any:
    import torch

    register_with_dynamo()  # run, not traced: later losskit calls become graph nodes
    if all(isinstance(a, torch.Tensor) for a in candidates):
        # what array_namespace returns for tensors, without tracing its introspection (fewer guards)
        import array_api_compat.torch as torch_namespace

        return torch_namespace
    return _lookup(candidates)


def _lookup(candidates: list[Any]) -> Any:
    for a in candidates:
        # ndarray subclasses whose meaning a loss would drop: a matrix's results stay 2-D ((N, 1)
        # for (N,)), and a masked array's masked entries would be computed on as if unmasked
        if isinstance(a, np.matrix):
            raise TypeError("losskit: a numpy.matrix is not taken (its results stay 2-D): pass np.asarray(x)")
        if isinstance(a, np.ma.MaskedArray):
            raise TypeError(
                "losskit: a numpy.ma.MaskedArray is not taken (its mask would be ignored): pass its data, "
                "np.ma.getdata(x), and a sample_weight of 0 at the masked entries"
            )
    try:
        return array_namespace(*candidates)
    except TypeError:
        odd = [a for a in candidates if not array_api_compat.is_array_api_obj(a)]
        if odd:  # a list or a string where an array goes: say so, not that the libraries differ
            raise TypeError(
                f"losskit: an input is a {type(odd[0]).__name__} ({odd[0]!r:.60}), not an array; the "
                "array inputs of one call must be arrays of the same array library (NumPy, PyTorch, JAX, "
                "...), and numbers only where a number is allowed"
            ) from None
        kinds = sorted({_library_of(a) for a in candidates})
        raise _MixedLibraries(
            "losskit: all array inputs of one call must come from the same array library "
            f"(NumPy, PyTorch, JAX, ...); got {', '.join(kinds)}"
        ) from None


class _MixedLibraries(TypeError):
    """Arrays of two libraries in one call (:func:`namespace` names them)."""


def _library_of(a: Any) -> str:
    return f"{type(a).__module__}.{type(a).__qualname__}"


def _mixed_message(arrays: tuple[Any, ...], names: tuple[str, ...], message: str) -> str:
    """``message`` with which argument is of which library: the named ones (pred, label) by name,
    the others (sample_weight, an array option such as class_weight) by position."""

    def odd(a: Any) -> bool:  # an array (not a number, nor a NumPy scalar) of another library than the first
        return hasattr(a, "shape") and not isinstance(a, np.generic) and _library_of(a) != first

    if not names or not hasattr(arrays[0], "shape"):
        return message
    first = _library_of(arrays[0])
    parts = [f"{names[0]} is {first}", *(f"{n} is {_library_of(a)}" for n, a in zip(names, arrays) if odd(a))]
    others = sorted({_library_of(a) for a in arrays[len(names) :] if odd(a)})
    if others:
        parts.append(f"{UNNAMED_ARRAYS} is {', '.join(others)}")
    return f"{message}: {'; '.join(parts)}"


array_namespace = array_api_compat.array_namespace


def device(x: Array) -> Any:
    """``x``'s device, for the arrays a loss makes beside it (``device=``). A JAX array spread over
    several devices answers with its sharding, which ``jnp``'s ``device=`` takes for arrays of
    ``x``'s own shape only (a ``(C,)`` class vector beside ``(N, C)`` batch-sharded logits raised
    IndivisibleError): ``None`` then, an uncommitted array that JAX places where it is used."""
    where = array_api_compat.device(x)
    if hasattr(where, "device_set") and len(where.device_set) > 1:  # a jax.sharding.Sharding
        return None
    return where


def is_floating(xp: Any, x: Array) -> bool:
    return dtype_kind(xp, x.dtype) == "real floating"


_DTYPE_KINDS = ("bool", "integral", "real floating", "complex floating")
_KIND_OF: dict[tuple[Any, Any], str] = {}
_COMPUTE_DTYPE: dict[tuple[Any, Any], Any] = {}


def _per_dtype(cache: dict[tuple[Any, Any], Any], compute: Any, xp: Any, dtype: Any) -> Any:
    """``compute(xp, dtype)``, remembered per namespace and dtype (``isdtype`` and ``finfo`` cost
    microseconds a call, and every loss asks several times). Not while torch.compile traces: no
    guard on the cache's contents in a graph (as in :func:`namespace`)."""
    if torch_compiling():
        return compute(xp, dtype)
    value = cache.get((xp, dtype))
    if value is None:
        value = cache[xp, dtype] = compute(xp, dtype)
    return value


def dtype_kind(xp: Any, dtype: Any) -> str:
    """``'bool'``, ``'integral'``, ``'real floating'`` or ``'complex floating'`` (``'other'`` for
    anything else): ``xp.isdtype``'s kinds."""
    return _per_dtype(_KIND_OF, _kind, xp, dtype)


def _kind(xp: Any, dtype: Any) -> str:
    return next((k for k in _DTYPE_KINDS if xp.isdtype(dtype, k)), "other")


def compute_dtype(xp: Any, dtype: Any) -> Any:
    """The dtype a loss computes in: float16/bfloat16 are promoted to float32, others kept."""
    return _per_dtype(_COMPUTE_DTYPE, _compute_dtype, xp, dtype)


def _compute_dtype(xp: Any, dtype: Any) -> Any:
    return xp.float32 if xp.finfo(dtype).bits < 32 else dtype


def is_traced(x: Array) -> bool:
    """True when ``x`` is symbolic (a JAX tracer; PyTorch under ``torch.compile``, ``make_fx`` or a
    ``FakeTensorMode``; a meta tensor) or batched by ``torch.func.vmap`` (which refuses reading a
    value: ``.item()``, ``.tolist()``).

    Value checks (class indices in range, say) need concrete values and are skipped then.
    """
    if array_api_compat.is_torch_array(x):
        # a meta tensor has a shape and no values (shape inference): nothing to read either
        return torch_tracing() or x.is_meta or _is_vmapped(x)
    if array_api_compat.is_jax_array(x):
        import jax

        # eager jax.grad's tracers hold their values (Python's `if` works on them): read as eager
        return isinstance(x, jax.core.Tracer) and not _jax_concrete(x)
    return False


def _jax_concrete(x: Any) -> bool:
    """Whether a JAX tracer's values can be read (eager ``jax.grad``, not ``jit`` nor ``vmap``);
    JAX's own test (private: where it moves, the check is skipped, as under ``jit``)."""
    try:
        from jax._src.core import is_concrete
    except ImportError:  # pragma: no cover - a JAX without it
        return False
    return bool(is_concrete(x))


def _is_vmapped(x: Array) -> bool:
    """Whether ``x`` is batched by ``torch.func.vmap`` at any level: under ``vmap(grad(f))`` the
    batched tensor is wrapped again by ``grad`` (and reading it fails the same way); or by the
    legacy vmap of a batched backward pass (``is_grads_batched``)."""
    global _functorch
    if _functorch is None:
        import torch

        # functorch's own tests (private, hence looked up once)
        module = getattr(torch._C, "_functorch", None)
        needed = ("is_batchedtensor", "is_functorch_wrapped_tensor", "get_unwrapped")
        _functorch = module if all(hasattr(module, name) for name in needed) else False
    if _functorch is False:
        return False
    legacy = getattr(_functorch, "is_legacy_batchedtensor", None)
    if legacy is not None and legacy(x):  # torch.autograd.grad(..., is_grads_batched=True) batches by it
        return True
    while _functorch.is_functorch_wrapped_tensor(x):
        if _functorch.is_batchedtensor(x):
            return True
        x = _functorch.get_unwrapped(x)
    return False


_functorch: Any = None


def cpu_index_span(x: Array) -> tuple[int, int] | None:
    """``(min, max)`` of a label for which :func:`is_cpu_int_tensor` holds, read directly; ``None``
    for anything else (the caller takes :func:`index_summaries`). The common label of a loss on
    the CPU, checked in about half the time of the general path (~3 us fewer a call: no lists, no
    dtype-name lookup)."""
    if not is_cpu_int_tensor(x):
        return None
    lo, hi = x.aminmax()
    return int(lo), int(hi)


def is_cpu_int_tensor(x: Array) -> bool:
    """``x`` is a non-empty CPU torch tensor of int64, int32, int16, int8 or uint8 whose values can
    be read (not traced, nor batched by ``torch.func.vmap``)."""
    global _torch_narrow_ints
    if not array_api_compat.is_torch_array(x) or not _reads_are_free(x) or x.dtype.is_floating_point:
        return False  # (a float label, the common other case, asks no more)
    # traced before the global below: a compiled function that read it would guard on its value
    # (None before the first eager call sets it) and recompile once it is set
    if is_traced(x):
        return False
    if _torch_narrow_ints is None:
        import torch

        _torch_narrow_ints = frozenset({torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8})
    return x.dtype in _torch_narrow_ints and x.numel() != 0


_torch_narrow_ints: Any = None


def index_summaries(xp: Any, arrays: list[Array]) -> list[tuple[bool, int, int]] | None:
    """``(whole, min, max)`` of each non-empty array; ``None`` where the values are traced.

    ``whole``: every value is a finite whole number (always true of an integer dtype); ``min`` and
    ``max`` are Python ints when it is. Off the CPU all the statistics of one dtype and device
    travel to the host as one array: one synchronisation per call of a loss with class indices (CTC checks
    three arrays), not one per value. On the CPU reading a value costs no synchronisation, and
    each is read directly (stacking would cost more than it saves).
    """
    if _reads_are_free(arrays[0]):
        return [_summary(_index_stats(xp, x)) for x in arrays]
    stats = [_index_stats(xp, x) for x in arrays]
    if not array_api_compat.is_torch_array(arrays[0]) and is_traced(stats[0][0]):
        return None  # computed inside jax.jit from a concrete (captured) array
    return [_summary(values) for values in _to_host_at_once(xp, stats)]


def _summary(values: list[Any]) -> tuple[bool, int, int]:
    """``(whole, min, max)`` from ``_index_stats``'s values (arrays or Python numbers)."""
    if len(values) == 2:  # an integer dtype
        return True, int(values[0]), int(values[1])
    whole = bool(values[2]) and math.isfinite(float(values[0])) and math.isfinite(float(values[1]))
    return (True, int(values[0]), int(values[1])) if whole else (False, 0, 0)


def _index_stats(xp: Any, x: Array) -> list[Array]:
    """``[min, max]`` of ``x``, and if it is float whether all its values are whole numbers (NaN is
    not; +-inf is, and shows in the min or max)."""
    if array_api_compat.is_torch_array(x):
        x = x.detach()  # a label that requires grad: no graph, and no warning when the stats are read
        lo, hi = x.aminmax()  # one kernel
        return [lo, hi, (x == x.floor()).all()] if x.is_floating_point() else [lo, hi]
    lo, hi = xp.min(x), xp.max(x)
    if xp.isdtype(x.dtype, "real floating"):
        return [lo, hi, xp.all(x == xp.floor(x))]
    return [lo, hi]


def _to_host_at_once(xp: Any, stats: list[list[Array]]) -> list[list[Any]]:
    """The arrays of ``stats`` as Python values, with one device-to-host copy per (dtype, device)
    group: CTC's labels and lengths are one group when they share both. Each value keeps its dtype
    (a cast to a common integer type would wrap large unsigned labels round to negatives)."""

    def group_of(values: list[Array]) -> tuple[Any, Any]:
        return values[0].dtype, getattr(values[0], "device", None)

    typed = [values if len(values) == 2 else [*values[:2], xp.astype(values[2], values[0].dtype)] for values in stats]
    groups: dict[tuple[Any, Any], list[Array]] = {}
    for values in typed:
        groups.setdefault(group_of(values), []).extend(values)
    host = {key: iter(_host_values(xp.stack(group))) for key, group in groups.items()}
    return [[next(host[group_of(values)]) for _ in values] for values in typed]


def _host_values(x: Array) -> list[Any]:
    """A 1-D array's values as Python numbers in one copy (``tolist``), or as 0-d arrays for a
    library without it (array-api-strict)."""
    x = readable(x)
    return x.tolist() if hasattr(x, "tolist") else [x[i] for i in range(x.shape[0])]


def readable(x: Array) -> Array:
    """``x`` as an array whose values Python can read: eager ``jax.grad``'s tracer of a
    differentiated input holds its values (:func:`is_traced` is false for it) but refuses
    ``float`` and ``tolist``; its ``stop_gradient`` is a plain array."""
    if array_api_compat.is_jax_array(x):
        import jax

        if isinstance(x, jax.core.Tracer):  # (not a plain array: an eager op costs ~10 us)
            return jax.lax.stop_gradient(x)
    return x


def _reads_are_free(x: Array) -> bool:
    """True where turning an array value into a Python number needs no device synchronisation."""
    if array_api_compat.is_torch_array(x):
        return x.is_cpu
    return array_api_compat.is_numpy_array(x)


def size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def logaddexp(xp: Any, *terms: Array) -> Array:
    """``log(sum_i exp(t_i))`` of two or more arrays as ``m + log(sum_i exp(t_i - m))``, ``m`` their
    elementwise max held constant for autodiff (0 where infinite, as in :func:`logsumexp_parts`):
    its derivatives of every order are those of the smooth formula. torch's own ``logaddexp`` has
    a NaN second derivative once an argument is far below the other (-1e30, CTC's log 0, beside -2)."""
    m = terms[0]
    for t in terms[1:]:
        m = xp.maximum(m, t)
    m = stop_gradient(m)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    total = xp.exp(terms[0] - m)
    for t in terms[1:]:
        total = total + xp.exp(t - m)
    return m + xp.log(total)


def logsumexp(xp: Any, x: Array, axis: int, keepdims: bool = False) -> Array:
    """``log(sum(exp(x), axis))`` computed as ``m + log(sum(exp(x - m)))`` with ``m = max(x)``.

    ``m`` is replaced by 0 where it is infinite so that all ``-inf`` rows give ``-inf``, not NaN.
    """
    m, log_sum = logsumexp_parts(xp, x, axis)
    out = m + log_sum
    return out if keepdims else xp.squeeze(out, axis=axis)


def logsumexp_parts(xp: Any, x: Array, axis: int) -> tuple[Array, Array]:
    """``(m, log(sum(exp(x - m))))`` along ``axis`` (kept, of size 1), ``m`` the finite max of ``x``.

    Their sum is ``logsumexp(x)``; keep them apart where ``x`` is subtracted next: ``(x - m) -
    log_sum`` is exact to the rounding of ``x - m``, whereas ``x - (m + log_sum)`` loses all of
    ``log_sum`` below half an ulp of ``m`` (float32 logits near 1e7 would lose ``log 2``).
    """
    # the result does not depend on the shift m (its gradient through m is exactly 0): stopping it
    # saves the backward pass of max (a mask of the maxima over all of x) in torch and JAX
    m = stop_gradient(xp.max(x, axis=axis, keepdims=True))
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    return m, xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True))


def masked_logsumexp_parts(xp: Any, x: Array, mask: Array, axis: int = -1) -> tuple[Array, Array, Array]:
    """:func:`logsumexp_parts` over the entries where ``mask`` is True, and whether each row (along
    ``axis``, kept) has any. Left-out entries are ``-inf`` in the sum, an exact 0 with a zero
    derivative. A row with none gives ``(0, 0)`` for the caller to mask out: ``log`` sees 1, not 0,
    so neither ``log(0)`` nor ``-inf - -inf`` enters the graph. A NaN of a kept entry stays NaN."""
    shut = xp.where(mask, x, xp.full_like(x, -math.inf))
    m = stop_gradient(xp.max(shut, axis=axis, keepdims=True))  # the shift; the result does not depend on it
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    total = xp.sum(xp.exp(shut - m), axis=axis, keepdims=True)  # >= 1 in a row with an entry (its max: exp(0))
    some = xp.any(mask, axis=axis, keepdims=True)
    return m, xp.log(xp.where(some, total, xp.ones_like(total))), some


def divide_by_largest(xp: Any, x: Array, m: Array) -> tuple[Array, Array]:
    """``(x / d, d)``, ``d`` the largest magnitudes ``m >= 0`` of :func:`stop_gradient` where
    positive and 1 where ``m = 0`` (``x`` is then 0): entries in ``[-1, 1]``, exact to rounding for
    any finite ``m``.

    On JAX, XLA computes a division by a broadcast ``m`` as ``x * (1 / m)``, and past
    ``2**126`` (float32: 8.5e37) ``1 / m`` is subnormal, flushed to 0 on the CPU: every entry would
    be 0. There both are first scaled by ``1 / sqrt(max)`` (exact, a power of two): the entries that
    this flushes are below ``m`` times the smallest normal number, 0 in the quotient anyway."""
    divisor = xp.where(m > 0, m, xp.ones_like(m))
    if array_api_compat.is_jax_array(x):
        info = xp.finfo(x.dtype)
        big = 2.0 ** (math.frexp(float(info.max))[1] // 2)  # 2**64 for float32: 1 / (m / big) is normal
        shrink = xp.where(divisor > big, xp.full_like(divisor, 1 / big), xp.ones_like(divisor))
        return (x * shrink) / (divisor * shrink), divisor
    return x / divisor, divisor


def stop_gradient(x: Array) -> Array:
    """``x`` as a constant for automatic differentiation (torch: ``detach``, JAX: ``lax.stop_gradient``)."""
    if array_api_compat.is_torch_array(x):
        return x.detach()
    if array_api_compat.is_jax_array(x):
        import jax

        return jax.lax.stop_gradient(x)
    return x


def log_softmax(xp: Any, x: Array, axis: int) -> Array:
    if _fast.use_torch(x):
        return _fast.torch_log_softmax(x, axis)  # the same formula, one kernel each way
    # log(softmax(x)) = (x - m) - log(sum(exp(x - m))): never forms softmax, so no log(0) for tiny
    # probabilities, and normalised also where |m| dwarfs the log-sum (see logsumexp_parts)
    m, log_sum = logsumexp_parts(xp, x, axis)
    return (x - m) - log_sum


def softmax(xp: Any, x: Array, axis: int) -> Array:
    if _fast.use_torch(x):
        return _fast.torch_softmax(x, axis)  # one array kept for the backward pass, not two
    # softmax(x) = exp(log_softmax(x)): never overflows
    return xp.exp(log_softmax(xp, x, axis))


def softplus(xp: Any, x: Array) -> Array:
    # log(1 + exp(x)) = logaddexp(x, 0): never overflows, and its derivative is sigmoid(x)
    # everywhere. Not max(x, 0) + log1p(exp(-|x|)): at x = 0 that relies on the subgradients of
    # max and abs cancelling, which JAX's do not (it gave 0, not 1/2).
    if _fast.use_torch(x):
        return _fast.torch_softplus(x)  # one kernel each way, no zeros array
    return xp.logaddexp(x, xp.zeros_like(x))


def abs_(xp: Any, x: Array) -> Array:
    """``|x|`` whose derivative is ``sign(x)``: 0 at ``x = 0``, as in PyTorch and MXNet.

    ``xp.abs`` everywhere but on JAX, which differentiates ``abs`` to 1 at 0 (an L1 loss at a
    perfect prediction would still push the prediction there); its ``abs`` gets a custom JVP,
    as fast under ``jit`` as the native one (``x * sign(x)`` measured 1.5x slower).
    """
    if array_api_compat.is_jax_array(x):
        return _jax_abs()(x)
    return xp.abs(x)


_JAX_ABS: Any = None


def _jax_abs() -> Any:
    global _JAX_ABS
    if _JAX_ABS is None:
        import jax
        import jax.numpy as jnp

        @jax.custom_jvp
        def abs_with_sign_derivative(x: Any) -> Any:
            return jnp.abs(x)

        @abs_with_sign_derivative.defjvp
        def _(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
            (x,), (t,) = primals, tangents
            return jnp.abs(x), jnp.sign(x) * t

        _JAX_ABS = abs_with_sign_derivative
    return _JAX_ABS


def log_sigmoid(xp: Any, x: Array) -> Array:
    # log(sigmoid(x)) = -softplus(-x)
    return -softplus(xp, -x)


def sigmoid(xp: Any, x: Array) -> Array:
    if _fast.use_torch(x):
        return _fast.torch_sigmoid(x)  # one array kept for the backward pass, not two
    # sigmoid(x) = exp(log_sigmoid(x)): never overflows
    return xp.exp(log_sigmoid(xp, x))


def relu(xp: Any, x: Array) -> Array:
    """``max(x, 0)``, with derivative 0 at ``x = 0`` as MXNet's and PyTorch's ``relu``.

    Not ``xp.maximum(x, 0)``: torch and JAX split the derivative of ``maximum`` at a tie (1/2 each),
    so a hinge exactly at its margin would get half a gradient; and its backward is several kernels.
    NaN stays NaN, as in torch's ``relu``: ``x <= 0`` is false for it (``where(x > 0, x, 0)`` made it 0).
    """
    if array_api_compat.is_torch_array(x):
        return x.relu()  # one fused kernel forward, one backward (threshold_backward)
    return xp.where(x <= 0, xp.zeros_like(x), x)


def relu_for_output(xp: Any, x: Array) -> Array:
    """:func:`relu` for a value the loss returns as it is: torch's ``relu`` saves its output for
    its backward, and a caller who edits the returned loss in place (``loss *= mask``) before
    ``backward()`` would meet autograd's error; ``threshold`` saves its input instead, with the
    same values (but +0 for -0) and the same derivative (0 at 0, NaN passed)."""
    if array_api_compat.is_torch_array(x):
        import torch

        return torch.threshold(x, 0.0, 0.0)
    return relu(xp, x)


def matmul(xp: Any, a: Array, b: Array) -> Array:
    """``a @ b`` in the inputs' dtype. On torch tensors outside ``torch.autocast``'s reach: matmul
    is on its lower-precision list, so a loss's float32 similarity matrix (InfoNCE, SupCon, ...)
    was computed in bfloat16 under autocast, 2e-2 off at a temperature of 0.05; torch's own losses
    run in float32 there, and so does every other step of these."""
    if array_api_compat.is_torch_array(a):
        import torch

        kind = a.device.type  # ("meta" has no autocast: asking would raise)
        if torch.amp.is_autocast_available(kind) and torch.is_autocast_enabled(kind):
            with torch.autocast(kind, enabled=False):
                return torch.matmul(a, b)
    return xp.matmul(a, b)


def take_along_axis(xp: Any, x: Array, indices: Array, axis: int) -> Array:
    """``xp.take_along_axis``: the entries of ``x`` at ``indices`` along ``axis`` (the other axes
    broadcast). On torch tensors ``torch.gather``, the same values and gradient: array-api-compat's
    ``torch.take_along_dim`` fixes every size of its inputs in a symbolic trace (torch 2.13), so
    that ``torch.compile(dynamic=True)`` compiled a loss again for each new batch size."""
    if not array_api_compat.is_torch_array(x):
        return xp.take_along_axis(x, indices, axis=axis)
    axis = axis % x.ndim
    if x.ndim != indices.ndim:
        raise ValueError(f"take_along_axis needs indices with x's {x.ndim} axes, got shape {tuple(indices.shape)}")
    # gather does not broadcast: an axis of size 1 (but the gathered one) is expanded to the
    # other's size (a view, no copy); sizes that are equal, the usual case, are left alone
    x_shape, i_shape = list(x.shape), list(indices.shape)
    for d, (a, b) in enumerate(zip(x.shape, indices.shape)):
        if d != axis and a != b:
            if a != 1 and b != 1:
                raise ValueError(
                    f"take_along_axis: shapes {tuple(x.shape)} and {tuple(indices.shape)} do not broadcast"
                )
            x_shape[d] = i_shape[d] = b if a == 1 else a  # (1 against 0 broadcasts to 0)
    if x_shape != list(x.shape):
        x = x.expand(*x_shape)
    if i_shape != list(indices.shape):
        indices = indices.expand(*i_shape)
    return x.gather(axis, indices)


def clamp_min(xp: Any, x: Array, low: Any) -> Array:
    """``max(x, low)`` for a number ``low``, with derivative 1 where ``x >= low`` (the tie
    included) and 0 below.

    Not ``xp.maximum``, whose derivative torch and JAX split at a tie; torch's ``clamp_min`` has
    exactly this derivative in one kernel each way (the generic ``where`` takes three forward).
    """
    if _fast.use_torch(x) and isinstance(low, float):
        # a concrete float only: torch's Scalar argument would fix a symbolic low's value in a
        # compiled graph (a recompile per value), which the generic formula keeps symbolic
        return x.clamp_min(low)
    return xp.where(x < low, xp.zeros_like(x) + low, x)


def xlogx(xp: Any, x: Array) -> Array:
    """``x * log(x)`` with the limit 0 at ``x = 0``, and a finite gradient there."""
    positive = x > 0
    safe = xp.where(positive, x, xp.ones_like(x))  # keeps log(0) out of the backward pass
    return xp.where(positive, x * xp.log(safe), x * 0)  # x * 0: 0 at 0, NaN kept


def kl_terms(xp: Any, target: Array, log_q: Array) -> Array:
    """``target * (log(target) - log_q)`` elementwise, the terms of ``KL(target || q)``.

    ``log(target)`` is read as 0 where ``target == 0``: the term is 0 there (``0 log 0 = 0``) and
    its gradient finite (``-log_q`` w.r.t. ``target``, as the limit). A negative target is no
    probability: its log, and so its term, is NaN, as in torch's ``kl_div`` and MXNet's (0 here
    once hid it on NumPy and JAX only). One log and one ``where``: ``xlogx(target) - target *
    log_q`` takes two of each, and rounds twice more.
    """
    log_target = xp.log(xp.where(target == 0, xp.ones_like(target), target))
    return target * (log_target - log_q)


def broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when an array of ``shape`` broadcasts to ``target`` without changing ``target``."""
    if len(shape) > len(target):
        return False
    for s, t in zip(reversed(shape), reversed(target)):
        if s != t and s != 1:
            return False
    return True


# A log-probability that stands for log(0): finite on purpose, so that where-masked branches and
# logaddexp never see -inf (whose gradients are NaN in some frameworks). exp(-1e30) is 0 in every
# float dtype, and the compute dtype (float32 or wider) holds -1e30 with room to spare.
LOG_ZERO = -1e30


def safe_log(xp: Any, x: Array) -> Array:
    """``log(x)`` where ``x > 0``, :data:`LOG_ZERO` elsewhere; the gradient is 0 where ``x <= 0``."""
    positive = x > 0
    safe = xp.where(positive, x, xp.ones_like(x))  # keeps log(0) out of the backward pass
    return xp.where(positive, xp.log(safe), xp.full_like(x, LOG_ZERO))


def log_cosh(xp: Any, x: Array) -> Array:
    """``log(cosh(x))`` to full relative precision: no overflow for large ``|x|``, and no
    cancellation (``log 2 - log 2``) near 0, where it is ``x**2 / 2``."""
    a = xp.abs(x)
    # keeps sinh finite in the branch not taken; where, not minimum(a, 1), whose derivative at a
    # tie (|x| = 1 exactly) torch and JAX split in half
    near = xp.where(a <= 1, a, xp.ones_like(a))
    # |x| <= 1: log(cosh x) = log1p(cosh x - 1) = log1p(2 sinh(x/2)^2)
    small = xp.log1p(2 * xp.square(xp.sinh(near / 2)))
    # |x| > 1: log(cosh x) = |x| + log(1 + exp(-2|x|)) - log 2 = |x| + softplus(-2|x|) - log 2
    large = a + softplus(xp, -2 * a) - math.log(2.0)
    return xp.where(a <= 1, small, large)


def log1m_softmax(xp: Any, x: Array, axis: int) -> Array:
    """``log(1 - softmax(x))`` along ``axis``, exact with a finite gradient also where a
    probability rounds to 1 (where ``log1p(-softmax(x))`` gives ``-inf`` and a NaN gradient).

    Only the top class can have ``p > 1/2``; every ``p <= 1/2`` takes ``log1p(-p)``, exact there.
    For the top class above 1/2, ``1 - p = sum_{j != top} exp(x_j) / sum_j exp(x_j)``: the
    ``logsumexp`` of the other classes minus that of all, never formed as ``1 - p``.
    """
    m, log_sum = logsumexp_parts(xp, x, axis)
    p = xp.exp((x - m) - log_sum)  # softmax(x) = exp(log_softmax(x))
    top = positions(xp, x, axis) == xp.argmax(x, axis=axis, keepdims=True)
    return _log1m_probability(xp, x, p, top, m, log_sum, axis)


def log1m_softmax_at(xp: Any, x: Array, index: Array, log_p: Array, m: Array, log_sum: Array, axis: int) -> Array:
    """:func:`log1m_softmax` of the class ``index`` alone (``x``'s shape with ``axis`` of size 1),
    given its ``log_p`` and ``x``'s :func:`logsumexp_parts`: one masked copy of ``x`` where the
    whole ``log(1 - softmax(x))`` takes six arrays of ``x``'s size (a focal loss's sparse target)."""
    return _log1m_probability(xp, x, xp.exp(log_p), positions(xp, x, axis) == index, m, log_sum, axis)


def positions(xp: Any, x: Array, axis: int) -> Array:
    """``0, 1, ..., C - 1`` along ``axis``, shaped to broadcast against ``x``."""
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    return xp.reshape(xp.arange(x.shape[axis], device=device(x)), tuple(shape))


def _log1m_probability(xp: Any, x: Array, p: Array, own: Array, m: Array, log_sum: Array, axis: int) -> Array:
    """``log(1 - p)`` for probabilities ``p`` of ``softmax(x)`` along ``axis``, ``own`` marking
    each row's class whose probability may exceed 1/2 (the top class; with one ``p`` a row, its
    class): ``log1p(-p)`` where ``p <= 1/2``, else the ``logsumexp`` of the row's other classes
    minus that of all (``m``, ``log_sum``: :func:`logsumexp_parts` of ``x``)."""
    big = p > 0.5  # only a row's top class can be
    # p <= 1/2: log(1 - p) = log1p(-p); 1/2 stands in where p > 1/2 so the unused branch stays finite
    low = xp.log1p(-xp.where(big, xp.full_like(p, 0.5), p))
    # p > 1/2: log(1 - p) = logsumexp_{j != own}(x) - logsumexp(x)
    # = (m_rest - m) + (log_sum_rest - log_sum): the shifts subtracted first, as in log_softmax
    m_rest, log_sum_rest = logsumexp_parts(xp, xp.where(own, xp.full_like(x, LOG_ZERO), x), axis)
    rest = (m_rest - m) + (log_sum_rest - log_sum)
    return xp.where(big, rest, low)
