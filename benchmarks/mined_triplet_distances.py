"""Benchmark: the mined triplet losses' distances on the CPU, torch's ``cdist`` against the generic path.

``TripletHardLoss`` and ``TripletSemiHardLoss`` need the ``(N, N)`` distances between the
embeddings. On CPU torch tensors they come from ``torch.cdist`` where it is as accurate
(``losskit._fast.torch_self_distances``: ``O(N^2)`` memory), else from the generic path's
``(N, N, D)`` differences. Forward + backward of each loss, fast paths on and off
(``losskit._fast.disabled()``), alternating rounds, medians, their ratio; the two are checked
equal first (in float64).

    python benchmarks/mined_triplet_distances.py --sizes 128x64,512x128,1024x256 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import losskit  # noqa: E402
from losskit import _fast  # noqa: E402
from losskit.bench import time_alternating  # noqa: E402


def _step(loss: Any, x: torch.Tensor, y: torch.Tensor, fast: bool) -> Any:
    def run() -> Any:
        if fast:
            return torch.autograd.grad(loss(x, y).sum(), x)
        with _fast.disabled():
            return torch.autograd.grad(loss(x, y).sum(), x)

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="128x64,512x128,1024x256", help="NxD, comma-separated")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="write the rows here too")
    opts = p.parse_args(argv)
    rows = []
    torch.set_num_threads(opts.threads)
    print("| loss | N x D | cdist ms | generic ms | ratio |\n|---|---|---|---|---|")
    for size in opts.sizes.split(","):
        n, d = (int(v) for v in size.split("x"))
        gen = torch.Generator().manual_seed(n * d)
        x = torch.randn(n, d, generator=gen, requires_grad=True)
        y = torch.randint(0, max(2, n // 4), (n,), generator=gen)  # about 4 rows a class
        for name in ("TripletHardLoss", "TripletSemiHardLoss"):
            loss = losskit.get_loss(name)
            # checked in float64: in float32 the two distances differ by rounding, and semi-hard mining
            # may then pick another negative for an anchor where two are within rounding of the positive
            x64 = x.detach().double()
            with _fast.disabled():
                want = loss(x64, y)
            torch.testing.assert_close(loss(x64, y), want, rtol=1e-9, atol=1e-12)
            fns = {"cdist": _step(loss, x, y, True), "generic": _step(loss, x, y, False)}
            times = time_alternating(fns, lambda: None, repeats=opts.repeats, min_block_s=0.05)
            ours, generic = (statistics.median(times[k]) * 1e3 for k in ("cdist", "generic"))
            print(f"| {name} | {n} x {d} | {ours:.2f} | {generic:.2f} | {ours / generic:.2f} |")
            rows.append({"loss": name, "n": n, "d": d, "cdist_ms": ours, "generic_ms": generic})
    if opts.json:
        info = {"torch": torch.__version__, "threads": opts.threads, "repeats": opts.repeats}
        Path(opts.json).write_text(json.dumps({"environment": info, "results": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
