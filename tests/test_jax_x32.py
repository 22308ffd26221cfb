"""Every case on JAX in its default mode, ``jax_enable_x64`` off (float32 arrays, int32 labels),
as users run it: the rest of the suite turns x64 on for its float64 checks (``backends.py``), so
this runs ``jax_x32_worker.py`` in a fresh process. Per case: values against the NumPy float64
result, float32 output of the right shape, jit equal to eager, finite float32 gradients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cases import CASES

pytest.importorskip("jax")


@pytest.fixture(scope="module")
def x32_results() -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    worker = Path(__file__).with_name("jax_x32_worker.py")
    done = subprocess.run([sys.executable, str(worker)], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_in_jax_default_float32_mode(case, x32_results):
    assert case.id in x32_results
    assert x32_results[case.id] == []


def test_unsigned_labels_are_not_wrapped_to_the_ignore_index(x32_results):
    """SoftmaxCE and the fused loss under jit with a uint32 label of 2**32 - 100 (int32: -100)."""
    assert x32_results["unsigned"] == []
