"""Where a loss's time goes on a GPU: launch-bound or kernel-bound, losskit against the reference.

For each loss of ``losskit bench`` (its inputs, its ``torch.nn.functional`` reference) and each
implementation (losskit, its generic path, the reference), forward + backward as the benchmark
times them:

- ``wall``: microseconds per call of a loop of calls with one synchronisation at the end (what
  the benchmark measures);
- ``enqueue``: the same loop's microseconds per call before that synchronisation, the host's work
  alone (equal to ``wall`` when the host is the bottleneck: the call is launch-bound; and, by
  construction, when the call itself synchronises, as the index checks do on a GPU);
- ``kernels`` and ``kernel``: GPU events per call (kernels, copies and memsets: every event
  ``torch.profiler`` puts on the device) and their summed time, the time the call would take
  were the host infinitely fast.

    python benchmarks/cuda_profile.py --losses l2,nll,triplet_margin --json OUT/profile.json
    python benchmarks/cuda_profile.py --losses l2,ce --compile --json OUT/profile-compiled.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from losskit import bench  # noqa: E402


def profile_one(spec: bench.Spec, size: str, device: str, calls: int, compiled: bool = False) -> list[dict[str, Any]]:
    dev = torch.device(device)
    inputs = spec.make(np.random.default_rng(0), bench.sizes(spec.family, size, 1.0))
    args = [torch.from_numpy(a).to(dev) for a in inputs.args]
    extra = [torch.from_numpy(a).to(dev) for a in inputs.extra]
    for i in inputs.grad:
        args[i].requires_grad_(True)
    leaves = [args[i] for i in inputs.grad]
    loss, ref = bench._losskit(spec), bench.torch_references()[spec.id]

    def generic(*a: Any) -> Any:
        with bench._generic():
            return loss(*a)

    impls = {"losskit": (loss, args), "generic": (generic, args), "ref": (ref, [*args, *extra])}
    if compiled:  # both under inductor, as the benchmark's compile rows (no generic: a third compile)
        torch._dynamo.reset()
        impls = {
            "losskit": (torch.compile(lambda *a: loss(*a), fullgraph=True, dynamic=False), args),
            "ref": (torch.compile(lambda *a: ref(*a), dynamic=False), [*args, *extra]),
        }
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    rows = []
    for name, (fn, call_args) in impls.items():

        def step(fn: Any = fn, call_args: list[Any] = call_args) -> None:
            out = fn(*call_args)
            torch.autograd.grad(out, leaves, grad_outputs=torch.ones_like(out))

        for _ in range(3):
            step()
        sync()
        walls, enqueues = [], []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(calls):
                step()
            queued = time.perf_counter()
            sync()
            end = time.perf_counter()
            walls.append((end - start) / calls * 1e6)
            enqueues.append((queued - start) / calls * 1e6)
        activities = [torch.profiler.ProfilerActivity.CPU]
        if dev.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=activities) as prof:
            for _ in range(5):
                step()
            sync()
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        row = {
            "loss": spec.id,
            "size": size,
            "impl": f"{name}-compiled" if compiled else name,
            "wall_us": statistics.median(walls),
            "enqueue_us": statistics.median(enqueues),
            "kernels": len(kernels) / 5,
            "kernel_us": sum(e.time_range.elapsed_us() for e in kernels) / 5,
        }
        rows.append(row)
        print(
            f"{spec.id:16} {size:5} {row['impl']:16} wall {row['wall_us']:9.1f} us  "
            f"enqueue {row['enqueue_us']:9.1f} us  "
            f"kernels {row['kernels']:5.1f}  kernel time {row['kernel_us']:9.1f} us",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--losses", required=True, help="comma-separated ids of losskit bench's torch rows")
    p.add_argument("--size", choices=("small", "large"), default="large")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--calls", type=int, default=20, help="calls per timed loop (default 20)")
    p.add_argument("--compile", action="store_true", help="losskit and the reference under torch.compile (inductor)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    rows = []
    for spec in bench.select_specs(args.losses.split(",")):
        if spec.torch is None:
            continue
        try:
            rows += profile_one(spec, args.size, args.device, args.calls, args.compile)
        except Exception as exc:  # report, go on to the next loss
            print(f"{spec.id}: {type(exc).__name__}: {exc}", flush=True)
            rows.append({"loss": spec.id, "error": f"{type(exc).__name__}: {exc}"})
    if args.json:
        args.json.write_text(json.dumps({"device": args.device, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
