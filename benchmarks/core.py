"""Benchmark losskit against torch.nn.functional, optax and MXNet 1.9.1: ``python benchmarks/core.py --help``.

A thin script over :mod:`losskit.bench` (also ``losskit bench``), so that the benchmark ships
with the package; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from losskit.bench import main
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from losskit.bench import main

if __name__ == "__main__":
    sys.exit(main())
