"""Benchmark: sparse cross-entropy on the CPU, losskit against ``torch.nn.functional.cross_entropy``.

On torch CPU tensors ``losskit.SoftmaxCELoss`` takes torch's op for small logits and its row
blocks for large ones (``losskit._fast.CPU_ROWS_CE_MIN`` logits with a gradient wanted,
``CPU_ROWS_CE_VALUE_MIN_BYTES`` for the loss alone). For each shape ``(N, C)`` this times, in
one process, alternating rounds, medians:

- ``fwd+bwd``: the loss of leaf logits, summed, and its gradient (``torch.autograd.grad``);
- ``no grad``: the loss alone under ``torch.no_grad()``;

and gives losskit's time over torch's (its "path" column: which one losskit took). Each checks
the other's values and gradients first.

    python benchmarks/cpu_cross_entropy.py --threads 1 --repeats 7 --json cpu-ce.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import losskit  # noqa: E402
from losskit import _fast  # noqa: E402
from losskit.bench import time_alternating  # noqa: E402

SHAPES = [(4096, 128), (256, 1024), (1024, 1024), (2048, 2048), (256, 8192), (256, 32768), (4096, 2048), (512, 32768)]


def _step(f: Any, x: torch.Tensor, y: torch.Tensor, grad: bool) -> Any:
    """One timed call: the summed loss's gradient, or the loss alone under ``torch.no_grad()``."""
    if grad:
        return lambda: torch.autograd.grad(f(x, y).sum(), x)

    def run() -> Any:
        with torch.no_grad():
            return f(x, y)

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shapes", default=",".join(f"{n}x{c}" for n, c in SHAPES), help="NxC, comma-separated")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="write the rows here too")
    opts = p.parse_args(argv)
    torch.set_num_threads(opts.threads)
    loss = losskit.SoftmaxCELoss()
    rows = []
    print("| N x C | MiB | mode | path | losskit ms | torch ms | ratio |\n|---|---|---|---|---|---|---|")
    for shape in opts.shapes.split(","):
        n, c = (int(v) for v in shape.split("x"))
        gen = torch.Generator().manual_seed(n * c)
        x = (3 * torch.randn(n, c, generator=gen)).requires_grad_()
        y = torch.randint(0, c, (n,), generator=gen)

        def torch_ce(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.cross_entropy(x, y, reduction="none")

        for mode in ("fwd+bwd", "no grad"):
            grad = mode == "fwd+bwd"
            path = "row blocks" if _fast.cpu_rows_ce_applies(x, grad) else "torch's op"
            if grad:
                g_ours = torch.autograd.grad(loss(x, y).sum(), x)[0]
                g_torch = torch.autograd.grad(torch_ce(x, y).sum(), x)[0]
                torch.testing.assert_close(g_ours, g_torch, rtol=1e-5, atol=1e-7)
            else:
                with torch.no_grad():
                    torch.testing.assert_close(loss(x, y), torch_ce(x, y), rtol=1e-5, atol=1e-6)
            fns = {"losskit": _step(loss, x, y, grad), "torch": _step(torch_ce, x, y, grad)}
            times = time_alternating(fns, lambda: None, repeats=opts.repeats, min_block_s=0.05)
            ours, theirs = (statistics.median(times[k]) * 1e3 for k in ("losskit", "torch"))
            mib = n * c * 4 / 2**20
            rows.append({"n": n, "c": c, "mode": mode, "path": path, "losskit_ms": ours, "torch_ms": theirs})
            print(f"| {n} x {c} | {mib:g} | {mode} | {path} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} |")
    if opts.json:
        environment = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "torch": torch.__version__,
            "threads": opts.threads,
            "repeats": opts.repeats,
        }
        Path(opts.json).write_text(json.dumps({"environment": environment, "results": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
