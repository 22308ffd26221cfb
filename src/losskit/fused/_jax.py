"""JAX path of :func:`losskit.fused.linear_cross_entropy`: a ``jax.custom_vjp`` over ``lax.scan``.

The scan runs the chunks one after another, so XLA holds one chunk of ``(chunk, V)`` logits at
a time (an unrolled Python loop lets it schedule every chunk at once). The backward pass
recomputes each chunk's logits from the saved log-sum-exp. Tokens are padded up to a whole
number of chunks with ignored rows.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp


def _acc(dtype) -> jnp.dtype:
    return jnp.promote_types(dtype, jnp.float32)  # float32, or float64 for float64 inputs


def _logits(h: jax.Array, weight: jax.Array, bias: jax.Array | None) -> jax.Array:
    acc = _acc(h.dtype)
    z = jnp.matmul(h, weight.T, preferred_element_type=acc)
    return z + bias.astype(acc) if bias is not None else z


def _chunked(x: jax.Array, chunk: int, fill) -> jax.Array:
    """``x`` padded with ``fill`` to a multiple of ``chunk`` rows and split into ``(k, chunk, ...)``."""
    pad = -x.shape[0] % chunk
    if pad:
        x = jnp.concatenate([x, jnp.full((pad, *x.shape[1:]), fill, x.dtype)])
    return x.reshape(-1, chunk, *x.shape[1:])


def _forward(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk):
    n = hidden.shape[0]
    valid = label != ignore_index
    safe = jnp.where(valid, label, 0)

    def step(_, xs):
        h, y = xs
        z = _logits(h, weight, bias)
        lse = jax.nn.logsumexp(z, axis=1)
        target = jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]
        return None, (lse - target + z_loss * lse * lse, lse)

    _, (loss, lse) = jax.lax.scan(step, None, (_chunked(hidden, chunk, 0), _chunked(safe, chunk, 0)))
    loss, lse = loss.reshape(-1)[:n], lse.reshape(-1)[:n]
    loss = jnp.where(valid, loss, 0.0)
    count = jnp.sum(valid)
    if reduction == "none":
        out = loss
    elif reduction == "sum":
        out = jnp.sum(loss)
    else:
        out = jnp.where(count > 0, jnp.sum(loss) / jnp.maximum(count, 1), 0.0)
    return out, (hidden, weight, bias, safe, valid, lse, count)


@partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7))
def _linear_cross_entropy(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk):
    return _forward(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk)[0]


def _backward(ignore_index, z_loss, reduction, chunk, residuals, grad_out):
    hidden, weight, bias, safe, valid, lse_all, count = residuals
    n, vocab = hidden.shape[0], weight.shape[0]
    acc = _acc(hidden.dtype)
    go = grad_out.astype(acc)
    if reduction == "mean":
        go = go / jnp.maximum(count, 1)
    row_scale = jnp.where(valid, jnp.broadcast_to(go, valid.shape), 0.0)

    def step(carry, xs):
        grad_weight, grad_bias = carry
        h, y, lse, scale = xs
        probs = jnp.exp(_logits(h, weight, bias) - lse[:, None])  # softmax = exp(logits - logsumexp)
        if z_loss:
            probs = probs * (1 + 2 * z_loss * lse[:, None])  # d(z lse^2)/dlogits = 2 z lse softmax
        # where, not only * scale: the rows padding the last chunk (h = 0, lse = 0) can overflow
        # exp(bias - 0) to inf, and inf * 0 = NaN would reach grad_weight and grad_bias
        g = jnp.where(scale[:, None] != 0, (probs - jax.nn.one_hot(y, vocab, dtype=acc)) * scale[:, None], 0.0)
        g_in = g.astype(hidden.dtype)
        grad_h = jnp.matmul(g_in, weight, preferred_element_type=acc).astype(hidden.dtype)
        grad_weight = grad_weight + jnp.matmul(g_in.T, h, preferred_element_type=acc)
        if grad_bias is not None:
            grad_bias = grad_bias + jnp.sum(g, axis=0)
        return (grad_weight, grad_bias), grad_h

    init = (jnp.zeros(weight.shape, acc), jnp.zeros(vocab, acc) if bias is not None else None)
    xs = (
        _chunked(hidden, chunk, 0),
        _chunked(safe, chunk, 0),
        _chunked(lse_all, chunk, 0.0),
        _chunked(row_scale, chunk, 0.0),
    )
    (grad_weight, grad_bias), grad_hidden = jax.lax.scan(step, init, xs)
    grad_hidden = grad_hidden.reshape(-1, hidden.shape[1])[:n]
    gb = grad_bias.astype(bias.dtype) if bias is not None else None
    return grad_hidden, grad_weight.astype(weight.dtype), gb, None


_linear_cross_entropy.defvjp(lambda *args: _forward(*args), _backward)


def linear_cross_entropy_jax(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk):
    return _linear_cross_entropy(hidden, weight, bias, label, ignore_index, z_loss, reduction, chunk)
