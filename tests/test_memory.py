"""Memory: losses whose natural formula holds an array larger than its inputs and output (the
differences of every pair of rows, say) must not. Measured as XLA's temporary buffers of the
compiled gradient, which count every intermediate the backward pass keeps."""

from __future__ import annotations

import numpy as np
import pytest

import losskit

jax = pytest.importorskip("jax")


def _gradient_temp_bytes(fn, *args) -> int:
    compiled = jax.jit(jax.grad(lambda *xs: fn(*xs).sum(), argnums=tuple(range(len(args))))).lower(*args).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def test_sdml_holds_no_pairwise_differences():
    """MXNet's SDML forms the (N, N, D) differences of the two sets' rows (1 GiB at 512 x 256 in
    float32, kept for the backward pass); losskit's squared distances are O(N^2 + N D)."""
    n, d = 256, 64
    rng = np.random.default_rng(0)
    a, b = (jax.numpy.asarray(rng.normal(size=(n, d)), dtype="float32") for _ in range(2))
    temp = _gradient_temp_bytes(losskit.SDMLLoss(), a, b)
    pairwise_differences = n * n * d * 4
    assert temp < pairwise_differences / 8, (temp, pairwise_differences)
