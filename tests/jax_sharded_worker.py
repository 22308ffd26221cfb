"""Run by ``tests/test_jax_sharded.py`` in a fresh process with four host devices: every case of
``tests/cases.py`` with its inputs spread over the devices along their first axis (where it
divides by 4), called eagerly and under ``jax.jit``, against the same call on unsharded inputs.
Prints one JSON object: case id -> problems found."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
sys.path.insert(0, str(Path(__file__).parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import losskit  # noqa: E402
from cases import CASES  # noqa: E402

MESH = jax.make_mesh((4,), ("batch",), axis_types=(AxisType.Auto,))


def _jax(x, is_float):
    if x is None or isinstance(x, (int, float)):
        return x
    x = np.asarray(x)
    return jnp.asarray(x.astype(np.float32) if is_float and np.issubdtype(x.dtype, np.floating) else x)


def _spread(x):
    if not hasattr(x, "shape") or x.ndim == 0:
        return x
    spec = P("batch") if x.shape[0] % 4 == 0 and x.shape[0] > 0 else P()
    return jax.device_put(x, NamedSharding(MESH, spec))


def check(case) -> list[str]:
    raw = case.make(np.random.default_rng(0))
    args = [_jax(x, i in case.float_args) for i, x in enumerate(raw)]
    loss = losskit.get_loss(case.loss, **case.init)
    want = np.asarray(loss(*args, **case.call_kwargs))
    spread = [_spread(x) for x in args]
    assert any(getattr(x, "sharding", None) is not None and len(x.sharding.device_set) == 4 for x in spread)
    problems = []
    for mode in ("eager", "jit"):
        try:
            if mode == "eager":
                got = loss(*spread, **case.call_kwargs)
            else:
                got = jax.jit(lambda *a: loss(*a, **case.call_kwargs))(*spread)
        except Exception as error:  # reported, not raised: one case's failure must not hide the others'
            problems.append(f"{mode}: {type(error).__name__}: {str(error)[:200]}")
            continue
        if got.shape != want.shape or got.dtype != want.dtype:
            problems.append(f"{mode}: {got.shape} {got.dtype}, want {want.shape} {want.dtype}")
        elif not np.allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6, equal_nan=True):
            problems.append(f"{mode}: {np.asarray(got)} != {want}")
    return problems


if __name__ == "__main__":
    assert len(jax.devices()) == 4, jax.devices()
    print(json.dumps({case.id: check(case) for case in CASES}))
