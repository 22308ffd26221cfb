"""Benchmark: large-vocabulary linear cross-entropy, fused vs unfused, on a GPU (or CPU).

Compares, forward + backward, time (median of alternating rounds) and peak memory:

- ``torch-naive``: ``cross_entropy(linear(h, W).float(), y)``, the logits materialised;
- ``torch-chunked``: ``torch.nn.functional.linear_cross_entropy`` with chunking, where the
  installed PyTorch has it;
- ``liger``: Liger-Kernel's ``liger_fused_linear_cross_entropy``, where installed;
- ``cce``: Cut Cross-Entropy's ``linear_cross_entropy`` (``impl='cce'``), where installed;
- ``losskit``: ``losskit.fused.linear_cross_entropy`` (on CUDA with Triton: its Triton kernel);
- ``losskit-pytorch``: the same with the Triton kernel off (its PyTorch path), where the kernel applies;
- ``jax-naive`` / ``jax-losskit``: the same under ``jax.jit(jax.grad)`` when JAX sees the device.

Every implementation is first checked against a float64-accumulated reference on a smaller
problem (loss and both gradients); the table says how far each is.

    python benchmarks/fused_linear_ce.py --device cuda --tokens 8192 --dim 4096 --vocab 128256
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from losskit.fused import _torch as fused_torch  # noqa: E402
from losskit.fused import linear_cross_entropy  # noqa: E402


def losskit_pytorch_path(*args: Any, **kwargs: Any) -> torch.Tensor:
    """losskit's fused loss with its Triton kernel off (the backward follows the forward's path)."""
    saved, fused_torch.TRITON = fused_torch.TRITON, False
    try:
        return linear_cross_entropy(*args, **kwargs)
    finally:
        fused_torch.TRITON = saved


def torch_impls(device: str, dtype: torch.dtype) -> dict[str, Callable[..., torch.Tensor]]:
    impls: dict[str, Callable[..., torch.Tensor]] = {
        "torch-naive": lambda h, w, y: F.cross_entropy(F.linear(h, w).float(), y),
        "losskit": lambda h, w, y: linear_cross_entropy(h, w, y),
    }
    probe = torch.empty(1, 1, device=device, dtype=dtype)
    if fused_torch._kernel_for(probe) is not None:
        impls["losskit-pytorch"] = losskit_pytorch_path
    if hasattr(F, "linear_cross_entropy") and hasattr(torch.nn, "LinearCrossEntropyOptions"):
        try:
            opts = torch.nn.LinearCrossEntropyOptions(chunking_strategy="batch")
        except TypeError:
            opts = torch.nn.LinearCrossEntropyOptions()
        impls["torch-chunked"] = lambda h, w, y: F.linear_cross_entropy(h, w, y, options=opts)
    try:
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

        impls["liger"] = lambda h, w, y: liger_fused_linear_cross_entropy(h, w, y)
    except Exception as exc:  # noqa: BLE001 - report any import failure and go on
        print(f"liger: not available ({type(exc).__name__}: {exc})")
    try:
        from cut_cross_entropy import linear_cross_entropy as cce

        impls["cce"] = lambda h, w, y: cce(h, w, y, impl="cce")
    except Exception as exc:  # noqa: BLE001
        print(f"cce: not available ({type(exc).__name__}: {exc})")
    return impls


def make_inputs(n: int, d: int, v: int, dtype: torch.dtype, device: str, seed: int = 0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    h = (torch.randn(n, d, generator=g) / d**0.25).to(device=device, dtype=dtype)
    w = (torch.randn(v, d, generator=g) / d**0.25).to(device=device, dtype=dtype)
    y = torch.randint(0, v, (n,), generator=g).to(device)
    y[::17] = -100
    return h, w, y


def check(impls: dict, n: int, d: int, v: int, device: str, dtype: torch.dtype) -> dict[str, dict[str, float]]:
    h, w, y = make_inputs(min(n, 1024), min(d, 512), min(v, 32000), dtype, device, seed=1)
    hr, wr = h.double().requires_grad_(), w.double().requires_grad_()
    ref = F.cross_entropy(F.linear(hr, wr), y)
    ref_gh, ref_gw = torch.autograd.grad(ref, (hr, wr))
    errors = {}
    for name, fn in impls.items():
        hh, ww = h.clone().requires_grad_(), w.clone().requires_grad_()
        try:
            out = fn(hh, ww, y)
            gh, gw = torch.autograd.grad(out, (hh, ww))
        except Exception as exc:  # noqa: BLE001
            errors[name] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
            continue

        def rel(a, b):
            return float((a.double() - b).norm() / b.norm())

        errors[name] = {"loss": abs(out.item() - ref.item()), "grad_h": rel(gh, ref_gh), "grad_w": rel(gw, ref_gw)}
    return errors


def time_torch(impls: dict, n: int, d: int, v: int, dtype: torch.dtype, device: str, rounds: int) -> dict:
    h, w, y = make_inputs(n, d, v, dtype, device)
    cuda = device.startswith("cuda")
    times: dict[str, list[float]] = {k: [] for k in impls}
    peaks: dict[str, float] = {}

    def once(name: str) -> float:
        hh, ww = h.detach().requires_grad_(), w.detach().requires_grad_()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        t0 = time.perf_counter()
        out = impls[name](hh, ww, y)
        out.backward()
        if cuda:
            torch.cuda.synchronize()
            peaks[name] = (torch.cuda.max_memory_allocated() - base) / 2**30
        elapsed = time.perf_counter() - t0
        del out, hh, ww
        return elapsed

    alive = dict(impls)
    for name in list(alive):  # warm-up (and triton autotune) outside the timed rounds
        try:
            once(name)
            once(name)
        except Exception as exc:  # noqa: BLE001
            print(f"{name}: failed at this size ({type(exc).__name__}: {str(exc)[:120]})")
            alive.pop(name)
            times.pop(name)
            if cuda:
                torch.cuda.empty_cache()
    for _ in range(rounds):  # alternate the implementations round by round
        for name in alive:
            times[name].append(once(name))
    return {k: {"ms": 1e3 * statistics.median(t), "peak_gib": peaks.get(k)} for k, t in times.items()}


def time_jax(n: int, d: int, v: int, rounds: int, dtype_name: str) -> dict:
    try:
        import jax
        import jax.numpy as jnp
        import optax
    except ImportError as exc:
        return {"skipped": str(exc)}
    key = jax.random.PRNGKey(0)
    k1, k2, k3 = jax.random.split(key, 3)
    if dtype_name == "float64":
        jax.config.update("jax_enable_x64", True)  # else float64 arrays are silently float32
    dtype = getattr(jnp, dtype_name)  # the --dtype of the torch rows (it was always bfloat16)
    h = (jax.random.normal(k1, (n, d)) / d**0.25).astype(dtype)
    w = (jax.random.normal(k2, (v, d)) / d**0.25).astype(dtype)
    y = jax.random.randint(k3, (n,), 0, v).at[::17].set(-100)  # ignored tokens, as the torch rows

    def naive(h, w, y):
        # optax has no ignore index (a label of -100 gives NaN): the torch rows' mean over the
        # tokens kept, written out
        logits = jnp.matmul(h, w.T, preferred_element_type=jnp.float32)
        kept = y != -100
        per_token = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.where(kept, y, 0))
        return jnp.sum(jnp.where(kept, per_token, 0.0)) / jnp.maximum(jnp.sum(kept), 1)

    def fused(h, w, y):
        return linear_cross_entropy(h, w, y)

    result: dict[str, Any] = {"accuracy": {}}
    for name, fn in (("jax-naive", naive), ("jax-losskit", fused)):  # as check() does for torch
        small = make_inputs(min(n, 1024), min(d, 512), min(v, 32000), torch.float32, "cpu", seed=1)
        # in the timed dtype, against float64 of the same rounded inputs (as check() for torch)
        hs, ws = (jnp.asarray(x.numpy()).astype(dtype) for x in small[:2])
        ys = small[2].numpy()
        value, (gh, gw) = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))(hs, ws, ys)
        want, want_gh, want_gw = _numpy_reference(*(np.asarray(x.astype(jnp.float32)) for x in (hs, ws)), ys)
        result["accuracy"][name] = {
            "loss": abs(float(value) - want),
            "grad_h": _relative_error(gh, want_gh),
            "grad_w": _relative_error(gw, want_gw),
        }
    fns = {
        "jax-naive": jax.jit(jax.grad(naive, argnums=(0, 1))),
        "jax-losskit": jax.jit(jax.grad(fused, argnums=(0, 1))),
    }
    for name, fn in fns.items():
        compiled = fn.lower(h, w, y).compile()
        mem = compiled.memory_analysis()
        temp = getattr(mem, "temp_size_in_bytes", None) if mem is not None else None
        jax.block_until_ready(fn(h, w, y))
        result[name] = {"temp_gib": temp / 2**30 if temp else None, "times": []}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(h, w, y))
            result[name]["times"].append(time.perf_counter() - t0)
    accuracy = result.pop("accuracy")
    timed = {k: {"ms": 1e3 * statistics.median(r.pop("times")), **r} for k, r in result.items()}
    return {"accuracy": accuracy, **timed}


def _relative_error(got: Any, want: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(got, dtype=np.float64) - want) / np.linalg.norm(want))


def _numpy_reference(h: np.ndarray, w: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The mean cross-entropy of ``h @ w.T`` over the tokens whose label is not -100, and its
    gradients with respect to ``h`` and ``w``, in float64."""
    h64, w64 = h.astype(np.float64), w.astype(np.float64)
    logits = h64 @ w64.T
    kept = y != -100
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    rows = np.flatnonzero(kept)
    loss = -log_p[rows, y[rows]].sum() / len(rows)
    g = np.exp(log_p)
    g[rows, y[rows]] -= 1.0
    g[~kept] = 0.0
    g /= len(rows)
    return float(loss), g @ w64, g.T @ h64


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--dim", type=int, default=4096)
    parser.add_argument("--vocab", type=int, default=128256)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-jax", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    dtype = getattr(torch, args.dtype)
    impls = torch_impls(args.device, dtype)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "shape": {"tokens": args.tokens, "dim": args.dim, "vocab": args.vocab, "dtype": args.dtype},
    }
    report["accuracy"] = check(impls, args.tokens, args.dim, args.vocab, args.device, dtype)
    report["torch"] = time_torch(impls, args.tokens, args.dim, args.vocab, dtype, args.device, args.rounds)
    if not args.no_jax:
        report["jax"] = time_jax(args.tokens, args.dim, args.vocab, args.rounds, args.dtype)
        report["accuracy"].update(report["jax"].pop("accuracy", {}))
    base = report["torch"].get("torch-naive", {}).get("ms")
    print(f"\n{report['device']}  tokens={args.tokens} dim={args.dim} vocab={args.vocab} {args.dtype}")
    print(f"{'implementation':<16}{'fwd+bwd ms':>12}{'vs naive':>10}{'peak GiB':>10}  accuracy vs float64")
    for name, r in {**report["torch"], **report.get("jax", {})}.items():
        if not isinstance(r, dict) or "ms" not in r:
            continue
        acc = report["accuracy"].get(name, {})
        acc_s = ", ".join(f"{k} {v:.1e}" if isinstance(v, float) else f"{k} {v}" for k, v in acc.items())
        peak = r.get("peak_gib", r.get("temp_gib"))
        # each library against its own unfused head
        own = report.get("jax", {}).get("jax-naive", {}).get("ms") if name.startswith("jax") else base
        ratio = f"{r['ms'] / own:.2f}x" if own else ""
        print(f"{name:<16}{r['ms']:>12.2f}{ratio:>10}{(f'{peak:.2f}' if peak else '-'):>10}  {acc_s}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
