"""Run by ``tests/test_jax_x32.py`` in a fresh process: every case of ``tests/cases.py`` on JAX in
its default mode (``jax_enable_x64`` off: float32 and int32, as users run it), which the rest of
the suite, running with x64 on, never sees. Prints one JSON object: case id -> problems found."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import losskit  # noqa: E402
from cases import CASES  # noqa: E402


def _jax(x, is_float):
    if x is None or isinstance(x, (int, float)):
        return x
    x = np.asarray(x)
    return jnp.asarray(x.astype(np.float32) if is_float and np.issubdtype(x.dtype, np.floating) else x)


def check(case) -> list[str]:
    raw = case.make(np.random.default_rng(0))
    loss = losskit.get_loss(case.loss, **case.init)
    args = [_jax(x, i in case.float_args) for i, x in enumerate(raw)]
    # the reference: the same loss on NumPy float64 (a cross-backend comparison)
    ref_args = [x if x is None or isinstance(x, (int, float)) else np.asarray(x) for x in raw]
    ref_args = [x.astype(np.float64) if i in case.float_args and isinstance(x, np.ndarray) else x
                for i, x in enumerate(ref_args)]  # fmt: skip
    want = np.asarray(loss(*ref_args, **case.call_kwargs))
    problems = []
    out = loss(*args, **case.call_kwargs)
    if out.dtype != jnp.float32:
        problems.append(f"dtype {out.dtype}")
    if tuple(out.shape) != tuple(want.shape):
        problems.append(f"shape {tuple(out.shape)} vs {tuple(want.shape)}")
    finite = np.isfinite(want)
    if not np.array_equal(np.isfinite(np.asarray(out)), finite) or not np.allclose(
        np.asarray(out)[finite], want[finite], rtol=2e-5, atol=1e-5
    ):
        problems.append(f"value {np.asarray(out).tolist()} vs {want.tolist()}")
    jitted = jax.jit(lambda *a: loss(*a, **case.call_kwargs))(*args)
    if not np.allclose(np.asarray(jitted), np.asarray(out), rtol=1e-5, atol=1e-6, equal_nan=True):
        problems.append("jit differs from eager")

    def total(*floats):
        full = list(args)
        for i, f in zip(case.float_args, floats):
            full[i] = f
        return jnp.sum(loss(*full, **case.call_kwargs))

    grads = jax.jit(jax.grad(total, argnums=tuple(range(len(case.float_args)))))(*[args[i] for i in case.float_args])
    for i, g in zip(case.float_args, grads):
        if g.dtype != jnp.float32 or not bool(jnp.all(jnp.isfinite(g))):
            problems.append(f"gradient of argument {i}: dtype {g.dtype}, finite {bool(jnp.all(jnp.isfinite(g)))}")
    return problems


def unsigned_labels() -> list[str]:
    """A uint32 label of 2**32 - 100 is out of range, not the ignore_index -100 it becomes when cast
    to int32 (JAX's index dtype here): under jit, where labels go unchecked, its row keeps a loss."""
    from losskit.fused import linear_cross_entropy

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(3, 5)).astype(np.float32))
    y = jnp.array([1, 2**32 - 100, 2], dtype=jnp.uint32)
    ce = jax.jit(losskit.SoftmaxCrossEntropyLoss(ignore_index=-100))(x, y)
    fused = jax.jit(lambda h, y: linear_cross_entropy(h, jnp.eye(5), y, reduction="none"))(x, y)
    return [f"{name}: row 1 ignored ({np.asarray(out).tolist()})" for name, out in (("ce", ce), ("fused", fused))
            if np.asarray(out)[1] == 0]  # fmt: skip


def main() -> None:
    assert not jax.config.jax_enable_x64
    results = {}
    for name, run in [*((case.id, lambda case=case: check(case)) for case in CASES), ("unsigned", unsigned_labels)]:
        try:
            results[name] = run()
        except Exception as exc:  # noqa: BLE001  (reported per case)
            results[name] = [f"{type(exc).__name__}: {exc}"[:500]]
    print(json.dumps(results))


if __name__ == "__main__":  # (pytest's doctest collection imports this module too)
    main()
