"""One rank of a ``gloo`` process group on the loopback interface, started by tests/test_distributed.py.

:func:`run` computes every case on this rank's vocabulary shard and puts ``(rank, "ok", results)`` on
the queue, or ``(rank, "error", traceback)``; arrays travel as NumPy arrays (pickled by value).
"""

from __future__ import annotations

import datetime
import os
import sys
import traceback
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from losskit.distributed import vocab_parallel_cross_entropy

# a collective that waits longer than this raises in the child instead of hanging the test
COLLECTIVE_TIMEOUT_S = 30


def run(rank: int, world: int, init_file: str, errors: dict[str, dict], cases: dict[str, dict], queue: Any) -> None:
    try:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo0" if sys.platform == "darwin" else "lo")
        torch.set_num_threads(1)
        dist.init_process_group(
            "gloo",
            init_method=f"file://{init_file}",
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S),
        )
        results: dict[str, Any] = {}
        # the error cases run first: a rank that raised alone would leave the others waiting in a
        # collective, and the cases after them would time out
        for name, case in errors.items():
            try:
                _compute(rank, case)
                results[name] = None
            except (ValueError, TypeError) as e:
                results[name] = f"{type(e).__name__}: {e}"
        for name, case in cases.items():
            results[name] = _compute(rank, case)
        queue.put((rank, "ok", results))
    except BaseException:
        queue.put((rank, "error", traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _compute(rank: int, case: dict) -> tuple[np.ndarray, np.ndarray]:
    """This rank's loss and the gradient of ``sum(loss * upstream)`` with respect to its shard."""
    start, stop = case["shards"][rank]
    logits = torch.from_numpy(case["logits"])
    local = logits[..., start:stop].clone().requires_grad_()
    label = torch.from_numpy(case.get("labels", {}).get(rank, case["label"]))
    local_in = local
    if rank in case.get("rows", {}):  # this rank passes fewer rows than the others
        local_in, label = local[case["rows"][rank]], label[case["rows"][rank]]
    if rank in case.get("lead", {}):  # this rank's rows in another shape (the same number of them)
        local_in, label = local.reshape(*case["lead"][rank], -1), label.reshape(case["lead"][rank])
    if rank in case.get("dtypes", {}):  # this rank's logits in another dtype
        local_in = local_in.to(getattr(torch, case["dtypes"][rank]))
    start = case.get("starts", {}).get(rank, start)
    options = {**case["options"], **case.get("rank_options", {}).get(rank, {})}  # this rank's own options
    out = vocab_parallel_cross_entropy(local_in, label, vocab_start=start, **options)
    (grad,) = torch.autograd.grad(out, local, torch.from_numpy(case["upstream"]))
    return out.detach().numpy(), grad.numpy()
