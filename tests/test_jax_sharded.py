"""Every case on JAX arrays spread over four host devices along the batch axis, eagerly and under
``jax.jit`` (``jax_sharded_worker.py``, in a fresh process: the device count is fixed at JAX's
start). Eagerly, 30 cases raised inside JAX before: a ``(C,)`` class vector, an ``arange`` or
CTC's lengths were made with ``device=`` the logits' sharding, which fits only arrays of the
logits' shape (IndivisibleError, or an IndexError in CTC)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cases import CASES

pytest.importorskip("jax")


def test_every_case_on_batch_sharded_jax_arrays():
    """One test, one worker process: the sweep runs once, not once per pytest-xdist worker."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_ENABLE_X64", "XLA_FLAGS")}
    worker = Path(__file__).with_name("jax_sharded_worker.py")
    done = subprocess.run([sys.executable, str(worker)], capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(results) == sorted(case.id for case in CASES)
    failed = {case: problems for case, problems in results.items() if problems}
    assert not failed, json.dumps(failed, indent=1)[:5000]
