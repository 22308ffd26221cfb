"""Test-session set-up shared by ``tests/`` and the doctests of ``src/``."""

import importlib.util
import os
import sys
import zlib

import numpy as np
import pytest

# Triton's interpreter runs losskit's Triton kernel (losskit/fused/_triton.py) on CPU tensors, so
# that the tests check it against the PyTorch path on a machine without a GPU. Triton reads this
# when it is imported; losskit imports it only when a call needs the kernel, after this.
os.environ.setdefault("TRITON_INTERPRET", "1")

# without Triton (not on PyPI for macOS or Windows) the kernel module cannot be imported for its doctests
collect_ignore = [] if importlib.util.find_spec("triton") else ["src/losskit/fused/_triton.py"]


@pytest.fixture(autouse=True)
def _inputs_depend_on_the_test_alone(request):
    """Seed every random source a test draws from by the test's own id.

    Test modules keep a module-level ``rng`` for brevity; shared across a module, its draws
    depended on which tests had run before in the same process, which differs between a plain
    run and each ``-n 2`` worker, so a failure on CI could not be replayed (it happened twice).
    Replacing it, and seeding torch's global generator, per test makes a test's inputs a function
    of its node id alone: ``pytest tests/x.py::test_y[case]`` reproduces them in any order.
    """
    seed = zlib.crc32(request.node.nodeid.encode())
    module = getattr(request, "module", None)
    if isinstance(getattr(module, "rng", None), np.random.Generator):
        module.rng = np.random.default_rng(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
