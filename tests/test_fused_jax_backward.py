"""The fused linear cross-entropy's JAX backward rules at the edges the forward-only and mean
tests do not reach: non-finite cotangents at ignored rows, and the recomputing rule's padded last
chunk under a large bias (each test written against a mutant the suite let pass, 2026-12-01).

Reference: torch.nn.functional.cross_entropy(linear(h)) with autograd; never losskit's output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from losskit.fused import linear_cross_entropy

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy
tf = torch.nn.functional
N, D, V = 37, 16, 50


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(N, D, dtype=torch.float32, generator=g)
    w = torch.randn(V, D, dtype=torch.float32, generator=g)
    b = torch.randn(V, dtype=torch.float32, generator=g)
    y = torch.randint(0, V, (N,), generator=g)
    y[::5] = -100
    return h, w, b, y


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_jax_non_finite_upstream_gradient_at_ignored_rows_stays_there(bad):
    """reduction='none' on JAX: an ignored row's cotangent may be NaN or inf (a mean over a fully
    padded sequence, 0/0); it must reach no gradient (0 * inf is NaN), as with torch's
    cross_entropy. The torch path has this test (test_fused.py); the JAX backward rule's
    where(unit_scale != 0, ...) had none."""
    h, w, b, y = _inputs()
    upstream = torch.linspace(0.5, 2.0, N)
    upstream[y == -100] = bad
    ht, wt, bt = (t.double().requires_grad_() for t in (h, w, b))
    ref = tf.cross_entropy(tf.linear(ht, wt, bt), y, reduction="none", ignore_index=-100)
    want = torch.autograd.grad(ref, (ht, wt, bt), upstream.double())
    hj, wj, bj, yj, uj = (jnp.asarray(t.numpy()) for t in (h, w, b, y, upstream))
    _, vjp = jax.vjp(lambda a, c, d: linear_cross_entropy(a, c, yj, bias=d, reduction="none", chunk_size=8), hj, wj, bj)
    got = vjp(uj)
    for g, r in zip(got, want):
        assert np.isfinite(np.asarray(g)).all()
        np.testing.assert_allclose(np.asarray(g), r.numpy(), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_jax_recomputing_backward_with_a_padded_chunk_and_a_large_bias_stays_finite(reduction, dtype):
    """The backward rule that recomputes the logits ('none', and float16's scalar reductions) pads
    the saved log-sum-exp with 0: the padding rows' exp(bias - 0) overflows (bias 100 > 88.7,
    float32's log max), and only _grad_logits' where keeps inf * 0 = NaN out of grad_weight and
    grad_bias. test_fused.py has this case for 'mean' in float32 only, which forms the gradients
    in the forward rule and never reaches that where."""
    h, w, b, y = _inputs()
    b = b.clone()
    b[3] = 100.0  # float16 holds it; the logits are float32 (exp(100) overflows there too)
    assert N % 7 != 0
    upstream = torch.linspace(0.5, 2.0, N) if reduction == "none" else torch.tensor(1.5)
    ht, wt, bt = (t.to(getattr(torch, dtype)).double().requires_grad_() for t in (h, w, b))
    ref = tf.cross_entropy(tf.linear(ht, wt, bt), y, reduction=reduction, ignore_index=-100)
    want = torch.autograd.grad(ref, (ht, wt, bt), upstream.double())
    hj, wj, bj = (jnp.asarray(t.numpy(), dtype=dtype) for t in (h, w, b))
    yj, uj = jnp.asarray(y.numpy()), jnp.asarray(upstream.numpy())  # the loss is float32 for float16 inputs

    def loss(a, c, d):
        return linear_cross_entropy(a, c, yj, bias=d, reduction=reduction, chunk_size=7)

    _, vjp = jax.vjp(loss, hj, wj, bj)
    tol = 2e-4 if dtype == "float32" else 2e-2
    for g, r in zip(vjp(uj), want):
        g = np.asarray(g, dtype=np.float64)
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, r.numpy(), rtol=tol, atol=tol * (1 + np.abs(r.numpy()).max()))
