"""Backend fast paths: the host framework's fused op, where its semantics equal losskit's exactly.

Every function here stands for one generic array-API formula of :mod:`losskit.functional` and
returns the same *unreduced* loss (the array the generic formula hands to ``finish``), from
inputs the public function has already checked and converted: floats in their compute dtype,
labels cast to ``pred``'s dtype and shape (sparse labels as indices with ``pred``'s shape less
its class axis).

A fast path is taken only where the framework's op agrees with the generic formula in value
*and* gradient for every input the generic path accepts. Where it does not, the guard beside
it says so (``*_applies``): PyTorch's ``binary_cross_entropy_with_logits`` has no gradient for
``pos_weight``; its ``kl_div`` and full ``poisson_nll_loss`` give a NaN gradient to a target
that is 0, where the generic path's ``xlogx`` gives a finite one. ``tests/test_fast_paths.py``
checks each against the generic path, values and gradients.

Nothing here imports a framework at import time: ``torch`` is imported inside the functions,
which are only reached with torch tensors.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import threading
from collections.abc import Iterator
from typing import Any

import array_api_compat

from ._compile import torch_tracing
from ._switch import Switch

Array = Any

# Reduction enums of torch's C++ losses (``torch.nn._reduction``): calling ``torch._C._nn``
# directly skips ``torch.nn.functional``'s Python argument handling, a few microseconds a call.
_NONE = 0  # the bindings take the enum; their type stubs say str: hence the type: ignore[arg-type]


_FAST_PATHS = Switch("losskit_fast_paths", True)


def fast_paths_on() -> bool:
    """Whether the fast paths run (off inside :func:`disabled`)."""
    return _FAST_PATHS.on()


# Dynamo runs it rather than tracing it (the context lookup is not traceable): a constant of the graph
fast_paths_on._dynamo_marked_constant = True  # type: ignore[attr-defined]


def is_torch(x: Any) -> bool:
    """True for a ``torch.Tensor`` (without importing torch when it is not loaded)."""
    return array_api_compat.is_torch_array(x)


def use_torch(x: Any) -> bool:
    """True when ``x`` is a torch tensor and fast paths are on: the hook in each public function."""
    return array_api_compat.is_torch_array(x) and fast_paths_on()


def use_jax(x: Any) -> bool:
    """True when ``x`` is a JAX array and fast paths are on (CTC's optax path)."""
    return array_api_compat.is_jax_array(x) and fast_paths_on()


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the generic array-API path everywhere inside the block, in this thread or task (the
    reference in tests and benchmarks; a graph compiled inside keeps the path it was compiled with)."""
    with _FAST_PATHS.block(False):
        yield


# --------------------------------------------------------------------------------------------
# regression: mse, l1, smooth_l1, poisson_nll
# --------------------------------------------------------------------------------------------


def torch_l2(pred: Array, label: Array) -> Array:
    """``(label - pred)**2`` elementwise, as ``torch.nn.functional.mse_loss(reduction='none')``."""
    import torch

    return torch._C._nn.mse_loss(pred, label, _NONE)  # type: ignore[arg-type]


def torch_l1(pred: Array, label: Array) -> Array:
    """``|label - pred|`` elementwise, as ``torch.nn.functional.l1_loss(reduction='none')``."""
    import torch

    return torch.abs(torch.sub(pred, label))


def torch_huber(pred: Array, label: Array, rho: float) -> Array:
    """Huber with threshold ``rho``: ``smooth_l1_loss(beta=rho)``, which uses the same two branches."""
    import torch

    return torch._C._nn.smooth_l1_loss(pred, label, _NONE, float(rho))  # type: ignore[arg-type]


def poisson_nll_applies(target: Array, compute_full: bool) -> bool:
    """torch's Stirling term multiplies ``log(target)`` at ``target = 0`` (NaN gradient there)."""
    return not (compute_full and getattr(target, "requires_grad", False))


def torch_poisson_nll(pred: Array, target: Array, *, from_logits: bool, compute_full: bool, epsilon: float) -> Array:
    """``exp(p) - t p`` (logits) or ``p - t log(p + eps)``, plus Stirling's term for ``t > 1`` if ``compute_full``."""
    import torch

    return torch.poisson_nll_loss(pred, target, bool(from_logits), bool(compute_full), float(epsilon), _NONE)


# --------------------------------------------------------------------------------------------
# classification: sigmoid BCE, sparse softmax CE, KL divergence
# --------------------------------------------------------------------------------------------


def bce_applies(pos_weight: Any) -> bool:
    """torch's fused BCE takes a tensor ``pos_weight`` without gradient, or none."""
    if pos_weight is None:
        return True
    return is_torch(pos_weight) and not pos_weight.requires_grad


def torch_bce_with_logits(pred: Array, label: Array, pos_weight: Array | None = None) -> Array:
    """``(1 - z) x + (1 + (p_w - 1) z) softplus(-x)``: ``binary_cross_entropy_with_logits(reduction='none')``."""
    import torch

    if pos_weight is not None:
        pos_weight = pos_weight.to(pred.dtype)
    return torch.binary_cross_entropy_with_logits(pred, label, None, pos_weight, _NONE)


def torch_softplus(x: Array) -> Array:
    """``log(1 + exp(x))``, as the generic ``logaddexp(x, 0)``, by torch's fused ``softplus``.

    Its ``threshold`` returns ``x`` itself (gradient 1) above it: tied to the dtype so that it is
    exact to rounding there, ``log(2 / eps)`` (16.6 for float32, 36.7 for float64), where the
    dropped ``log1p(exp(-x)) < eps / 2`` is below half an ulp of ``x`` and of the gradient's 1.
    Below it torch computes ``log1p(exp(x))``, which cannot overflow there.

    Second derivatives are torch's softplus's, as those of its ``binary_cross_entropy_with_logits``:
    ``sigmoid(x)(1 - sigmoid(x))`` loses relative precision as ``x`` grows (1e-3 at 10 in
    float32) and is 0 above the threshold, where it is below ``eps``; JAX's ``logaddexp`` (the
    generic path there) does the same in float32.
    """
    import torch

    eps = torch.finfo(x.dtype).eps
    return torch._C._nn.softplus(x, 1.0, math.log(2.0 / eps))


def torch_logistic(pred: Array, label: Array, label_format: str) -> Array:
    """``softplus(x) - x z'`` with ``z' = (z + 1) / 2`` for signed labels (``z' = z`` for binary ones).

    That is binary cross-entropy on logits against ``z'``, ``(1 - z') x + softplus(-x)``, for every
    ``z'`` (``softplus(x) = x + softplus(-x)``), so torch's fused ``binary_cross_entropy_with_logits``.
    """
    import torch

    target = (label + 1.0) / 2.0 if label_format == "signed" else label
    return torch.binary_cross_entropy_with_logits(pred, target, None, None, _NONE)


def torch_sparse_softmax_ce(
    pred: Array,
    target: Array,
    axis: int,
    from_logits: bool = False,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> Array:
    """``logsumexp(x) - x[y]`` (``-x[y]`` if ``from_logits``) along ``axis``, 0 where ``y == ignore_index``.
    ``label_smoothing`` ``eps`` (logits only): ``(1 - eps) (logsumexp(x) - x[y]) - eps / C sum_c
    log_softmax(x)_c``, torch's ``cross_entropy(label_smoothing=eps)``, losskit's formula.

    ``target`` holds the class indices with ``pred``'s shape without ``axis`` (as
    ``class_indices`` returns them), and so does the result. ``cross_entropy`` and ``nll_loss``
    want the classes on axis 1: the class axis is moved there, or, when it is the last one, the
    other axes are flattened.
    """
    import torch

    ndim = pred.ndim
    axis = axis % max(ndim, 1)
    if from_logits and ndim == 2 and axis == 1:
        # -x[y] as torch's nll_loss (N, C): one kernel each way (the gather below is several)
        return torch._C._nn.nll_loss(pred, target, None, _NONE, ignore_index)  # type: ignore[attr-defined]
    if from_logits:
        # -x[y] by one gather, as the generic take_along_axis (nll_loss's backward refuses the
        # non-contiguous input a moved class axis gives)
        keep = target != ignore_index
        index = torch.where(keep, target, 0).unsqueeze(axis)
        return torch.where(keep, -torch.gather(pred, axis, index).squeeze(axis), 0.0)
    if ndim <= 2 and axis == ndim - 1:
        x, y = pred, target
    elif axis == ndim - 1:
        x, y = pred.reshape(-1, pred.shape[-1]), target.reshape(-1)
    else:
        x, y = torch.movedim(pred, axis, 1), target
    grad = _needs_grad(x)
    if x.ndim == 2 and label_smoothing == 0 and cpu_rows_ce_applies(x, grad):
        loss = _cpu_rows_ce()(x, y, ignore_index)[0] if grad else _cpu_rows_ce_value(x, y, ignore_index)
    else:
        loss = torch._C._nn.cross_entropy_loss(x, y, None, _NONE, ignore_index, label_smoothing)  # type: ignore[arg-type]
    return loss.reshape(target.shape) if ndim > 2 and axis == ndim - 1 else loss


def torch_class_rows(pred: Any, label: Any, op: Any, *options: Any) -> Array | None:
    """``op(pred, label, *options)``, the general path's own computation of a class loss
    (:func:`torch_sparse_softmax_ce`, :func:`torch_multi_margin`), taken before its checks, which
    cost more than the op on a small batch (torch's CPU kernels check the indices they read): for
    ``(N, C)`` float32/float64 scores with ``C >= 2`` and ``(N,)`` int64 class indices, CPU tensors
    of the class ``torch.Tensor`` itself (not a subclass: no fake tensor of a trace), with fast
    paths on and no ``torch.func`` transform or forward-mode AD (``multi_margin_loss`` has no
    forward derivative). ``None`` elsewhere, and where the computation raises: the caller takes the
    general path, which raises losskit's error."""
    torch = sys.modules.get("torch")
    if (
        torch is None
        or type(pred) is not torch.Tensor
        or type(label) is not torch.Tensor
        or pred.ndim != 2
        or label.ndim != 1
        or label.dtype != torch.int64
        or pred.dtype not in (torch.float32, torch.float64)
        or label.shape[0] != pred.shape[0]
        or pred.shape[1] < 2
        or not pred.is_cpu
        or not fast_paths_on()
        or not untransformed()
        or torch_tracing()  # (Dynamo's tensors are torch.Tensor: the general path registers the node)
    ):
        return None
    from ._array import _reads_are_free  # (here: _array imports this module)

    if not _reads_are_free(label):  # the labels on the CPU, where the kernel checks them as it reads
        return None
    try:
        return op(pred, label, *options)
    except (IndexError, RuntimeError):
        return None


#: Logits from which :func:`torch_sparse_softmax_ce` takes the row-block path on the CPU when a
#: gradient is wanted (4 MiB of float32): below, torch's ``cross_entropy`` is faster (fewer Python
#: steps; its buffers come from the heap); above, the row blocks' fewer passes over memory and
#: fresh buffers win (``benchmarks/cpu_cross_entropy.py``).
CPU_ROWS_CE_MIN = 2**20

#: Bytes of logits from which the loss alone (no gradient wanted) takes the row blocks: 32 MiB,
#: glibc's largest heap allocation, past which every buffer of torch's op is fresh pages; below,
#: its one fused forward pass is the faster.
CPU_ROWS_CE_VALUE_MIN_BYTES = 2**25

#: Elements per row block of the CPU path: 1 MiB of float32, within a core's L2 cache.
_ROW_BLOCK = 2**18


def cpu_rows_ce_applies(x: Array, grad: bool) -> bool:
    """Whether sparse cross-entropy on the ``(N, C)`` CPU tensor ``x`` takes the row blocks (with a
    gradient wanted, ``grad``: :func:`_cpu_rows_ce`; without, :func:`_cpu_rows_ce_value`): large
    enough, float32 or float64, and computed eagerly: not traced (``torch.compile``: inductor fuses
    torch's op itself), not under a ``torch.func`` transform or forward-mode AD (the
    autograd.Function defines neither a ``vmap`` nor a ``jvp``)."""
    import torch

    n = x.numel()
    if type(n) is not int:  # a symbolic size (traced): comparing it would put a guard on the batch
        return False
    large = n >= CPU_ROWS_CE_MIN if grad else n * x.element_size() >= CPU_ROWS_CE_VALUE_MIN_BYTES
    # the eagerness check last: it costs ~3 us a call, which small batches need not pay
    return large and x.dtype in (torch.float32, torch.float64) and _plain_eager_cpu(x)


def _needs_grad(x: Array) -> bool:
    import torch

    return torch.is_grad_enabled() and x.requires_grad


def _row_blocks(x: Array) -> Iterator[slice]:
    """The rows of ``(N, C)`` ``x`` in blocks of :data:`_ROW_BLOCK` elements (one row at least)."""
    n, step = x.shape[0], _block_rows(x)
    return (slice(start, min(start + step, n)) for start in range(0, n, step))


def _block_rows(x: Array) -> int:
    return max(1, _ROW_BLOCK // max(1, x.shape[1]))


def _exp_rows_(x: Array, out: Array) -> tuple[Array, Array]:
    """``out = exp(x - m)`` over the rows of a block, ``m`` their max (every exponent <= 0: no
    overflow); returns ``m`` and the rows' sums of ``out``, each ``(rows, 1)``."""
    import torch

    m = x.amax(1, keepdim=True)
    return m, torch.sub(x, m, out=out).exp_().sum(1, keepdim=True)


def _picked(x: Array, target: Array, ignore_index: int) -> tuple[Array, Array]:
    """``(x[y] with 0 at ignored rows, the mask of the rows not ignored)``."""
    import torch

    valid = target != ignore_index
    return torch.where(valid, x.gather(1, torch.where(valid, target, 0)[:, None])[:, 0], 0.0), valid


def _row_losses(m: Array, log_sum: Array, picked: Array, valid: Array) -> Array:
    """``-log softmax(x)[y] = (m - x[y]) + log(sum(exp(x - m)))``, 0 at ignored rows: ``m`` and the
    log-sum kept apart, as torch's ``log_softmax`` keeps them (``m + log_sum`` first would lose
    ``log_sum``'s low bits beside a large ``m``: log 2 beside 1e7 in float32)."""
    import torch

    return torch.where(valid, (m[:, 0] - picked) + log_sum[:, 0], 0.0)


def _log_sum_exp_rows(x: Array, out: Array | None) -> tuple[Array, Array]:
    """``(m, log(sum(exp(x - m))))`` of the rows of ``(N, C)`` ``x``, each ``(N, 1)``, ``m`` the rows'
    max, block by block: ``exp(x - m)`` goes into one reused block buffer, or, given ``out``
    (``(N, C)``), into its rows, normalised there to ``softmax(x)``."""
    import torch

    m, log_sum = torch.empty((x.shape[0], 1), dtype=x.dtype), torch.empty((x.shape[0], 1), dtype=x.dtype)
    block: Any = torch.empty((_block_rows(x), x.shape[1]), dtype=x.dtype) if out is None else None
    for rows in _row_blocks(x):
        buffer = block[: rows.stop - rows.start] if out is None else out[rows]
        m[rows], total = _exp_rows_(x[rows], buffer)
        if out is not None:
            buffer.div_(total)  # softmax
        log_sum[rows] = total.log_()
    return m, log_sum


def _cpu_rows_ce_value(x: Array, target: Array, ignore_index: int) -> Array:
    """The loss alone (no gradient wanted), block by block: no ``(N, C)`` buffer."""
    picked, valid = _picked(x, target, ignore_index)  # first: an index out of range raises here
    return _row_losses(*_log_sum_exp_rows(x, None), picked, valid)


@functools.cache
def _cpu_rows_ce() -> Any:
    """The ``apply`` of an autograd.Function: sparse cross-entropy of ``(N, C)`` CPU logits in row
    blocks that stay in cache.

    torch's ``cross_entropy`` passes over ``(N, C)`` memory some seven times (the log-softmax
    written and kept for the backward; there a zero-filled gradient of the gather, then
    ``g - exp(log_softmax) * sum(g)``), in three fresh ``(N, C)`` buffers, each paid again in page
    faults beyond glibc's 32 MiB heap limit. Here the forward pass forms the gradient for a unit
    upstream gradient, ``softmax(x) - onehot(y)``, one block at a time (one ``exp`` per logit), in
    the ``(N, C)`` buffer the gradient needs anyway; the backward scales its rows by the
    upstream gradient, in place when the graph is freed after it (else a scaled copy, as
    ``retain_graph=True`` needs it again). ``x`` itself is not saved: nothing but the gradient
    buffer outlives the forward pass (torch's op keeps its ``(N, C)`` log-softmax), and ``x`` may be
    changed in place after it.

    For a graph of the gradient (``create_graph``) the buffer is the Function's second output,
    which the caller drops: the backward's ``buffer * g`` is then recorded against this node, and
    differentiating it calls the backward again with the buffer's upstream gradient ``G``, whose
    gradient is softmax's: ``p * (G - sum(G * p))``, ``p = buffer + onehot(y)``. Orders beyond the
    second follow the same way.
    """
    import torch

    from .fused._torch import graph_is_freed

    class CpuRowsCrossEntropy(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, target: Any, ignore_index: int) -> Any:
            picked, valid = _picked(x, target, ignore_index)  # first: an index out of range raises here
            grad = torch.empty_like(x)
            m, log_sum = _log_sum_exp_rows(x, grad)  # grad = softmax(x)
            classes = torch.where(valid, target, 0)
            grad[torch.arange(x.shape[0]), classes] -= 1.0
            ctx.set_materialize_grads(False)  # the dropped buffer output's gradient stays None
            ctx.save_for_backward(classes, valid, grad)
            return _row_losses(m, log_sum, picked, valid), grad

        @staticmethod
        def backward(ctx: Any, grad_out: Any, grad_of_buffer: Any) -> Any:
            classes, valid, grad = ctx.saved_tensors
            result = None
            if grad_of_buffer is not None:  # differentiating a gradient formed with create_graph
                p = grad.index_put((torch.arange(grad.shape[0]), classes), torch.ones((), dtype=grad.dtype), True)
                result = p * (grad_of_buffer - (grad_of_buffer * p).sum(1, keepdim=True))
            if grad_out is None:
                return result, None, None
            scale = torch.where(valid, grad_out, 0.0)[:, None]  # ignored rows: no gradient
            from ._array import _is_vmapped  # (here: _array imports this module)

            if result is not None or torch.is_grad_enabled() or not graph_is_freed() or _is_vmapped(grad_out):
                # a new tensor: the buffer is needed again (retain_graph), or recorded (create_graph),
                # or the upstream gradient is batched (is_grads_batched: the buffer is not)
                scaled = grad * scale
                return (scaled if result is None else result + scaled), None, None
            # a view: AccumulateGrad takes a gradient as .grad only when nothing else holds it, and
            # the saved tensor is held by this node until the graph goes (it would clone it); detached,
            # as the saved output it is requires grad (torch.autograd.grad would hand that back)
            return grad.detach().mul_(scale), None, None

    return CpuRowsCrossEntropy.apply


def torch_log_softmax(x: Array, axis: int) -> Array:
    """``(x - m) - log(sum(exp(x - m)))`` along ``axis``, ``m`` the row's max: torch's fused
    ``log_softmax``, which computes exactly that (and its backward ``g - softmax * sum(g)``)."""
    import torch

    return torch.log_softmax(x, axis)


def torch_sigmoid(x: Array) -> Array:
    """``1 / (1 + exp(-x))``: torch's fused ``sigmoid``, the generic ``exp(log_sigmoid(x))`` to
    rounding, keeping only its output for the backward pass (``exp`` of ``log_sigmoid`` keeps two
    arrays). Its derivative ``s (1 - s)`` is formed from that output: where ``s`` rounds to 1
    (``x`` > 17 in float32) it is 0 where the generic path's is ``e^-x``, an absolute difference
    below half an ulp of 1. Below the smallest normal number (``x`` < -87 in float32) it may give 0
    where the generic path gives a subnormal."""
    import torch

    return torch.sigmoid(x)


def torch_softmax(x: Array, axis: int) -> Array:
    """``exp(x - m) / sum(exp(x - m))`` along ``axis``: torch's fused ``softmax``, the generic
    ``exp(log_softmax(x))`` to rounding. It keeps only its output for the backward pass
    (``p * (g - sum(p g))``), where ``exp`` of ``log_softmax`` keeps both arrays."""
    import torch

    return torch.softmax(x, axis)


def torch_multi_margin(pred: Array, target: Array, p: int, margin: float, weight: Array | None) -> Array:
    """``sum_{c != y} w_y max(0, margin - x_y + x_c)^p / C`` per row of ``pred`` ``(N, C)``: ``(N,)``;
    NaN for a row with a NaN, as the formula gives (the kernel's ``z > 0`` test skips a NaN term)."""
    import torch

    loss = torch._C._nn.multi_margin_loss(pred, target, p, margin, weight, _NONE)  # type: ignore[arg-type]
    # a diverging model must not show a finite loss: a row holding a NaN is NaN, with no gradient
    # (the formula's is NaN). amax is NaN exactly for those rows (one reduction, ~6x cheaper on the
    # CPU than isnan().any()). Not covered: infinities where the formula meets inf - inf (+inf at
    # the label and at a rival), NaN there, which the kernel skips as it skipped a NaN.
    from ._array import is_traced  # (here: _array imports this module)

    x = pred.detach()
    if x.device.type == "cpu" and not is_traced(pred) and (x.numel() == 0 or not math.isnan(x.amax().item())):
        # on the CPU reading a value costs no device sync (nor is it refused, as under tracing or
        # torch.func.vmap): without a NaN anywhere, the kernel's loss as it is (the where and its
        # backward cost ~20 us a call at 64 x 128, a third of torch's)
        return loss
    return torch.where(x.amax(dim=1).isnan(), torch.nan, loss)


def torch_euclidean_distance(x: Array, y: Array, eps: float) -> Array | None:
    """``||x - y + eps||_2`` along the last axis by torch's fused ``pairwise_distance``, where it
    is as accurate as the generic scaled norm (``m ||v / m||``, which no finite input over- or
    underflows): on CPU tensors whose every distance is finite (no sum of squares overflowed)
    and above ``2^26 sqrt(D * smallest_normal)`` (the squares that underflowed change the sum by
    less than ``2^-52`` of it). ``None`` elsewhere, and the caller takes the generic path: off
    the CPU (reading the check would wait for the device), under tracing or ``torch.func.vmap``
    (values cannot be read), at a NaN, and where a distance is 0 or tiny (then torch's
    derivative at 0 is not the generic 0 either)."""
    import torch

    from ._array import is_traced  # (here: _array imports this module)

    if x.device.type != "cpu" or is_traced(x) or is_traced(y) or x.shape[-1] == 0:
        return None
    d = torch.pairwise_distance(x, y, 2.0, eps)
    return d if _all_resolved(d.detach(), x.shape[-1]) else None


def torch_triplet_rows(anchor: Any, positive: Any, negative: Any, margin: float, eps: float) -> Array | None:
    """``max(0, margin + d(a, pos) - d(a, neg))`` with :func:`torch_euclidean_distance`'s ``d``,
    the general path of ``TripletMarginLoss`` / ``TripletMarginWithDistanceLoss`` with ``p=2`` and
    no other option, taken before its checks (they cost more than the computation on a small
    batch): for ``(N, D)`` float32/float64 CPU tensors of one shape and dtype, of the class
    ``torch.Tensor`` itself, eager, with fast paths on. ``None`` elsewhere, and where a distance
    is not resolved: the caller takes the general path."""
    torch = sys.modules.get("torch")
    if (
        torch is None
        or type(anchor) is not torch.Tensor
        or type(positive) is not torch.Tensor
        or type(negative) is not torch.Tensor
        or anchor.ndim != 2
        or anchor.shape[1] == 0
        or anchor.dtype not in (torch.float32, torch.float64)
        or positive.dtype != anchor.dtype
        or negative.dtype != anchor.dtype
        or positive.shape != anchor.shape
        or negative.shape != anchor.shape
        or not (anchor.is_cpu and positive.is_cpu and negative.is_cpu)
        or not fast_paths_on()
        or not untransformed()
        or torch_tracing()
    ):
        return None
    dim = anchor.shape[1]
    d_pos = torch.pairwise_distance(anchor, positive, 2.0, eps)
    if not _all_resolved(d_pos.detach(), dim):
        return None
    d_neg = torch.pairwise_distance(anchor, negative, 2.0, eps)
    if not _all_resolved(d_neg.detach(), dim):
        return None
    return (margin + d_pos - d_neg).clamp_min(0.0)  # the general path's order of the sums


def _all_resolved(d: Array, dim: int) -> bool:
    """``_resolved(d, dim).all()``, read: by one reduction (the smallest and largest distance; a NaN
    makes both NaN)."""
    import torch

    if d.numel() == 0:
        return True
    low, high = torch.aminmax(d)
    return low.item() > _resolved_floor(d, dim) and high.item() != math.inf


def _resolved(d: Array, dim: int) -> Array:
    """Where the distances ``d`` of ``dim``-vectors, each a square root of a sum of squares, are as
    accurate as the generic scaled norm's: finite (no square overflowed) and above
    :func:`_resolved_floor`. False at a NaN."""
    import torch

    return torch.logical_and(d > _resolved_floor(d, dim), d != math.inf)


def _resolved_floor(d: Array, dim: int) -> float:
    """``2^26 sqrt(dim * smallest_normal)`` of ``d``'s dtype: above it, the squares that underflowed
    change the sum of ``dim`` squares by less than ``2^-52`` of it."""
    import torch

    return math.sqrt(torch.finfo(d.dtype).smallest_normal * dim) * 2.0**26


def torch_self_distances(x: Array, generic: Any, squared: bool = False) -> Array | None:
    """The ``(N, N)`` Euclidean distances (``squared``: their squares) between the rows of ``(N, D)``
    ``x`` by torch's ``cdist`` (from the rows' differences, as the generic path: ``compute_mode``
    keeps it off the matmul form ``|a|^2 + |b|^2 - 2 a.b``, which cancels for near rows), in
    ``O(N^2)`` memory and one fused pass each way where the generic path holds ``(N, N, D)``
    differences (1 GiB each at 1024 x 256). Taken where it is as accurate as the generic scaled
    norm, as :func:`torch_euclidean_distance`'s test: every distance finite and 0 or above the
    floor; and a 0 only between equal rows (there both derivatives are 0), counted: ``k^2`` zeros
    for each group of ``k`` equal rows (a 0 between unequal rows is a sum of squares that
    underflowed). ``None`` elsewhere (off the CPU, traced, not float32/float64, a NaN, tiny or huge
    distances): the caller takes the generic path. ``cdist``'s backward has no derivative of its
    own: a gradient with a graph (``create_graph=True``) is the derivative of ``generic(x)``, the
    generic distances (squared too), computed then."""
    import torch

    if not _plain_eager_cpu(x) or x.ndim != 2 or x.shape[-1] == 0 or x.dtype not in (torch.float32, torch.float64):
        return None
    if _needs_grad(x):
        out = _self_distances_op()(x, generic, squared)
        d = out.detach().sqrt() if squared else out.detach()
    else:  # no gradient wanted (an inference tensor cannot be given one): cdist as it is
        d = torch.cdist(x, x, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
        out = d * d if squared else d
    zero = d == 0
    if not bool(torch.logical_or(zero, _resolved(d, x.shape[-1])).all()):
        return None
    counts = torch.unique(x.detach(), dim=0, return_counts=True)[1]
    return out if int(zero.sum()) == int((counts * counts).sum()) else None


def holds_no_neg_inf(x: Array) -> bool:
    """True when ``x`` is an eager CPU tensor with no ``-inf`` (read now: nothing to wait for);
    False when it holds one, or where reading it would wait for a device or cannot be done
    (traced, under a ``torch.func`` transform)."""
    import torch

    from ._array import _reads_are_free  # (here: _array imports this module)

    return _plain_eager_cpu(x) and _reads_are_free(x) and not bool(torch.isneginf(x.detach()).any())


def _plain_eager_cpu(x: Array) -> bool:
    """``x`` is a CPU tensor computed on eagerly, where an autograd.Function of this module may
    run: not traced (``torch.compile``), not under a ``torch.func`` transform or forward-mode AD
    (these Functions define neither a ``vmap`` nor a ``jvp``)."""

    from ._array import is_traced  # (here: _array imports this module)

    return x.device.type == "cpu" and not is_traced(x) and untransformed()


def untransformed() -> bool:
    """No ``torch.func`` transform and no forward-mode AD in force: where torch kernels that have no
    forward derivative (``multi_margin_loss``, ``_ctc_loss``) or autograd.Functions of this module
    may run (``jvp``, ``jacfwd`` and ``hessian`` raised NotImplementedError through them)."""
    import torch

    return not torch._C._are_functorch_transforms_active() and torch.autograd.forward_ad._current_level < 0


@functools.cache
def _self_distances_op() -> Any:
    """The ``apply`` of an autograd.Function ``(x, generic, squared) -> cdist(x, x)`` (squared when
    ``squared``) whose backward is ``cdist``'s own kernel (``aten._cdist_backward``, once for each
    side of the symmetric pair), or, asked for a graph (``create_graph=True``), the derivative of
    ``generic(x)``."""
    import torch

    class SelfDistances(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, generic: Any, squared: bool) -> Any:
            rows = x.contiguous()
            d = torch.cdist(rows, rows, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
            # x itself, not a contiguous copy made here: create_graph differentiates generic(x)
            # with respect to it, which a copy outside the graph is not
            ctx.save_for_backward(x, d)
            ctx.generic, ctx.squared = generic, squared
            return d * d if squared else d

        @staticmethod
        def backward(ctx: Any, grad_out: Any) -> Any:
            x, d = ctx.saved_tensors
            if torch.is_grad_enabled():  # create_graph=True: the generic distances' derivative
                return torch.autograd.grad(ctx.generic(x), x, grad_out, create_graph=True)[0], None, None
            g = grad_out * (2 * d) if ctx.squared else grad_out  # d(d^2) = 2 d dd
            x = x.contiguous()
            # x's derivative as the first operand of cdist and as the second (torch's own formula)
            first = torch.ops.aten._cdist_backward(g.contiguous(), x, x, 2.0, d)
            second = torch.ops.aten._cdist_backward(g.mT.contiguous(), x, x, 2.0, d.mT.contiguous())
            return first + second, None, None

    return SelfDistances.apply


def scaled_norm_applies(v: Array) -> bool:
    """Off the CPU. On it torch's norms are slower than the generic path's elementwise passes
    (forward + backward, 1 thread, 256 x 4096 and 128 x 128 x 64: 1.2-2.0x, varying by run)."""
    return v.device.type != "cpu"


def torch_scaled_l2_norm(v: Array) -> Array:
    """``m ||v / m||_2`` along the last axis, ``m`` the largest ``|v_i|`` taken as a constant: the
    generic p = 2 path of ``pairwise_distance`` (no finite input over- or underflows), by torch's
    fused inf-norm and 2-norm reductions. On a GPU that is four passes over ``v`` (the two norms,
    the division, its ``where``) where the generic path makes five (``abs``, ``max``, the
    division, the squares, their sum), and one ``v``-sized temporary fewer, which is what the
    mined triplets' ``(N, N, D)`` distances weigh; TripletMarginLoss launched 39 GPU events
    against 59 on an H200 (before the ``where``). Its
    derivative is the generic one, ``v / ||v||``, and 0 at ``v = 0``, to every order (the generic
    path floors the sum at 1 there)."""
    import torch

    m = torch.linalg.vector_norm(v.detach(), math.inf, dim=-1, keepdim=True)
    # a zero row (m = 0: the mined triplets' distance of each row to itself) is replaced by ones,
    # a constant: distance m * sqrt(D) = 0 with derivatives 0 of every order, where the norm's own
    # backward at 0 is masked to 0 once but is NaN twice over (a gradient penalty through it)
    u = torch.where(m == 0, 1.0, v / torch.where(m > 0, m, 1.0))  # NaN rows stay NaN, as the generic path
    return m.squeeze(-1) * torch.linalg.vector_norm(u, 2, dim=-1)


def multilabel_margin_applies(pred: Array) -> bool:
    """On the CPU. torch's CUDA backward kernel races (pytorch/pytorch#84202, open: one thread
    updates ``grad_input[target]`` while another reads it): on an H200 its gradient differed from
    the formula's by up to 0.49 (gradients of at most 1) for a 200-class case in one run of two
    (2026-11-29), the loss exact."""
    return pred.device.type == "cpu"


def torch_multilabel_margin(pred: Array, target: Array) -> Array:
    """``sum_{j} sum_{i not a target} max(0, 1 - x_{y_j} + x_i) / C`` per row of ``pred`` ``(N, C)``
    (``target`` ``(N, C)`` int64, padded with -1): ``(N,)``, as the generic path (which forms the
    ``(N, C, C)`` pairs up to 32 classes and sorts each row past that). A row whose counted pairs
    meet a NaN, or the same infinity as target and rival (``inf - inf``), is NaN, as the formula
    gives: the kernel's ``z > 0`` test skips those terms."""
    import torch

    loss, is_target = torch.ops.aten.multilabel_margin_loss_forward(pred, target, 0)
    with torch.no_grad():
        target_class = is_target.bool()  # the kernel's own reading of the list: its first -1, duplicates
        rival = ~target_class

        def on_both_sides(where: Array) -> Array:
            return (where & target_class).any(dim=1) & (where & rival).any(dim=1)

        nan = pred.isnan().any(dim=1) & target_class.any(dim=1) & rival.any(dim=1)
        undefined = nan | on_both_sides(pred == torch.inf) | on_both_sides(pred == -torch.inf)
    return torch.where(undefined, torch.nan, loss)


def kl_div_applies(target: Array) -> bool:
    """torch's ``kl_div`` differentiates ``xlogy(t, t)`` to NaN at ``t = 0``; the generic path does
    not. So the kernel only where the target is not differentiated: it wants no gradient, and no
    forward-mode AD or ``torch.func`` transform is in force (a dual tensor or ``jvp``'s tangent
    wants none either)."""
    return not getattr(target, "requires_grad", False) and untransformed()


def torch_kl_div(log_prob: Array, target: Array) -> Array:
    """``t log t - t log_prob`` with ``0 log 0 = 0``: ``kl_div(reduction='none')`` on log-probabilities."""
    import torch

    return torch.kl_div(log_prob, target, _NONE, log_target=False)


def torch_kl_log_target(log_q: Array, log_p: Array) -> Array | None:
    """``exp(log_p) (log_p - log_q)`` elementwise by torch's fused ``kl_div(log_target=True)``,
    where it is the generic formula's value and gradient: on CPU tensors with no ``log_p`` of
    ``-inf`` (a class of probability 0, where the kernel's ``0 * -inf`` is NaN and the generic
    path gives 0). ``None`` elsewhere, and the caller takes the generic path: off the CPU (reading
    the check would wait for the device), under tracing or ``torch.func.vmap``. The check costs a
    pass over ``log_p``; the generic ``where`` it spares cost ~20 % of a distillation step."""
    import torch

    from ._array import is_traced  # (here: _array imports this module)

    if not holds_no_neg_inf(log_p) or is_traced(log_q):
        return None
    return torch.kl_div(log_q, log_p, _NONE, log_target=True)


# --------------------------------------------------------------------------------------------
# sequence: CTC
# --------------------------------------------------------------------------------------------

_ctc_op: Any = None
_ctc_op_lock = threading.Lock()  # threads that trace their first CTC call at once register it once


def torch_ctc_loss(logits: Array, label: Array, pred_lengths: Array, label_lengths: Array) -> Array:
    """CTC negative log-likelihood per sequence of ``logits`` shaped ``(T, N, C)``, blank = ``C - 1``.

    Eagerly this is ``torch.nn.functional.ctc_loss``. Under ``torch.compile`` (or ``make_fx``, or
    a fake mode) that op breaks the graph (its ``log_alpha`` output has a data-dependent shape),
    so the same ATen kernels run inside an opaque custom op whose outputs have static shapes (see
    :func:`_ctc_custom_op`).
    """
    import torch

    log_probs = torch.log_softmax(logits, dim=-1)
    blank = logits.shape[-1] - 1
    if torch_tracing():
        _ctc_op_registered()
        return torch.ops.losskit.ctc_loss(log_probs, label, pred_lengths, label_lengths, blank)[0]
    # ATen's _ctc_loss (what ctc_loss calls): its nll is +inf where no alignment can produce the
    # label, as the generic path's, and zero_infinity=True only zeroes the gradient there (NaN
    # otherwise); ctc_loss(zero_infinity=True) would also turn the loss into 0
    nll = torch.ops.aten._ctc_loss.Tensor(log_probs, label, pred_lengths, label_lengths, blank, True)[0]
    # a copy (N values): the backward reads nll itself, and a caller may edit the returned loss in
    # place (loss *= mask) before backward(), which would fail autograd's version check
    return nll.clone()


def _ctc_op_registered() -> bool:
    """Register ``losskit::ctc_loss`` (once) and return True.

    Dynamo cannot trace the registration (``Library.__init__``), and the first CTC call may come
    inside ``torch.compile``. Marked as having a constant result, this function is *run* by Dynamo
    when it meets it, not traced, and leaves nothing in the graph.
    """
    _ctc_custom_op()
    return True


# what torch.compiler.assume_constant_result(fn) does; set by hand, it keeps torch out of losskit's import
_ctc_op_registered._dynamo_marked_constant = True  # type: ignore[attr-defined]


def _ctc_custom_op() -> Any:
    """``losskit::ctc_loss``: ATen's CTC forward and backward behind static output shapes.

    ``aten::_ctc_loss`` returns ``log_alpha`` with ``2 * max(label_lengths) + 1`` states, a
    shape that depends on data. The op pads it to ``2 * S + 1`` (``S``, the label's padded
    length) with ``-inf``; the backward kernel reads ``log_alpha`` through its strides and only
    the first ``2 * label_length + 1`` states of each sequence, so the padding is never read.
    """
    if _ctc_op is None:
        with _ctc_op_lock:
            if _ctc_op is None:  # (another thread may have registered it while this one waited)
                _register_ctc_op()
    return _ctc_op


def _register_ctc_op() -> None:
    """Register the ops of :func:`_ctc_custom_op` (once: torch.library refuses a second definition)."""
    global _ctc_op
    import torch

    aten = torch.ops.aten

    # explicit schemas: this module's annotations are strings (``from __future__ import annotations``)
    @torch.library.custom_op(
        "losskit::ctc_loss",
        mutates_args=(),
        schema="(Tensor log_probs, Tensor targets, Tensor input_lengths, Tensor target_lengths, int blank)"
        " -> (Tensor, Tensor)",
    )
    def ctc(log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any, blank: int) -> tuple[Any, Any]:
        nll, log_alpha = aten._ctc_loss.Tensor(log_probs, targets, input_lengths, target_lengths, blank, False)
        states = 2 * targets.shape[1] + 1
        pad = states - log_alpha.shape[2]
        if pad > 0:
            log_alpha = torch.nn.functional.pad(log_alpha, (0, pad), value=-math.inf)
        return nll, log_alpha.contiguous()

    @ctc.register_fake
    def _(log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any, blank: int) -> tuple[Any, Any]:
        t, n, _c = log_probs.shape
        return log_probs.new_empty((n,)), log_probs.new_empty((n, t, 2 * targets.shape[1] + 1))

    @torch.library.custom_op(
        "losskit::ctc_loss_backward",
        mutates_args=(),
        schema="(Tensor grad, Tensor log_probs, Tensor targets, Tensor input_lengths, Tensor target_lengths,"
        " Tensor nll, Tensor log_alpha, int blank) -> Tensor",
    )
    def ctc_backward(
        grad: Any,
        log_probs: Any,
        targets: Any,
        input_lengths: Any,
        target_lengths: Any,
        nll: Any,
        log_alpha: Any,
        blank: int,
    ) -> Any:
        return aten._ctc_loss_backward.Tensor(
            grad, log_probs, targets, input_lengths, target_lengths, nll, log_alpha, blank, True
        )  # zero_infinity: a 0 gradient, not NaN, where nll is +inf (see torch_ctc_loss)

    @ctc_backward.register_fake
    def _(
        grad: Any,
        log_probs: Any,
        targets: Any,
        input_lengths: Any,
        target_lengths: Any,
        nll: Any,
        log_alpha: Any,
        blank: int,
    ) -> Any:
        return torch.empty_like(log_probs)

    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        log_probs, targets, input_lengths, target_lengths, blank = inputs
        ctx.save_for_backward(log_probs, targets, input_lengths, target_lengths, *output)
        ctx.blank = blank

    def backward(ctx: Any, grad_nll: Any, _grad_alpha: Any) -> tuple[Any, ...]:
        log_probs, targets, input_lengths, target_lengths, nll, log_alpha = ctx.saved_tensors
        grad = ctc_backward(grad_nll, log_probs, targets, input_lengths, target_lengths, nll, log_alpha, ctx.blank)
        return grad, None, None, None, None

    ctc.register_autograd(backward, setup_context=setup_context)
    _ctc_op = ctc


__all__ = [
    "is_torch",
    "use_torch",
    "disabled",
    "torch_l2",
    "torch_l1",
    "torch_huber",
    "poisson_nll_applies",
    "torch_poisson_nll",
    "bce_applies",
    "torch_bce_with_logits",
    "torch_logistic",
    "torch_sparse_softmax_ce",
    "cpu_rows_ce_applies",
    "torch_self_distances",
    "torch_multi_margin",
    "kl_div_applies",
    "torch_kl_div",
    "torch_ctc_loss",
]
