"""PyTorch path: vocabulary-parallel cross-entropy over a ``torch.distributed`` process group."""

from __future__ import annotations

from typing import Any

import array_api_compat
import torch
import torch.distributed as dist

from .._array import namespace
from .._core import REDUCTIONS, check_labels_in_range, without_ignored
from ..fused._torch import refuse_second_derivative
from ._common import check_int, check_label_shape, check_options, check_partition


def vocab_parallel_cross_entropy(
    local_logits: torch.Tensor,
    label: torch.Tensor,
    *,
    vocab_start: int,
    vocab_size: int | None = None,
    group: Any = None,
    ignore_index: int = -100,
    reduction: str = "none",
    label_smoothing: float = 0.0,
    check_shards: bool = False,
) -> torch.Tensor:
    r"""Softmax cross-entropy over a vocabulary split across the ranks of ``group`` (tensor parallelism).

    Rank ``r`` holds the logits of its contiguous vocabulary shard ``[vocab_start, vocab_start + V_r)``;
    every rank holds the same labels. The result is the exact full-vocabulary loss, the same on
    every rank, as Megatron-LM's ``vocab_parallel_cross_entropy``:

    .. math::
        \ell_i = \log \sum_r \sum_{v \in r} e^{z_{iv} - m_i} - (z_{i y_i} - m_i), \qquad
        m_i = \max_r \max_{v \in r} z_{iv}

    and with label smoothing :math:`\varepsilon` (as ``torch.nn.functional.cross_entropy``)

    .. math::
        (1 - \varepsilon)\,\ell_i + \varepsilon \Bigl(\log \sum_v e^{z_{iv} - m_i} - \frac1V \sum_v (z_{iv} - m_i)\Bigr)

    Equals ``torch.nn.functional.cross_entropy(full_logits, label, ignore_index=ignore_index,
    reduction=reduction, label_smoothing=label_smoothing)`` on the concatenated logits.

    Shape:
        - local_logits: ``(..., V_r)``, this rank's columns of the ``(..., V)`` logits (``V_r = 0`` is allowed).
        - label: ``(...)`` of class indices in ``[0, V)`` or ``ignore_index``, identical on every rank.
        - output: ``(...)`` for ``'none'`` (0 where ignored), else a 0-d tensor; ``'mean'`` divides by the
          number of labels not ignored and is 0, with a zero gradient, when there are none.

    Communication: two all-reduces in the forward pass (Megatron-LM makes three): the ``N`` row
    maxima (MAX), then one SUM of a ``(k, N)`` stack of the sums of exponentials, the target logits
    (each held by one rank, 0 elsewhere) and, with label smoothing, the sums of logits. The backward pass
    communicates nothing: the gradient of the local logits is ``softmax_local - onehot_local``
    (``(1 - eps) onehot + eps / V`` with smoothing) times the upstream gradient, formed from the
    saved log-sum-exp. This assumes every rank back-propagates the same upstream gradient, as when
    all ranks compute the same objective from the replicated loss.

    Checks, before any arithmetic: shapes, dtypes and options locally; then, unless ``vocab_size``
    is given, one all-gather of nine integers per rank that yields ``V`` and checks that the
    shards tile ``[0, V)`` (in any rank order), that all ranks hold labels of one shape and logits
    of one working precision (float64, or float32 for the other float dtypes), and that they pass
    the same ``vocab_size``, ``ignore_index``, ``label_smoothing`` and ``reduction``, then one
    all-reduce (MAX) of ``2N`` integers that checks that they hold the same labels; every rank
    raises the same ``ValueError`` if not. ``check_shards=True`` makes that check also when
    ``vocab_size`` is given. Without it only ``vocab_start + V_r <= vocab_size`` is checked, with
    no communication, and ranks that disagree are not told: different rows, precisions or
    smoothing all-reduce buffers of different sizes (gloo aborts the process), a different
    ``ignore_index`` gives each rank its own loss. Keep ``check_shards=True`` until a set-up is
    known to agree. Labels outside ``[0, V)`` raise on eager tensors. The labels
    check and the shard check read values on the host (a device synchronisation). An error found
    by one rank alone, before the all-gather or without it, leaves the others waiting in their next
    collective until the process group's timeout.

    Without an initialised ``torch.distributed`` (or with a group of one rank) this is the plain
    single-process loss, with ``vocab_start=0`` and the whole vocabulary local.

    Stability: computed in float32, or float64 for float64 logits (bfloat16/float16 are upcast);
    the result has the logits' dtype. Each rank subtracts the global maximum before ``exp``, so
    nothing overflows, and the loss is the sum of two non-negative terms (``log`` of a sum that
    includes ``e^0 = 1``, and ``m - z_y``): no cancellation between large numbers.

    >>> import torch
    >>> from losskit.distributed import vocab_parallel_cross_entropy
    >>> logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> vocab_parallel_cross_entropy(logits, torch.tensor([0, 2]), vocab_start=0)  # one process
    tensor([0.5514, 1.0986])
    """
    eps = check_options(reduction, ignore_index, label_smoothing)
    if array_api_compat.is_jax_array(local_logits):
        raise TypeError(
            "vocab_parallel_cross_entropy takes torch tensors; for JAX arrays use "
            "vocab_parallel_cross_entropy_jax inside jax.shard_map, or sharded_cross_entropy"
        )
    if not isinstance(local_logits, torch.Tensor) or not isinstance(label, torch.Tensor):
        raise TypeError(
            f"local_logits and label must be torch tensors, got {type(local_logits).__name__} "
            f"and {type(label).__name__}"
        )
    if not local_logits.is_floating_point():
        raise TypeError(f"local_logits must be a floating-point tensor, got dtype {local_logits.dtype}")
    if label.is_floating_point() or label.is_complex() or label.dtype == torch.bool:
        raise TypeError(f"label must hold integer class indices, got dtype {label.dtype}")
    check_label_shape(tuple(label.shape), tuple(local_logits.shape), "local_logits")
    vocab_start = check_int(vocab_start, "vocab_start", low=0)
    if vocab_size is not None:
        vocab_size = check_int(vocab_size, "vocab_size", low=1)
    if not isinstance(check_shards, bool):
        raise TypeError(f"check_shards must be a bool, got {check_shards!r}")

    distributed = dist.is_available() and dist.is_initialized()
    world = dist.get_world_size(group) if distributed else 1
    if world < 1:
        raise ValueError("this rank is not a member of the given process group")
    distributed = world > 1
    lead = tuple(local_logits.shape[:-1])
    v_local = local_logits.shape[-1]
    shard = (vocab_start, vocab_start + v_local)
    if not distributed:
        vocab = check_partition([shard], vocab_size)
    elif vocab_size is None or check_shards:
        # the working precision too: float32 beside float64 all-reduces buffers of two sizes, which
        # gloo answers by aborting the process, not with an error
        precision = 8 * _working_dtype(local_logits).itemsize
        options = (-1 if vocab_size is None else vocab_size, precision, ignore_index, eps, REDUCTIONS.index(reduction))
        vocab = check_partition(_gather_shards(shard, label, options, group, world), vocab_size)
    else:
        if shard[1] > vocab_size:
            raise ValueError(
                f"this rank's shard [{shard[0]}, {shard[1]}) reaches past vocab_size={vocab_size}; "
                "vocab_start plus local_logits.shape[-1] must not exceed vocab_size"
            )
        vocab = vocab_size
    n = label.numel()
    logits = local_logits.reshape(n, v_local)
    # in int64 first: a uint8 label compared with -100 would wrap it to 156, and a label 156 be ignored
    y = label.reshape(n).long()
    # ignored positions are checked as class 0; skipped under torch.compile
    xp = namespace(y)
    check_labels_in_range(xp, without_ignored(xp, y, ignore_index), 0, vocab)
    valid = y != ignore_index
    idx = y - vocab_start
    mine = valid & (idx >= 0) & (idx < v_local)
    idx = torch.where(mine, idx, 0)
    comm = group if distributed else _LOCAL
    loss = _VocabParallelCrossEntropy.apply(logits, idx, mine, valid, vocab, eps, comm)
    if reduction == "none":
        out = loss.reshape(lead)
    elif reduction == "sum":
        out = loss.sum()
    else:
        count = valid.sum()
        out = torch.where(count > 0, loss.sum() / count.clamp(min=1), 0.0)  # 0 with a zero gradient when all ignored
    return out.to(local_logits.dtype)


_LOCAL = object()  # stands for "no process group": the collectives are skipped


def _working_dtype(logits: torch.Tensor) -> torch.dtype:
    """The dtype the loss is computed in: float32, or float64 for float64 logits."""
    return torch.promote_types(logits.dtype, torch.float32)


def _all_reduce(t: torch.Tensor, op: Any, group: Any) -> torch.Tensor:
    if group is not _LOCAL:
        dist.all_reduce(t, op=op, group=group)
    return t


def _gather_shards(
    shard: tuple[int, int], label: torch.Tensor, options: tuple[int, int, int, float, int], group: Any, world: int
) -> list[tuple[int, int]]:
    """All-gather ``(start, stop, rows, label shape, vocab_size, precision, ignore_index,
    label_smoothing, reduction)``, then compare the labels exactly; raise on every rank alike if the
    ranks disagree."""
    y = label.reshape(-1).long()
    vocab_size, precision, ignore_index, eps, reduction = options
    # label_smoothing travels as its float64 bits, so ranks compare it exactly (an eps of 0 on one
    # rank and not on another would all-reduce stacks of different sizes: a hang, not an error)
    eps_bits = torch.tensor(eps, dtype=torch.float64).view(torch.int64).item()
    # the label's shape as its hash (int tuples hash alike in every process): (2, 3) beside (3, 2)
    # would give each rank an output of its own shape
    shape = hash(tuple(label.shape))
    info = [*shard, y.numel(), shape, vocab_size, precision, ignore_index, eps_bits, reduction]
    info_t = torch.tensor(info, dtype=torch.int64, device=y.device)
    parts = [torch.empty_like(info_t) for _ in range(world)]
    dist.all_gather(parts, info_t, group=group)
    rows = [p.tolist() for p in parts]
    if len({r[2] for r in rows}) > 1:
        raise ValueError(f"the ranks hold different numbers of rows: {[r[2] for r in rows]} (rank 0, 1, ...)")
    if len({r[3] for r in rows}) > 1:
        raise ValueError(
            f"the ranks hold labels of different shapes with the same number of rows ({y.numel()}); "
            "every rank must pass labels of one shape"
        )
    if len({r[5] for r in rows}) > 1:
        got_dtypes = ["float64" if r[5] == 64 else "float32, bfloat16 or float16" for r in rows]
        raise ValueError(
            f"the ranks' logits compute in different precisions: {got_dtypes} (rank 0, 1, ...); "
            "pass float64 logits on every rank or on none"
        )
    if len({tuple(r[4:5] + r[6:]) for r in rows}) > 1:
        got = {
            "vocab_size": [None if r[4] == -1 else r[4] for r in rows],
            "ignore_index": [r[6] for r in rows],
            "label_smoothing": [torch.tensor(r[7]).view(torch.float64).item() for r in rows],
            "reduction": [REDUCTIONS[r[8]] for r in rows],
        }
        differ = "; ".join(f"{k} {v}" for k, v in got.items() if len(set(v)) > 1)
        raise ValueError(f"the ranks pass different options: {differ} (rank 0, 1, ...); every rank must pass the same")
    # the labels are equal on every rank iff their elementwise maximum equals their minimum: one MAX
    # of (y, -y) gives both, the same on every rank, so all ranks decide alike (exact, unlike a checksum)
    extremes = torch.cat([y, -y])
    dist.all_reduce(extremes, op=dist.ReduceOp.MAX, group=group)
    if not torch.equal(extremes[: y.numel()], -extremes[y.numel() :]):
        raise ValueError("the ranks hold different labels; every rank of the group must pass the same labels")
    return [(r[0], r[1]) for r in rows]


class _VocabParallelCrossEntropy(torch.autograd.Function):
    """Per-row loss ``(N,)`` in float32 or wider, 0 at ignored rows; the gradient needs no communication."""

    @staticmethod
    def forward(
        ctx: Any,
        logits: torch.Tensor,
        idx: torch.Tensor,
        mine: torch.Tensor,
        valid: torch.Tensor,
        vocab: int,
        eps: float,
        group: Any,
    ) -> torch.Tensor:
        acc = _working_dtype(logits)
        n, v_local = logits.shape
        x = logits.to(acc)
        if v_local:
            m = x.amax(dim=1)
        else:
            m = torch.full((n,), -torch.inf, dtype=acc, device=logits.device)
        _all_reduce(m, dist.ReduceOp.MAX, group)
        m = torch.where(torch.isfinite(m), m, 0.0)  # a row of -inf logits: keep inf - inf out
        shifted = x - m[:, None]
        stats = torch.zeros((3 if eps else 2, n), dtype=acc, device=logits.device)
        if v_local:
            stats[1] = torch.where(mine, shifted.gather(1, idx[:, None])[:, 0], 0.0)  # z_y - m on its rank only
            if eps:
                stats[2] = shifted.sum(dim=1)
            stats[0] = shifted.exp_().sum(dim=1)
        _all_reduce(stats, dist.ReduceOp.SUM, group)
        log_sum = stats[0].log()
        # -log softmax(z)_y = log(sum_v e^(z_v - m)) - (z_y - m): both terms >= 0, so no cancellation
        loss = log_sum - stats[1]
        if eps:
            # smoothed: (1 - eps) (-log p_y) + eps * mean_v(-log p_v), -log p_v = log_sum - (z_v - m)
            loss = (1 - eps) * loss + eps * (log_sum - stats[2] / vocab)
        loss = torch.where(valid, loss, 0.0)
        ctx.save_for_backward(logits, m + log_sum, idx, mine, valid)
        ctx.vocab, ctx.eps = vocab, eps
        return loss

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        refuse_second_derivative()
        logits, lse, idx, mine, valid = ctx.saved_tensors
        eps = ctx.eps
        grad = torch.sub(logits.to(lse.dtype), lse[:, None]).exp_()  # softmax = exp(z - logsumexp(z))
        if eps:
            grad.sub_(eps / ctx.vocab)
        if grad.shape[1]:
            grad.scatter_add_(1, idx[:, None], (mine.to(grad.dtype) * (eps - 1.0))[:, None])
        grad.mul_(torch.where(valid, grad_out.to(grad.dtype), 0.0)[:, None])
        return grad.to(logits.dtype), *(None,) * 6
