"""Benchmark: TripletSemiHardLoss's mining, losskit's sorted search against tfa's cubic comparison.

Both on torch CPU tensors, forward + backward, the same embeddings and labels: ``losskit`` is
``losskit.TripletSemiHardLoss(reduction="mean")``; ``cubic`` is the same loss with the semi-hard
negative found as tfa does (every pair against every negative, an ``(N, N, N)`` array), written out
here from losskit's own distances and pair masks. Each checks the other's value first; the table
gives medians of alternating rounds (:func:`losskit.bench.time_alternating`) and their ratio.

    python benchmarks/semihard_mining.py --sizes 128,256,512 --dim 32 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import losskit  # noqa: E402
from losskit._array import namespace  # noqa: E402
from losskit.bench import time_alternating  # noqa: E402
from losskit.functional import metric  # noqa: E402


def cubic_semihard(x: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """The loss with tfa's mining: the nearest farther negative by an ``(N, N, N)`` comparison."""
    xp = namespace(x, names=("x",))
    d = metric._embedding_distances(xp, x, "L2")
    positive, negative, self_pair = metric._pair_masks(xp, y)
    zero = torch.zeros_like(d)
    farthest = torch.where(negative, d, zero).amax(dim=1, keepdim=True)
    outside = negative[:, None, :] & (d[:, None, :] > d[:, :, None])
    fill = torch.where(self_pair, zero, d).amax(dim=1, keepdim=True)[:, :, None]
    nearest = torch.where(outside, d[:, None, :], fill).amin(dim=2)
    semi_hard = torch.where(outside.any(dim=2), nearest, farthest)
    pair = torch.where(positive, torch.relu(d - semi_hard + margin), zero)
    return pair.sum() / positive.sum().clamp(min=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="128,256,512", help="batch sizes N, comma-separated")
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    opts = p.parse_args(argv)
    torch.set_num_threads(opts.threads)
    loss = losskit.TripletSemiHardLoss(reduction="mean")
    print("| N | D | losskit ms | cubic ms | ratio |\n|---|---|---|---|---|")
    for n in (int(v) for v in opts.sizes.split(",")):
        gen = torch.Generator().manual_seed(n)
        x = torch.randn(n, opts.dim, generator=gen, requires_grad=True)
        y = torch.randint(0, max(2, n // 4), (n,), generator=gen)  # about 4 rows a class
        torch.testing.assert_close(loss(x, y), cubic_semihard(x, y), rtol=1e-5, atol=1e-6)

        def step(f: Any, x: torch.Tensor = x, y: torch.Tensor = y) -> Any:
            return lambda: torch.autograd.grad(f(x, y), x)

        times = time_alternating(
            {"losskit": step(loss), "cubic": step(cubic_semihard)}, lambda: None, repeats=opts.repeats, min_block_s=0.05
        )
        ours, theirs = (statistics.median(times[k]) * 1e3 for k in ("losskit", "cubic"))
        print(f"| {n} | {opts.dim} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
