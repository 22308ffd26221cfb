"""PyTorch path of :func:`losskit.fused.linear_cross_entropy`: a chunked ``autograd.Function``.

``grad_weight`` is accumulated in place with ``addmm_`` in the weight's dtype, chunk after
chunk (as Liger-Kernel does): a float32 copy would cost 2x the weight's memory and one more
read-modify-write of it per chunk, which dominated the step in measurements on an H200.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, overload

import torch

from .._array import _is_vmapped
from .._compile import torch_tracing

#: Whether to use the Triton kernel of :mod:`losskit.fused._triton`: None (default) on CUDA
#: devices where it applies; True also on the CPU when Triton runs as its interpreter (the tests,
#: which set ``TRITON_INTERPRET=1``: never by default, a process debugging other kernels in the
#: interpreter would otherwise crawl through this one); False never.
TRITON: bool | None = None


@functools.cache
def _triton_module() -> Any:
    try:
        from . import _triton
    except ImportError:  # no Triton (CPU-only torch, macOS, Windows): the PyTorch path
        return None
    return _triton


def _kernel_for(hidden: torch.Tensor) -> Any:
    """The Triton module when its kernel takes the logits of ``hidden``'s dtype and device, else None. Not while torch
    traces (``torch.compile`` fuses the PyTorch path's elementwise ops itself; fake tensors have
    no memory to launch a kernel on)."""
    if TRITON is False or torch_tracing():
        return None
    module = _triton_module()
    if module is None or not module.supports(hidden.dtype, hidden.device, interpreter=TRITON is True):
        return None
    return module


def refuse_second_derivative() -> None:
    """Raise inside a custom ``backward`` asked for a graph (``create_graph=True``).

    These backwards form the gradient in place, outside autograd: their result has no graph, so
    a gradient penalty or Hessian-vector product through it would silently lose every term that
    passes through the loss. Grad mode is on inside ``backward`` exactly when a graph is wanted.
    """
    if torch.is_grad_enabled():
        raise RuntimeError(
            "losskit's fused and vocabulary-parallel cross-entropies give first derivatives only; "
            "create_graph=True (double backward) is not supported through them"
        )


def _chunk_logits(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    # the matmul runs in the input dtype (float32 accumulation on tensor cores), the softmax in >= float32
    z = torch.nn.functional.linear(hidden, weight, bias)
    return z.to(torch.promote_types(z.dtype, torch.float32))


def _softmax_(logits: torch.Tensor, lse: torch.Tensor, lse_given: bool, normalise: bool = True) -> torch.Tensor:
    """In place: logits -> their softmax, its log-sum-exp written into ``lse`` (read from it when
    ``lse_given``). No second buffer of the chunk's size: ``torch.logsumexp`` would hold one for
    its exponentials, beside the logits. ``normalise=False`` (the log-sum-exp alone is wanted):
    the exponentials are left undivided."""
    if lse_given:
        return logits.sub_(lse[:, None]).exp_()  # softmax = exp(logits - logsumexp)
    peak = logits.amax(dim=1, keepdim=True)
    # a row of -inf (or +inf) logits: shift by 0, as torch.logsumexp does, not by an infinite peak
    peak = torch.where(peak.isinf(), 0.0, peak)
    exps = logits.sub_(peak).exp_()
    total = exps.sum(dim=1, keepdim=True)
    lse.copy_((peak + total.log())[:, 0])
    return exps.div_(total) if normalise else exps


def _grad_from_softmax_(
    probs: torch.Tensor,
    lse: torch.Tensor,
    label: torch.Tensor,
    valid: torch.Tensor,
    z_loss: float,
    row_scale: torch.Tensor,
) -> torch.Tensor:
    """In place: softmax -> d loss / d logits = softmax * (1 + 2 z lse) - onehot, times row_scale."""
    if z_loss:
        probs.mul_((1 + 2 * z_loss * lse)[:, None])  # d(z lse^2)/dlogits = 2 z lse softmax
    rows = torch.arange(probs.shape[0], device=probs.device)
    probs[rows, label] -= 1
    # where, not valid * row_scale: an ignored row's upstream gradient may be NaN or inf (a mean
    # over a fully padded sequence), and 0 * inf would spread NaN through every gradient
    return probs.mul_(torch.where(valid, row_scale, 0.0)[:, None])


def _chunk_rows(
    kernel: Any,
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    label: torch.Tensor,
    safe: torch.Tensor,
    valid: torch.Tensor,
    ignore_index: int,
    z_loss: float,
    *,
    loss: torch.Tensor | None = None,
    lse: torch.Tensor,
    lse_given: bool = False,
    scale: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """One chunk's logits ``h W^T + b``, then the Triton kernel's contract on them (with the
    kernel, or op by op in a float32 copy without): its log-sum-exp written into ``lse`` (read
    there when ``lse_given``), its loss into ``loss`` (when given), and ``d loss / d logits`` times
    ``scale`` returned (when ``scale`` is given; else None)."""
    if kernel is not None:
        logits = torch.nn.functional.linear(h, weight, bias)
        kernel.cross_entropy_rows_(
            logits, label, ignore_index, z_loss, loss=loss, lse=lse, lse_given=lse_given, scale=scale
        )
        return None if scale is None else logits
    logits = _chunk_logits(h, weight, bias)
    target = logits.gather(1, safe[:, None])[:, 0] if loss is not None else None  # before the softmax
    probs = _softmax_(logits, lse, lse_given, normalise=scale is not None)  # the logits' buffer, overwritten
    if loss is not None and target is not None:
        loss.copy_(torch.where(valid, lse - target + z_loss * lse * lse, 0.0))
    return None if scale is None else _grad_from_softmax_(probs, lse, safe, valid, z_loss, scale)


def _accumulate(
    g: torch.Tensor,
    h: torch.Tensor,
    weight: torch.Tensor,
    grad_hidden: torch.Tensor | None,
    grad_weight: torch.Tensor | None,
    grad_bias: torch.Tensor | None,
) -> None:
    """Add one chunk's contribution to the gradients wanted (None: not wanted): grad_hidden rows
    = g W, grad_weight += g^T h, grad_bias += sum g."""
    g_in = g.to(h.dtype)
    if grad_hidden is not None:
        torch.mm(g_in, weight, out=grad_hidden)
    if grad_weight is not None:
        grad_weight.addmm_(g_in.t(), h)
    if grad_bias is not None:
        grad_bias += g.sum(0, dtype=grad_bias.dtype)


def _gradient_buffers(
    needs: tuple[bool, ...], hidden: torch.Tensor, weight: torch.Tensor, acc: torch.dtype
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """``(grad_hidden, grad_weight, grad_bias)``, each only where ``needs`` (needs_input_grad) asks."""
    return (
        torch.empty_like(hidden) if needs[0] else None,
        torch.zeros_like(weight) if needs[1] else None,
        torch.zeros(weight.shape[0], dtype=acc, device=weight.device) if needs[2] else None,
    )


#: Elements per block of :func:`_scaled`'s float32 products (64 MiB).
_SCALE_BLOCK = 2**24


def _scaled(t: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t * scale`` in ``dtype``, each product formed in float32 and rounded once.

    A half-precision tensor times the 0-d float32 ``scale`` is not that on CUDA: the kernel reads
    a 0-d CUDA operand in the tensor's dtype (only a CPU scalar is read in float32), and a scale
    rounded to bfloat16 biases every gradient by ``bf16(c) / c`` (+0.2% for ``c = 1/3``, a mean
    over 3 micro-batches). A float32 copy of ``grad_weight`` would double its memory: the rows go
    in blocks of :data:`_SCALE_BLOCK` elements."""
    if t.dtype in (torch.float32, torch.float64):
        return (t * scale).to(dtype)
    if _batched(scale):  # a batched upstream gradient (is_grads_batched): no blocks written in place
        return (t.float() * scale).to(dtype)
    return _scale_blocks(t, scale, torch.empty(t.shape, dtype=dtype, device=t.device))


def _scale_in_place(t: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``t *= scale``, each product formed in float32 and rounded once, as :func:`_scaled` forms
    it, block by block: no second tensor of ``t``'s size. Returns ``t``."""
    return t.mul_(scale) if t.dtype in (torch.float32, torch.float64) else _scale_blocks(t, scale, t)


def _scale_blocks(t: torch.Tensor, scale: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out = t * scale`` (``out`` may be ``t``), the products in float32, :data:`_SCALE_BLOCK`
    elements at a time."""
    rows = max(1, _SCALE_BLOCK // max(1, math.prod(t.shape[1:])))
    for start in range(0, t.shape[0], rows):
        out[start : start + rows] = t[start : start + rows].float() * scale
    return out


def graph_is_freed() -> bool:
    """Whether the running backward pass frees the graph after it (no ``retain_graph=True``): then
    a node's saved tensors are its own to overwrite. False where that cannot be known (the private
    query AOTAutograd itself makes is missing, or torch traces the backward)."""
    query = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return query is not None and not torch_tracing() and not query()


def _batched(t: torch.Tensor) -> bool:
    """``t`` is batched by vmap (an upstream gradient of ``is_grads_batched``); never while torch
    traces (compiled autograd traces the backward with Dynamo, which cannot call functorch's test)."""
    return not torch_tracing() and _is_vmapped(t)


def _rows(t: torch.Tensor | None, rows: slice) -> torch.Tensor | None:
    return None if t is None else t[rows]


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        label: torch.Tensor,
        ignore_index: int,
        z_loss: float,
        reduction: str,
        chunk: int,
        grad_wanted: bool,
    ) -> torch.Tensor:
        n = hidden.shape[0]
        acc = torch.promote_types(hidden.dtype, torch.float32)  # float32, or float64 for float64 inputs
        valid = label != ignore_index
        safe = torch.where(valid, label, 0)
        one = torch.ones((), dtype=acc, device=hidden.device)
        scale = one / valid.sum().clamp(min=1).to(acc) if reduction == "mean" else one
        # grad mode is off inside forward: whether a gradient will be asked for was read by the caller
        # (under no_grad, needs_input_grad still says which inputs require one)
        # float16 is left out: its range cannot hold a gradient formed before the upstream
        # gradient scales it (a loss scale of 2**14 would find it underflowed, a large 'sum'
        # overflowed); it recomputes in backward, the upstream gradient first
        eager = reduction != "none" and grad_wanted and torch.float16 not in (hidden.dtype, weight.dtype)
        loss = torch.empty(n, dtype=acc, device=hidden.device)
        lse_all = torch.empty(n, dtype=acc, device=hidden.device)
        if eager:
            grad_hidden, grad_weight, grad_bias = _gradient_buffers(ctx.needs_input_grad, hidden, weight, acc)
        kernel = _kernel_for(hidden)
        label = label.contiguous()
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            g = _chunk_rows(
                kernel, hidden[rows], weight, bias, label[rows], safe[rows], valid[rows], ignore_index, z_loss,
                loss=loss[rows], lse=lse_all[rows], scale=scale if eager else None,
            )  # fmt: skip
            if g is not None:
                _accumulate(g, hidden[rows], weight, _rows(grad_hidden, rows), grad_weight, grad_bias)
            del g  # before the next chunk's logits: one chunk's buffer at a time
        if eager:
            ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        else:
            ctx.save_for_backward(hidden, weight, bias, label, safe, valid, lse_all, scale)
        ctx.eager, ctx.z_loss, ctx.chunk, ctx.weight_dtype = eager, z_loss, chunk, weight.dtype
        ctx.ignore_index, ctx.kernel = ignore_index, kernel
        if reduction == "none":
            return loss
        total = loss.sum()
        return total * scale if reduction == "mean" else total

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        refuse_second_derivative()
        if ctx.eager:  # the forward pass already formed the gradients for a unit upstream gradient
            if getattr(ctx, "scaled_in_place", False):  # only after a backward that failed midway
                raise RuntimeError(
                    "a backward pass through this linear_cross_entropy failed after scaling its gradients "
                    "in place: compute the loss again"
                )
            # scaled where they lie when the graph goes after this pass: a scaled copy would hold a
            # second grad_weight at the peak (V x D: 1 GiB at 128256 x 4096 in bfloat16); with
            # retain_graph=True (gradcheck's too) the next backward needs them unscaled: a copy.
            # Returned as views (see the row-block cross-entropy of losskit._fast): the saved
            # tensor itself would be cloned by AccumulateGrad, which takes a gradient as .grad
            # only when nothing else holds it
            # (not for a batched upstream gradient, is_grads_batched: the saved tensors are not batched)
            in_place = ctx.scaled_in_place = graph_is_freed() and not _batched(grad_out)
            grads = tuple(
                None if t is None
                else _scale_in_place(t, grad_out).view_as(t) if in_place and t.dtype == ctx.weight_dtype
                else _scaled(t, grad_out, ctx.weight_dtype)
                for t in ctx.saved_tensors
            )  # fmt: skip
            # done: a second backward after this one meets torch's own error (the graph is freed)
            ctx.scaled_in_place = False
            return *grads, *(None,) * 6
        if _batched(grad_out):  # the chunks' gradients are formed and summed in place
            raise RuntimeError(
                "linear_cross_entropy with reduction='none' (or float16 inputs) has no batched backward "
                "(torch.autograd.grad(..., is_grads_batched=True), jacobian(vectorize=True)): take one "
                "gradient at a time, or reduce the loss ('mean' or 'sum') first"
            )
        hidden, weight, bias, label, safe, valid, lse_all, scale = ctx.saved_tensors
        grad_hidden, grad_weight, grad_bias = _gradient_buffers(ctx.needs_input_grad, hidden, weight, lse_all.dtype)
        go = grad_out.to(lse_all.dtype)
        if go.ndim == 0:  # a scalar loss in float16: the upstream gradient times d total / d loss_i
            go = (go * scale).expand(hidden.shape[0])
        # the forward pass's path, unless torch traces this backward (compiled autograd: fake tensors)
        kernel = None if torch_tracing() else ctx.kernel
        for start in range(0, hidden.shape[0], ctx.chunk):
            rows = slice(start, min(start + ctx.chunk, hidden.shape[0]))
            g = _chunk_rows(
                kernel, hidden[rows], weight, bias, label[rows], safe[rows], valid[rows], ctx.ignore_index,
                ctx.z_loss, lse=lse_all[rows], lse_given=True, scale=go[rows],
            )  # fmt: skip
            assert g is not None  # scale given: the chunk's gradient is returned
            _accumulate(g, hidden[rows], weight, _rows(grad_hidden, rows), grad_weight, grad_bias)
            del g  # before the next chunk's logits: one chunk's buffer at a time
        gb = grad_bias.to(weight.dtype) if grad_bias is not None else None
        return grad_hidden, grad_weight, gb, *(None,) * 6


@overload
def _autocast(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor: ...
@overload
def _autocast(t: None, dtype: torch.dtype) -> None: ...
def _autocast(t: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """What autocast does to an argument of ``F.linear``: float64 is left alone, other floats cast."""
    return t if t is None or t.dtype == torch.float64 else t.to(dtype)


def _transformed(*tensors: torch.Tensor | None) -> bool:
    """A torch.func transform in force, or a dual tensor (forward-mode AD) among ``tensors``: not
    the dual level alone, inside which plain tensors take the backward as everywhere."""
    if torch._C._are_functorch_transforms_active():
        return True
    if torch.autograd.forward_ad._current_level < 0:  # no dual level open: no tangent anywhere
        return False
    return any(t is not None and torch.autograd.forward_ad.unpack_dual(t).tangent is not None for t in tensors)


def linear_cross_entropy_torch(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    label: torch.Tensor,
    ignore_index: int,
    z_loss: float,
    reduction: str,
    chunk: int,
) -> torch.Tensor:
    if not torch_tracing() and _transformed(hidden, weight, bias):
        raise NotImplementedError(
            "losskit.fused.linear_cross_entropy on torch has first derivatives through torch.autograd "
            "only: not under torch.func transforms (grad, vmap, jvp, jacfwd, hessian) or forward-mode "
            "AD; for those, compute the logits and take SoftmaxCELoss"
        )
    device_type = hidden.device.type
    autocast = torch.is_autocast_enabled(device_type)
    if autocast:
        # as F.linear under autocast: the product in the autocast dtype (a float32 master weight is
        # cast, its gradient cast back by autograd); inside, autocast is off so that the chunks'
        # mm(out=...) and the backward's recomputed logits see the dtypes the forward saw
        dtype = torch.get_autocast_dtype(device_type)
        hidden, weight, bias = _autocast(hidden, dtype), _autocast(weight, dtype), _autocast(bias, dtype)
    dtypes = {t.dtype for t in (hidden, weight, bias) if t is not None}
    if len(dtypes) > 1:
        raise TypeError(
            "hidden, weight and bias must have one dtype (or run under torch.autocast), got "
            + ", ".join(
                f"{name} {t.dtype}"
                for name, t in (("hidden", hidden), ("weight", weight), ("bias", bias))
                if t is not None
            )
        )
    grad_wanted = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (hidden, weight, bias))
    with torch.autocast(device_type, enabled=False) if autocast else contextlib.nullcontext():
        return _LinearCrossEntropy.apply(
            hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk, grad_wanted
        )
