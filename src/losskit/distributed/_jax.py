"""JAX path: vocabulary-parallel cross-entropy inside ``jax.shard_map``, and a wrapper for sharded arrays.

Gradients come from JAX's autodiff through the collectives: ``psum`` transposes to a broadcast of
the (replicated) cotangent, so each device gets ``softmax_local - onehot_local`` with no
communication in the backward pass; the maximum is a constant for autodiff (``stop_gradient``),
which leaves the gradient unchanged because the loss does not depend on it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from .._array import namespace
from .._core import as_index, check_labels_in_range, without_ignored
from ._common import check_int, check_label_shape, check_options

AxisNames = Hashable | tuple[Hashable, ...] | None

try:
    from jax import shard_map
except ImportError:  # jax.shard_map, jax.lax.axis_size and jax.typeof are all public from JAX 0.7 on
    raise ImportError(f"losskit.distributed's JAX functions need JAX 0.7 or newer, found {jax.__version__}") from None


def vocab_parallel_cross_entropy_jax(
    local_logits: jax.Array,
    label: jax.Array,
    *,
    axis_name: AxisNames,
    vocab_size: int | None = None,
    batch_axis_name: AxisNames = None,
    ignore_index: int = -100,
    reduction: str = "none",
    label_smoothing: float = 0.0,
) -> jax.Array:
    r"""Softmax cross-entropy of logits whose vocabulary is split over the mesh axis ``axis_name``:
    the per-device function to call inside ``jax.shard_map``.

    Each device holds the columns ``[k V_loc, (k + 1) V_loc)`` of the ``(..., V)`` logits, ``k`` its
    index along ``axis_name`` (``jax.lax.axis_index``), and the same labels as the other devices
    of that axis. It returns the exact full-vocabulary loss, the same on each of them:

    .. math::
        \ell_i = \log \sum_k \sum_{v \in k} e^{z_{iv} - m_i} - (z_{i y_i} - m_i), \qquad
        m_i = \operatorname{pmax}_k \max_{v \in k} z_{iv}

    with label smoothing :math:`\varepsilon` as ``optax`` / ``torch``

    .. math::
        (1 - \varepsilon)\,\ell_i + \varepsilon \Bigl(\log \sum_v e^{z_{iv} - m_i} - \frac1V \sum_v (z_{iv} - m_i)\Bigr)

    ``axis_name`` is a mesh axis name or a tuple of them (the vocabulary split over several axes,
    in that order), or ``()`` for logits that are not split (then no collective is made, and the
    function also works outside ``shard_map``). ``vocab_size`` (``<= V``) marks the columns from
    ``vocab_size`` on as padding, excluded from the softmax: ``shard_map`` needs ``V`` divisible by
    the number of devices, so an uneven vocabulary is padded up to a multiple. ``reduction='mean'``
    or ``'sum'`` reduces the local rows, and also over ``batch_axis_name`` when the rows are split
    over other mesh axes (a ``psum`` of the sum and the count).

    Shape:
        - local_logits: ``(..., V_loc)``; label: ``(...)``, class indices in ``[0, V)`` or ``ignore_index``.
        - output: ``(...)`` for ``'none'`` (0 where ignored), else a 0-d array; ``'mean'`` divides by the
          number of labels not ignored and is 0, with a zero gradient, when there are none.

    Communication: a ``pmax`` of the ``N`` row maxima, then one ``psum`` of the ``(N,)`` sums of
    exponentials, target logits (non-zero on one device) and, with smoothing, logit sums; nothing
    in the backward pass (``psum`` transposes to a local broadcast). ``'mean'``/``'sum'`` over
    ``batch_axis_name`` add a ``psum`` of two scalars.

    Stability: computed in float32, or float64 for float64 logits; the result has the logits'
    dtype. Each device subtracts the global maximum before ``exp``, and the loss is the sum of two
    non-negative terms (``log`` of a sum that includes ``e^0 = 1``, and ``m - z_y``). Labels are
    range-checked only when concrete (outside ``shard_map`` and ``jit``); :func:`sharded_cross_entropy`
    checks them before entering ``shard_map``.

    >>> from functools import partial
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from jax.sharding import Mesh, PartitionSpec as P
    >>> from losskit.distributed import vocab_parallel_cross_entropy_jax
    >>> mesh = Mesh(np.array(jax.devices()[:1]), ("vocab",))
    >>> loss = jax.jit(jax.shard_map(
    ...     partial(vocab_parallel_cross_entropy_jax, axis_name="vocab"),
    ...     mesh=mesh, in_specs=(P(None, "vocab"), P()), out_specs=P(),
    ... ))
    >>> logits = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=jnp.float32)
    >>> np.round(np.asarray(loss(logits, jnp.array([0, 2]))), 4)
    array([0.5514, 1.0986], dtype=float32)
    """
    eps = check_options(reduction, ignore_index, label_smoothing)
    local_logits, label = _check_arrays(local_logits, label, "local_logits")
    names, batch_names = _names(axis_name), _names(batch_axis_name)
    v_local = local_logits.shape[-1]
    try:
        n_shards = jax.lax.axis_size(names)
        jax.lax.axis_size(batch_names)
    except NameError as e:
        raise ValueError(
            f"axis_name={axis_name!r}, batch_axis_name={batch_axis_name!r}: {e}; call this function "
            "inside jax.shard_map over a mesh with these axes (or pass axis_name=() for unsplit logits)"
        ) from None
    vocab = _vocab(vocab_size, n_shards * v_local)
    _check_labels(label, ignore_index, vocab)
    if label.size == 0 and reduction != "none":
        # no rows here, so none on any device of the batch axes (shard_map splits evenly): the sum,
        # and the mean of nothing, are 0, as on the torch path; the jitted _loss of empty operands
        # inside shard_map fails to lower (jax 0.10.2: func.call of its manual computation)
        return jnp.zeros((), local_logits.dtype)  # a constant: replicated, and a zero gradient
    return _loss(local_logits, label, names, batch_names, vocab, int(ignore_index), eps, reduction)


def sharded_cross_entropy(
    logits: jax.Array,
    label: jax.Array,
    *,
    sharding: NamedSharding | None = None,
    vocab_size: int | None = None,
    ignore_index: int = -100,
    reduction: str = "none",
    label_smoothing: float = 0.0,
) -> jax.Array:
    """Softmax cross-entropy of a global ``jax.Array`` of logits ``(..., V)`` whose vocabulary axis is
    sharded: :func:`vocab_parallel_cross_entropy_jax` run under ``jax.shard_map``, so the logits are
    never gathered.

    The mesh and the partition come from ``sharding``, by default the logits' own ``NamedSharding``
    (under ``jax.jit`` a traced array carries it only on a mesh with explicit axes: pass
    ``sharding=`` there). The last entry of its ``PartitionSpec`` names the mesh axes that split
    the vocabulary; the leading entries may split the rows too (data parallelism), and then
    ``'mean'``/``'sum'`` reduce over all of them. The label is laid out like the rows. When the
    vocabulary axis is not sharded (or there is no ``NamedSharding``) this is the plain
    cross-entropy, left to XLA's partitioner.

    Formula, options, communication and stability as :func:`vocab_parallel_cross_entropy_jax`;
    ``vocab_size`` marks the columns past it as padding (a vocabulary padded to a multiple of the
    number of shards). Labels outside ``[0, vocab_size)`` raise ``ValueError`` when concrete.

    Shape:
        - logits: ``(..., V)``, ``V`` divisible by the number of devices on its mesh axes.
        - label: ``(...)``; output: ``(...)`` for ``'none'`` (sharded like the rows), else a 0-d array.

    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from jax.sharding import NamedSharding, PartitionSpec as P
    >>> from losskit.distributed import sharded_cross_entropy
    >>> mesh = jax.make_mesh((1,), ("vocab",))
    >>> logits = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=jnp.float32)
    >>> logits = jax.device_put(logits, NamedSharding(mesh, P(None, "vocab")))
    >>> round(float(sharded_cross_entropy(logits, jnp.array([0, 2]), reduction="mean")), 4)
    0.825
    """
    eps = check_options(reduction, ignore_index, label_smoothing)
    logits, label = _check_arrays(logits, label, "logits")
    vocab = _vocab(vocab_size, logits.shape[-1])
    _check_labels(label, ignore_index, vocab)
    if sharding is None:
        sharding = _sharding_of(logits)
    elif not isinstance(sharding, NamedSharding):
        raise TypeError(f"sharding must be a jax.sharding.NamedSharding, got {type(sharding).__name__}")
    spec = () if sharding is None else tuple(sharding.spec)
    if sharding is not None and len(spec) > logits.ndim:
        raise ValueError(f"the PartitionSpec {sharding.spec} has more entries than logits has axes ({logits.ndim})")
    spec = spec + (None,) * (logits.ndim - len(spec))
    options = {"vocab_size": vocab_size, "ignore_index": int(ignore_index), "reduction": reduction}
    if sharding is None or spec[-1] is None:
        return _loss(logits, label, (), (), vocab, int(ignore_index), eps, reduction)
    mesh = sharding.mesh
    for axis, (entry, dim) in enumerate(zip(spec, logits.shape)):
        devices = math.prod(mesh.shape[a] for a in _names(entry))
        if dim % devices:
            hint = "; pad the vocabulary to a multiple and pass vocab_size=" if axis == logits.ndim - 1 else ""
            raise ValueError(
                f"logits axis {axis} of size {dim} does not split evenly over the {devices} devices of mesh "
                f"axes {_names(entry)}{hint}"
            )
    if _explicit(mesh):  # there shard_map takes each input only in the layout its spec names
        label = jax.reshard(label, NamedSharding(mesh, PartitionSpec(*spec[:-1])))
    return _sharded(mesh, PartitionSpec(*spec), eps, **options)(logits, label)


@functools.lru_cache(maxsize=64)
def _sharded(mesh: Any, spec: PartitionSpec, eps: float, **options: Any) -> Any:
    """The jitted ``shard_map`` for one layout and set of options, kept so that eager calls reuse
    its compilation (an eager ``shard_map`` runs op by op, and a fresh ``jit`` compiles again)."""
    rows = PartitionSpec(*spec[:-1])
    fn = functools.partial(
        vocab_parallel_cross_entropy_jax,
        axis_name=_names(spec[-1]),
        batch_axis_name=tuple(a for entry in spec[:-1] for a in _names(entry)),
        label_smoothing=eps,
        **options,
    )
    out_spec = rows if options["reduction"] == "none" else PartitionSpec()
    return jax.jit(shard_map(fn, mesh=mesh, in_specs=(spec, rows), out_specs=out_spec))


def _names(axis_name: AxisNames) -> tuple[Hashable, ...]:
    if axis_name is None:
        return ()
    return tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)


def _check_arrays(logits: Any, label: Any, name: str) -> tuple[jax.Array, jax.Array]:
    logits, label = jnp.asarray(logits), jnp.asarray(label)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {logits.dtype}")
    if not jnp.issubdtype(label.dtype, jnp.integer):
        raise TypeError(f"label must hold integer class indices, got dtype {label.dtype}")
    check_label_shape(tuple(label.shape), tuple(logits.shape), name)
    return logits, label


def _vocab(vocab_size: int | None, columns: int) -> int:
    if columns == 0:  # (the label check would say "outside the valid range [0, -1]")
        raise ValueError("the logits have no vocabulary columns: the vocabulary needs at least one class")
    if vocab_size is None:
        return columns
    vocab_size = check_int(vocab_size, "vocab_size", low=1)
    if vocab_size > columns:
        raise ValueError(f"vocab_size={vocab_size} exceeds the {columns} columns of the (padded) logits")
    return vocab_size


def _check_labels(label: jax.Array, ignore_index: int, vocab: int) -> None:
    """Labels in ``[0, vocab)`` or ``ignore_index``, checked on the host when concrete: a few integers
    copied there cost less than compiling the device operations of the check."""
    if isinstance(label, jax.core.Tracer):
        return
    y = np.asarray(label)
    xp = namespace(y)
    check_labels_in_range(xp, without_ignored(xp, y, ignore_index), 0, vocab)


def _sharding_of(logits: jax.Array) -> NamedSharding | None:
    if isinstance(logits, jax.core.Tracer):
        sharding = getattr(jax.typeof(logits), "sharding", None)  # set on meshes with explicit axes
    else:
        sharding = getattr(logits, "sharding", None)
    return sharding if isinstance(sharding, NamedSharding) else None


def _explicit(mesh: Any) -> bool:
    explicit = getattr(jax.sharding.AxisType, "Explicit", None)
    return explicit is not None and explicit in getattr(mesh, "axis_types", ())


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6, 7))  # eager calls run compiled, not op by op
def _loss(
    local_logits: jax.Array,
    label: jax.Array,
    names: tuple[Hashable, ...],
    batch_names: tuple[Hashable, ...],
    vocab: int,
    ignore_index: int,
    eps: float,
    reduction: str,
) -> jax.Array:
    acc = jnp.promote_types(local_logits.dtype, jnp.float32)  # float32, or float64 for float64 logits
    lead, v_local = label.shape, local_logits.shape[-1]
    n = math.prod(lead)
    x = local_logits.reshape(n, v_local).astype(acc)
    # in the index dtype: compared with a negative ignore_index, an unsigned label would wrap it
    # (uint8: -100 is 156), and a uint32 past int32's range must not wrap to -100 or to a class
    y = as_index(jnp, label.reshape(n))
    start = jax.lax.axis_index(names) * v_local
    real = None
    if vocab < jax.lax.axis_size(names) * v_local:
        real = start + jnp.arange(v_local) < vocab
        x = jnp.where(real, x, -jnp.inf)  # padding columns: exp(-inf - m) = 0, and a zero gradient
    m = jax.lax.pmax(jax.lax.stop_gradient(jnp.max(x, axis=1)), names)
    m = jnp.where(jnp.isfinite(m), m, 0.0)  # a row of -inf logits: keep inf - inf out
    shifted = x - m[:, None]
    valid = y != ignore_index
    i = y - start
    mine = valid & (i >= 0) & (i < v_local)
    picked = jnp.take_along_axis(shifted, jnp.clip(i, 0, v_local - 1)[:, None], axis=1)[:, 0]
    sums = [jnp.sum(jnp.exp(shifted), axis=1), jnp.where(mine, picked, 0.0)]  # z_y - m on its device only
    if eps:
        sums.append(jnp.sum(shifted if real is None else jnp.where(real, shifted, 0.0), axis=1))
    sum_exp, target, *rest = jax.lax.psum(tuple(sums), names)
    log_sum = jnp.log(sum_exp)
    # -log softmax(z)_y = log(sum_v e^(z_v - m)) - (z_y - m): both terms >= 0, so no cancellation
    loss = log_sum - target
    if eps:
        # smoothed: (1 - eps) (-log p_y) + eps * mean_v(-log p_v), -log p_v = log_sum - (z_v - m)
        loss = (1 - eps) * loss + eps * (log_sum - rest[0] / vocab)
    loss = jnp.where(valid, loss, 0.0)
    if reduction == "none":
        return loss.reshape(lead).astype(local_logits.dtype)
    total, count = jax.lax.psum((jnp.sum(loss), jnp.sum(valid)), batch_names)
    if reduction == "mean":
        total = jnp.where(count > 0, total / jnp.maximum(count, 1), 0.0)  # 0 with a zero gradient when all ignored
    return total.astype(local_logits.dtype)
