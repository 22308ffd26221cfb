"""JAX path of :func:`losskit.fused.linear_cross_entropy`: a ``jax.custom_vjp`` over ``lax.scan``.

The scan runs the chunks one after another, so XLA holds one chunk of ``(chunk, V)`` logits at
a time (an unrolled Python loop lets it schedule every chunk at once). Tokens are padded up to
a whole number of chunks with ignored rows, after the chunks are evened out
(:func:`even_chunk`): 520 tokens in chunks of 512 are two chunks of 260, not 1024 rows.

For a scalar loss (``'mean'``, ``'sum'``) the forward rule of the VJP forms the gradients while
each chunk's logits are at hand, for a unit cotangent, and the backward rule only scales them
(Liger-Kernel's scheme, as the torch path): three matmuls per chunk, as the unfused head, where
recomputing the logits in the backward pass takes four. ``'none'`` keeps the recomputation (the
cotangent differs per row). Evaluating the loss without differentiating it runs the primal
function, which forms no gradient.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

#: ``(grad_weight, grad_bias)`` accumulated over the chunks (no bias: None).
Grads = tuple[jax.Array, jax.Array | None]


def _acc(dtype: Any) -> Any:
    return jnp.promote_types(dtype, jnp.float32)  # float32, or float64 for float64 inputs


def _logits(h: jax.Array, weight: jax.Array, bias: jax.Array | None) -> jax.Array:
    acc = _acc(h.dtype)
    z = jnp.matmul(h, weight.T, preferred_element_type=acc)
    return z + bias.astype(acc) if bias is not None else z


def _chunked(x: jax.Array, chunk: int, fill: float) -> jax.Array:
    """``x`` padded with ``fill`` to a multiple of ``chunk`` rows and split into ``(k, chunk, ...)``."""
    pad = -x.shape[0] % chunk
    if pad:
        x = jnp.concatenate([x, jnp.full((pad, *x.shape[1:]), fill, x.dtype)])
    return x.reshape(-1, chunk, *x.shape[1:])


def even_chunk(n: int, chunk: int) -> int:
    """The rows per chunk for ``n`` tokens in as many chunks as ``chunk`` rows need, as even as can
    be: fewer than one padding row per chunk (never more rows than ``chunk``, so never more memory)."""
    chunks = max(1, -(-n // chunk))
    return max(1, -(-n // chunks))


def _unchunked(x: jax.Array, n: int) -> jax.Array:
    return x.reshape(-1, *x.shape[2:])[:n]


def _grad_logits(z: jax.Array, lse: jax.Array, y: jax.Array, scale: jax.Array, z_loss: float) -> jax.Array:
    """d loss / d logits of one chunk: ``(softmax (1 + 2 z lse) - onehot(y)) * scale`` per row."""
    probs = jnp.exp(z - lse[:, None])  # softmax = exp(logits - logsumexp)
    if z_loss:
        probs = probs * (1 + 2 * z_loss * lse[:, None])  # d(z lse^2)/dlogits = 2 z lse softmax
    # where, not only * scale: the rows padding the last chunk (h = 0, lse = 0) can overflow
    # exp(bias - 0) to inf, and inf * 0 = NaN would reach grad_weight and grad_bias
    onehot = jax.nn.one_hot(y, z.shape[1], dtype=z.dtype)
    return jnp.where(scale[:, None] != 0, (probs - onehot) * scale[:, None], 0.0)


def _gradient_step(carry: Grads, g: jax.Array, h: jax.Array, weight: jax.Array) -> tuple[Grads, jax.Array]:
    """Add one chunk's ``g`` to ``(grad_weight, grad_bias)``; return them and the chunk's grad_hidden."""
    grad_weight, grad_bias = carry
    g_in = g.astype(h.dtype)
    grad_h = jnp.matmul(g_in, weight, preferred_element_type=g.dtype).astype(h.dtype)
    grad_weight = grad_weight + jnp.matmul(g_in.T, h, preferred_element_type=g.dtype)
    if grad_bias is not None:
        grad_bias = grad_bias + jnp.sum(g, axis=0)
    return (grad_weight, grad_bias), grad_h


def _zero_grads(weight: jax.Array, bias: jax.Array | None, acc: Any) -> Grads:
    return jnp.zeros(weight.shape, acc), jnp.zeros(weight.shape[0], acc) if bias is not None else None


def _reduce(loss: jax.Array, valid: jax.Array, reduction: str) -> jax.Array:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return jnp.sum(loss)
    count = jnp.sum(valid)
    return jnp.where(count > 0, jnp.sum(loss) / jnp.maximum(count, 1), 0.0)


def _forward(
    hidden: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    label: jax.Array,
    ignore_index: int,
    z_loss: float,
    reduction: str,
    chunk: int,
    with_grads: bool,
) -> tuple[jax.Array, tuple[Any, ...]]:
    """The loss and ``(residuals)``; with ``with_grads`` (a scalar reduction) the residuals are the
    gradients for a unit cotangent, formed in the same scan."""
    n = hidden.shape[0]
    acc = _acc(hidden.dtype)
    valid = label != ignore_index
    safe = jnp.where(valid, label, 0)
    # d total / d loss_i: 1 ('none', 'sum') or 1 / count ('mean'), 0 for ignored rows; the
    # cotangent multiplies it, here (the forward rule's unit one) or in the backward rule
    per_row = 1.0 / jnp.maximum(jnp.sum(valid), 1).astype(acc) if reduction == "mean" else 1.0
    row_scale = jnp.where(valid, per_row, 0.0).astype(acc)

    def step(carry: Any, xs: tuple[jax.Array, ...]) -> tuple[Any, tuple[jax.Array, ...]]:
        h, y, scale = xs
        z = _logits(h, weight, bias)
        lse = jax.nn.logsumexp(z, axis=1)
        target = jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]
        out = (lse - target + z_loss * lse * lse, lse)
        if not with_grads:
            return carry, out
        carry, grad_h = _gradient_step(carry, _grad_logits(z, lse, y, scale, z_loss), h, weight)
        return carry, (*out, grad_h)

    xs = (_chunked(hidden, chunk, 0), _chunked(safe, chunk, 0), _chunked(row_scale, chunk, 0.0))
    init: Any = _zero_grads(weight, bias, acc) if with_grads else None
    carry, outs = jax.lax.scan(step, init, xs)
    loss = jnp.where(valid, _unchunked(outs[0], n), 0.0)
    out = _reduce(loss, valid, reduction)
    if with_grads:  # kept in the primals' dtypes until the cotangent scales them (as the torch path)
        grad_weight, grad_bias = carry
        return out, _cast(_unchunked(outs[2], n), grad_weight, grad_bias, hidden, weight, bias)[:3]
    return out, (hidden, weight, bias, safe, row_scale, _unchunked(outs[1], n))


@partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7))
def _linear_cross_entropy(
    hidden: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    label: jax.Array,
    ignore_index: int,
    z_loss: float,
    reduction: str,
    chunk: int,
) -> jax.Array:
    return _forward(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk, with_grads=False)[0]


def _grads_in_forward(reduction: str, *arrays: jax.Array | None) -> bool:
    """A scalar loss's gradients are formed in the forward rule, except in float16: its range
    cannot hold a gradient formed before the cotangent scales it (a loss scale of 2**14 would
    find it underflowed, a large 'sum' overflowed). float16 recomputes, the cotangent first."""
    return reduction != "none" and all(a is None or a.dtype != jnp.float16 for a in arrays)


def _forward_rule(
    hidden: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    label: jax.Array,
    ignore_index: int,
    z_loss: float,
    reduction: str,
    chunk: int,
) -> tuple[jax.Array, tuple[Any, ...]]:
    eager = _grads_in_forward(reduction, hidden, weight, bias)
    return _forward(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk, eager)


def _backward_rule(
    ignore_index: int, z_loss: float, reduction: str, chunk: int, residuals: tuple[Any, ...], grad_out: jax.Array
) -> tuple[jax.Array | None, ...]:
    if len(residuals) == 3:  # formed by the forward rule for a unit cotangent: scale them
        # in the cotangent's float32, each entry rounded once (fused into one pass under jit):
        # bfloat16(c) would scale every gradient by bf16(c) / c (+0.2% for c = 1/3)
        return (*(None if g is None else (g * grad_out).astype(g.dtype) for g in residuals), None)
    hidden, weight, bias, safe, unit_scale, lse_all = residuals
    n = hidden.shape[0]
    # the cotangent: one per row ('none'), or a scalar (float16); where: none reaches an ignored row
    row_scale = jnp.where(unit_scale != 0, unit_scale * grad_out.astype(lse_all.dtype), 0.0)

    def step(carry: Grads, xs: tuple[jax.Array, ...]) -> tuple[Grads, jax.Array]:
        h, y, lse, scale = xs
        g = _grad_logits(_logits(h, weight, bias), lse, y, scale, z_loss)
        return _gradient_step(carry, g, h, weight)

    xs = (
        _chunked(hidden, chunk, 0),
        _chunked(safe, chunk, 0),
        _chunked(lse_all, chunk, 0.0),
        _chunked(row_scale, chunk, 0.0),
    )
    (grad_weight, grad_bias), grad_hidden = jax.lax.scan(step, _zero_grads(weight, bias, lse_all.dtype), xs)
    return _cast(_unchunked(grad_hidden, n), grad_weight, grad_bias, hidden, weight, bias)


def _cast(
    grad_hidden: jax.Array,
    grad_weight: jax.Array,
    grad_bias: jax.Array | None,
    hidden: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
) -> tuple[jax.Array | None, ...]:
    """The cotangents in their primals' dtypes (accumulated in float32 or wider); none for the label."""
    gb = None if bias is None or grad_bias is None else grad_bias.astype(bias.dtype)
    return grad_hidden.astype(hidden.dtype), grad_weight.astype(weight.dtype), gb, None


_linear_cross_entropy.defvjp(_forward_rule, _backward_rule)


def linear_cross_entropy_jax(
    hidden: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    label: jax.Array,
    ignore_index: int,
    z_loss: float,
    reduction: str,
    chunk: int,
) -> jax.Array:
    chunk = even_chunk(hidden.shape[0], chunk)
    return _linear_cross_entropy(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk)
