"""JAX transformations: ``jit`` equals eager, ``vmap`` equals a loop, for every loss."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from backends import to_backend, to_numpy
from cases import CASES

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")


def _args(case, seed=0):
    raw = case.make(np.random.default_rng(seed))
    return [to_backend(x, "jax", "float64" if i in case.float_args else None) for i, x in enumerate(raw)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_jit_equals_eager(case):
    loss = losskit.get_loss(case.loss, **case.init)
    args = _args(case)
    eager = loss(*args)
    jitted = jax.jit(lambda *a: loss(*a))(*args)
    np.testing.assert_allclose(to_numpy(jitted), to_numpy(eager), rtol=1e-12, atol=1e-12)
    grad = jax.jit(jax.grad(lambda p, *rest: loss(p, *rest).sum()))(*args)
    assert bool(jnp.all(jnp.isfinite(grad)))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vmap_equals_loop(case):
    loss = losskit.get_loss(case.loss, **case.init)
    batches = [_args(case, seed) for seed in (1, 2)]
    stacked = [jnp.stack([b[i] for b in batches]) for i in range(len(batches[0]))]
    mapped = jax.vmap(lambda *a: loss(*a))(*stacked)
    for k, b in enumerate(batches):
        np.testing.assert_allclose(to_numpy(mapped[k]), to_numpy(loss(*b)), rtol=1e-12, atol=1e-12)
