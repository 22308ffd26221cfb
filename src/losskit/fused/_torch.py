"""PyTorch path of :func:`losskit.fused.linear_cross_entropy`: a chunked ``autograd.Function``."""

from __future__ import annotations

from typing import Any

import torch


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
        count = valid.sum()
        one = torch.ones((), dtype=acc, device=hidden.device)
        scale = one / count.clamp(min=1).to(acc) if reduction == "mean" else one
        eager = reduction != "none" and any(ctx.needs_input_grad[:3])
        loss = torch.empty(n, dtype=acc, device=hidden.device)
        lse_all = torch.empty(n, dtype=acc, device=hidden.device)
        if eager:
            grad_hidden = torch.empty_like(hidden)
            grad_weight = torch.zeros(weight.shape, dtype=acc, device=weight.device)
            grad_bias = torch.zeros(weight.shape[0], dtype=acc, device=weight.device) if bias is not None else None
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            h = hidden[start:stop]
            logits = _chunk_logits(h, weight, bias)
            lse = torch.logsumexp(logits, dim=1)
            target = logits.gather(1, safe[start:stop, None])[:, 0]
            loss[start:stop] = torch.where(valid[start:stop], lse - target + z_loss * lse * lse, 0.0)
            lse_all[start:stop] = lse
            if eager:
                g = _grad_logits_(logits, lse, safe[start:stop], valid[start:stop], z_loss, scale).to(hidden.dtype)
                grad_hidden[start:stop] = g @ weight
                grad_weight += (g.t() @ h).to(acc)
                if grad_bias is not None:
                    grad_bias += g.to(acc).sum(0)
        if eager:
            ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype), grad_bias)
        else:
            ctx.save_for_backward(hidden, weight, bias, safe, valid, lse_all)
        ctx.eager, ctx.z_loss, ctx.chunk, ctx.has_bias = eager, z_loss, chunk, bias is not None
        if reduction == "none":
            return loss.to(hidden.dtype)
        total = loss.sum()
        return (total * scale if reduction == "mean" else total).to(hidden.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        if ctx.eager:
            grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
            go = grad_out.to(grad_hidden.dtype)
            gb = grad_bias * grad_out if grad_bias is not None else None
            return (
                grad_hidden * go,
                grad_weight * go,
                (gb.to(grad_hidden.dtype) if gb is not None else None),
                *(None,) * 5,
            )
        hidden, weight, bias, safe, valid, lse_all = ctx.saved_tensors
        grad_hidden = torch.empty_like(hidden)
        acc = lse_all.dtype
        grad_weight = torch.zeros(weight.shape, dtype=acc, device=weight.device)
        grad_bias = torch.zeros(weight.shape[0], dtype=acc, device=weight.device) if ctx.has_bias else None
        go = grad_out.to(acc)
        for start in range(0, hidden.shape[0], ctx.chunk):
            stop = min(start + ctx.chunk, hidden.shape[0])
            h = hidden[start:stop]
            logits = _chunk_logits(h, weight, bias)
            g = _grad_logits_(
                logits, lse_all[start:stop], safe[start:stop], valid[start:stop], ctx.z_loss, go[start:stop]
            )
            g = g.to(hidden.dtype)
            grad_hidden[start:stop] = g @ weight
            grad_weight += (g.t() @ h).to(acc)
            if grad_bias is not None:
                grad_bias += g.to(acc).sum(0)
        gb = grad_bias.to(weight.dtype) if grad_bias is not None else None
        return grad_hidden, grad_weight.to(weight.dtype), gb, *(None,) * 5


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
