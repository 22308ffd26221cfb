"""PyTorch path of :func:`losskit.fused.linear_cross_entropy`: a chunked ``autograd.Function``.

``grad_weight`` is accumulated in place with ``addmm_`` in the weight's dtype, chunk after
chunk (as Liger-Kernel does): a float32 copy would cost 2x the weight's memory and one more
read-modify-write of it per chunk, which dominated the step in measurements on an H200.
"""

from __future__ import annotations

from typing import Any

import torch


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


def _grad_logits_(
    logits: torch.Tensor,
    lse: torch.Tensor,
    label: torch.Tensor,
    valid: torch.Tensor,
    z_loss: float,
    row_scale: torch.Tensor,
) -> torch.Tensor:
    """In place: logits -> d loss / d logits = softmax * (1 + 2 z lse) - onehot, times row_scale."""
    probs = logits.sub_(lse[:, None]).exp_()  # softmax = exp(logits - logsumexp)
    if z_loss:
        probs.mul_((1 + 2 * z_loss * lse)[:, None])  # d(z lse^2)/dlogits = 2 z lse softmax
    rows = torch.arange(probs.shape[0], device=probs.device)
    probs[rows, label] -= 1
    return probs.mul_((valid * row_scale)[:, None])


def _accumulate(
    g: torch.Tensor,
    h: torch.Tensor,
    weight: torch.Tensor,
    grad_hidden: torch.Tensor,
    grad_weight: torch.Tensor,
    grad_bias: torch.Tensor | None,
) -> None:
    """Add one chunk's contribution: grad_hidden rows = g W, grad_weight += g^T h, grad_bias += sum g."""
    g_in = g.to(h.dtype)
    torch.mm(g_in, weight, out=grad_hidden)
    grad_weight.addmm_(g_in.t(), h)
    if grad_bias is not None:
        grad_bias += g.sum(0)


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        label: torch.Tensor,
        ignore_index: int,
        z_loss: float,
        reduction: str,
        chunk: int,
    ) -> torch.Tensor:
        n = hidden.shape[0]
        acc = torch.promote_types(hidden.dtype, torch.float32)  # float32, or float64 for float64 inputs
        valid = label != ignore_index
        safe = torch.where(valid, label, 0)
        one = torch.ones((), dtype=acc, device=hidden.device)
        scale = one / valid.sum().clamp(min=1).to(acc) if reduction == "mean" else one
        eager = reduction != "none" and any(ctx.needs_input_grad[:3])
        loss = torch.empty(n, dtype=acc, device=hidden.device)
        lse_all = torch.empty(n, dtype=acc, device=hidden.device)
        if eager:
            grad_hidden = torch.empty_like(hidden)
            grad_weight = torch.zeros_like(weight)
            grad_bias = torch.zeros(weight.shape[0], dtype=acc, device=weight.device) if bias is not None else None
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            logits = _chunk_logits(hidden[start:stop], weight, bias)
            lse = torch.logsumexp(logits, dim=1)
            target = logits.gather(1, safe[start:stop, None])[:, 0]
            loss[start:stop] = torch.where(valid[start:stop], lse - target + z_loss * lse * lse, 0.0)
            lse_all[start:stop] = lse
            if eager:
                g = _grad_logits_(logits, lse, safe[start:stop], valid[start:stop], z_loss, scale)
                _accumulate(g, hidden[start:stop], weight, grad_hidden[start:stop], grad_weight, grad_bias)
        if eager:
            ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        else:
            ctx.save_for_backward(hidden, weight, bias, safe, valid, lse_all)
        ctx.eager, ctx.z_loss, ctx.chunk, ctx.has_bias = eager, z_loss, chunk, bias is not None
        if reduction == "none":
            return loss
        total = loss.sum()
        return total * scale if reduction == "mean" else total

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        refuse_second_derivative()
        if ctx.eager:  # the forward pass already formed the gradients for a unit upstream gradient
            grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
            go = grad_out.to(grad_hidden.dtype)
            gb = (grad_bias * grad_out).to(grad_weight.dtype) if grad_bias is not None else None
            return grad_hidden * go, grad_weight * go, gb, *(None,) * 5
        hidden, weight, bias, safe, valid, lse_all = ctx.saved_tensors
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight)
        grad_bias = torch.zeros(weight.shape[0], dtype=lse_all.dtype, device=weight.device) if ctx.has_bias else None
        go = grad_out.to(lse_all.dtype)
        for start in range(0, hidden.shape[0], ctx.chunk):
            stop = min(start + ctx.chunk, hidden.shape[0])
            logits = _chunk_logits(hidden[start:stop], weight, bias)
            g = _grad_logits_(
                logits, lse_all[start:stop], safe[start:stop], valid[start:stop], ctx.z_loss, go[start:stop]
            )
            _accumulate(g, hidden[start:stop], weight, grad_hidden[start:stop], grad_weight, grad_bias)
        gb = grad_bias.to(weight.dtype) if grad_bias is not None else None
        return grad_hidden, grad_weight, gb, *(None,) * 5


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
    return _LinearCrossEntropy.apply(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk)
