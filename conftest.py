"""Test-session set-up shared by ``tests/`` and the doctests of ``src/``."""

import importlib.util
import os

# Triton's interpreter runs losskit's Triton kernel (losskit/fused/_triton.py) on CPU tensors, so
# that the tests check it against the PyTorch path on a machine without a GPU. Triton reads this
# when it is imported; losskit imports it only when a call needs the kernel, after this.
os.environ.setdefault("TRITON_INTERPRET", "1")

# without Triton (not on PyPI for macOS or Windows) the kernel module cannot be imported for its doctests
collect_ignore = [] if importlib.util.find_spec("triton") else ["src/losskit/fused/_triton.py"]
