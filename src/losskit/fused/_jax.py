"""JAX path of :func:`losskit.fused.linear_cross_entropy`: a chunked ``jax.custom_vjp``.

The backward pass recomputes each chunk's logits from the saved log-sum-exp, so that neither
pass holds more than one chunk of ``(chunk, V)`` float32 logits.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp


def _chunks(n: int, chunk: int) -> list[tuple[int, int]]:
    return [(s, min(s + chunk, n)) for s in range(0, n, chunk)]


def _acc(dtype) -> jnp.dtype:
    return jnp.promote_types(dtype, jnp.float32)  # float32, or float64 for float64 inputs


def _logits(h: jax.Array, weight: jax.Array, bias: jax.Array | None) -> jax.Array:
    acc = _acc(h.dtype)
    z = jnp.matmul(h, weight.T, preferred_element_type=acc)
    return z + bias.astype(acc) if bias is not None else z


def _forward(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk):
    valid = label != ignore_index
    safe = jnp.where(valid, label, 0)
    losses, lses = [], []
    for s, e in _chunks(hidden.shape[0], chunk):
        z = _logits(hidden[s:e], weight, bias)
        lse = jax.nn.logsumexp(z, axis=1)
        target = jnp.take_along_axis(z, safe[s:e, None], axis=1)[:, 0]
        losses.append(lse - target + z_loss * lse * lse)
        lses.append(lse)
    loss = jnp.where(valid, jnp.concatenate(losses), 0.0)
    count = jnp.sum(valid)
    if reduction == "none":
        out = loss
    elif reduction == "sum":
        out = jnp.sum(loss)
    else:
        out = jnp.where(count > 0, jnp.sum(loss) / jnp.maximum(count, 1), 0.0)
    return out.astype(hidden.dtype), (hidden, weight, bias, safe, valid, jnp.concatenate(lses), count)


@partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7))
def _linear_cross_entropy(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk):
    return _forward(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk)[0]


def _backward(ignore_index, z_loss, reduction, chunk, residuals, grad_out):
    hidden, weight, bias, safe, valid, lse_all, count = residuals
    acc = _acc(hidden.dtype)
    go = grad_out.astype(acc)
    if reduction == "mean":
        go = go / jnp.maximum(count, 1)
    row_scale = jnp.where(valid, jnp.broadcast_to(go, valid.shape), 0.0)
    grad_hidden, grad_weight = [], jnp.zeros(weight.shape, acc)
    grad_bias = jnp.zeros(weight.shape[0], acc) if bias is not None else None
    vocab = weight.shape[0]
    for s, e in _chunks(hidden.shape[0], chunk):
        z = _logits(hidden[s:e], weight, bias)
        probs = jnp.exp(z - lse_all[s:e, None])  # softmax = exp(logits - logsumexp)
        if z_loss:
            probs = probs * (1 + 2 * z_loss * lse_all[s:e, None])  # d(z lse^2)/dlogits = 2 z lse softmax
        g = (probs - jax.nn.one_hot(safe[s:e], vocab, dtype=acc)) * row_scale[s:e, None]
        g_in = g.astype(hidden.dtype)
        grad_hidden.append(jnp.matmul(g_in, weight, preferred_element_type=acc).astype(hidden.dtype))
        grad_weight = grad_weight + jnp.matmul(g_in.T, hidden[s:e], preferred_element_type=acc)
        if grad_bias is not None:
            grad_bias = grad_bias + jnp.sum(g, axis=0)
    gb = grad_bias.astype(bias.dtype) if bias is not None else None
    return jnp.concatenate(grad_hidden), grad_weight.astype(weight.dtype), gb, None


_linear_cross_entropy.defvjp(lambda *args: _forward(*args), _backward)


def linear_cross_entropy_jax(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk):
    return _linear_cross_entropy(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk)
