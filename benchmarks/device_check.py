"""One device check for a machine with an NVIDIA GPU (written for an H200): info, fast paths, benchmark.

    python benchmarks/device_check.py --out OUT                      # on the GPU machine, < 6 minutes
    python benchmarks/device_check.py --device cpu --quick --out /tmp/dc   # dry run on a CPU

It never stops at a missing piece (no CUDA, no JAX, no optax): each phase reports what it could
not do and the next one runs. Everything goes to ``--out``:

- ``log.txt``: everything printed;
- ``info.json``: GPU, driver, CUDA, torch / JAX / optax versions;
- ``checks.json``: each fast path of ``losskit._fast`` against the generic array-API path on the
  device, values and gradients, float32 and bfloat16; the CTC custom op, and ``torch.compile`` of
  it (``aot_eager`` and inductor); every case of ``tests/cases.py`` with fast paths on and off;
- ``bench.json/.md``: ``losskit bench`` on the device at the large sizes and the small ones,
  torch eager (with the generic path beside it) and JAX under ``jit``, then ``torch.compile``
  (inductor) at the large size for a few losses, while the time budget lasts; with the
  per-call cost of compiled losskit against compiled ``torch.nn.functional`` (guards), and the
  cost of the index-value checks (cross-entropy, CTC: with and without ``value_checks``) and the
  fused linear cross-entropy at Liger's chunk rule and at losskit's default chunk (``fused_chunks``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
COMPILE_LOSSES = ("ce", "l2", "ctc", "bce", "kl_div", "huber")  # in order, while time lasts


class Log:
    """Prints and appends to ``out/log.txt``."""

    def __init__(self, out: Path) -> None:
        self.path = out / "log.txt"

    def __call__(self, *parts: Any) -> None:
        text = " ".join(str(p) for p in parts)
        print(text, flush=True)
        with self.path.open("a") as f:
            f.write(text + "\n")


def _write(out: Path, name: str, data: Any) -> None:
    (out / name).write_text(data if isinstance(data, str) else json.dumps(data, indent=1, default=str))


def _phase(log: Log, name: str, fn: Callable[[], Any]) -> Any:
    """Run one phase; report, never raise."""
    start = time.monotonic()
    log(f"== {name}")
    try:
        result = fn()
        log(f"== {name}: done in {time.monotonic() - start:.1f}s")
        return result
    except BaseException as exc:  # noqa: BLE001  (a phase must never end the script; KeyboardInterrupt too)
        log(f"== {name}: FAILED after {time.monotonic() - start:.1f}s: {type(exc).__name__}: {exc}")
        log(traceback.format_exc())
        return None


# --------------------------------------------------------------------------------------------
# info
# --------------------------------------------------------------------------------------------


def device_info(log: Log, device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "device_requested": device,
    }
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except Exception as exc:
        info["nvidia_smi"] = f"unavailable: {exc}"
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.version.cuda
        info["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info["gpu"] = props.name
            info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
            info["capability"] = f"{props.major}.{props.minor}"
            info["multiprocessors"] = props.multi_processor_count
    except Exception as exc:
        info["torch"] = f"unavailable: {exc}"
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # torch shares the GPU
    if device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    for name in ("jax", "optax", "numpy", "array_api_compat"):
        try:
            info[name] = __import__(name).__version__
        except Exception as exc:
            info[name] = f"unavailable: {exc}"
    try:
        import jax

        info["jax_backend"] = jax.default_backend()
        info["jax_devices"] = [str(d) for d in jax.devices()]
    except Exception as exc:
        info["jax_backend"] = f"unavailable: {exc}"
    import losskit

    info["losskit"] = str(Path(losskit.__file__).parent)
    for key, value in info.items():
        log(f"  {key}: {value}")
    return info


# --------------------------------------------------------------------------------------------
# fast paths against the generic path, on the device
# --------------------------------------------------------------------------------------------


def fast_path_checks(log: Log, device: str, quick: bool) -> list[dict[str, Any]]:
    """Each fast function against the generic path, then every case of ``tests/cases.py`` through
    the public API with fast paths on and off."""
    import numpy as np
    import torch

    import losskit
    import losskit.functional as LF
    from losskit import _fast
    from losskit._array import clamp_min, namespace, softplus
    from losskit.functional.metric import pairwise_distance

    if device == "cuda" and not torch.cuda.is_available():
        log("  CUDA is not available to torch: fast-path checks skipped")
        return [{"name": "cuda", "ok": False, "error": "torch.cuda.is_available() is False"}]
    dev = torch.device(device)
    rng = np.random.default_rng(0)
    results: list[dict[str, Any]] = []
    txp = namespace(torch.zeros(1))
    tol = {torch.float32: 2e-5, torch.bfloat16: 1.6e-2}

    def t(x: Any, dtype: Any, grad: bool = True) -> Any:
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=dev).requires_grad_(grad)

    def reduce(loss: Any, op: str = "mean", weight: float | None = None) -> Any:
        if weight is not None:
            loss = loss * weight
        axes = tuple(range(1, loss.ndim))
        return (loss.mean(axes) if op == "mean" else loss.sum(axes)) if axes else loss

    def compare(
        name: str, dtype: Any, fast: Callable[[], Any], generic: Callable[[], Any], leaves: list, loose: float = 1.0
    ) -> None:
        """``loose`` widens the float32 tolerance where two algorithms accumulate differently (CTC)."""
        limit = tol[dtype] * (loose if dtype == torch.float32 else 1.0)
        rec: dict[str, Any] = {"name": name, "dtype": str(dtype).replace("torch.", ""), "device": device}
        try:
            got = fast().to(dtype)
            with _fast.disabled():
                want = generic()
            g_got = torch.autograd.grad(got.float().sum(), leaves, allow_unused=True)
            g_want = torch.autograd.grad(want.float().sum(), leaves, allow_unused=True)
            diffs = [_rel(got, want)] + [_rel(a, b) for a, b in zip(g_got, g_want) if a is not None and b is not None]
            rec.update(value_diff=diffs[0], grad_diff=max(diffs[1:], default=0.0), tol=limit)
            rec["ok"] = bool(max(diffs) <= limit)
        except Exception as exc:
            rec.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        results.append(rec)
        status = "ok" if rec.get("ok") else "FAIL"
        diffs = f"value {rec.get('value_diff', float('nan')):.1e} grad {rec.get('grad_diff', float('nan')):.1e}"
        log(f"  {status:4} {name:36} {rec['dtype']:9} {diffs} (tol {limit:.0e}) {rec.get('error', '')}")

    n, d, c = (64, 128, 128) if quick else (512, 4096, 4096)

    def one_dtype(dtype: Any) -> None:
        p, y = t(rng.normal(size=(n, d)), dtype), t(rng.normal(size=(n, d)), dtype)

        def f32(*xs: Any) -> list[Any]:
            return [x.float() for x in xs]

        compare("l2", dtype, lambda: reduce(_fast.torch_l2(*f32(p, y)), weight=0.5), lambda: LF.l2_loss(p, y), [p, y])
        compare("l1", dtype, lambda: reduce(_fast.torch_l1(*f32(p, y))), lambda: LF.l1_loss(p, y), [p, y])
        compare(
            "huber(rho=0.5)",
            dtype,
            lambda: reduce(_fast.torch_huber(*f32(p, y), 0.5)),
            lambda: LF.huber_loss(p, y, rho=0.5),
            [p, y],
        )
        counts = t(rng.poisson(1.5, size=(n, d)), dtype, grad=False)
        for from_logits, full in ((True, False), (True, True), (False, False)):
            x = t(rng.normal(size=(n, d)) * 0.5 if from_logits else rng.uniform(0.1, 3, size=(n, d)), dtype)
            kw = {"from_logits": from_logits, "compute_full": full}
            compare(
                f"poisson_nll(logits={from_logits},full={full})",
                dtype,
                lambda x=x, kw=kw: reduce(_fast.torch_poisson_nll(*f32(x, counts), epsilon=1e-8, **kw)),
                lambda x=x, kw=kw: LF.poisson_nll_loss(x, counts, None, 1e-8, **kw),
                [x],
            )
        z = t(rng.uniform(size=(n, d)), dtype)
        pw = t(rng.uniform(0.5, 3, size=(1, d)), dtype, grad=False)
        compare(
            "bce_with_logits",
            dtype,
            lambda: reduce(_fast.torch_bce_with_logits(*f32(p, z))),
            lambda: LF.sigmoid_binary_cross_entropy(p, z),
            [p, z],
        )
        compare(
            "bce_with_logits(pos_weight)",
            dtype,
            lambda: reduce(_fast.torch_bce_with_logits(*f32(p, z), pw.float())),
            lambda: LF.sigmoid_binary_cross_entropy(p, z, None, pw),
            [p, z],
        )
        logits = t(rng.normal(size=(n, c)) * 3, dtype)
        label = torch.as_tensor(rng.integers(0, c, size=n), device=dev)
        compare(
            "sparse_softmax_ce(axis=-1)",
            dtype,
            lambda: reduce(_fast.torch_sparse_softmax_ce(logits.float(), label, 1)),
            lambda: LF.softmax_cross_entropy(logits, label),
            [logits],
        )
        logits3 = t(rng.normal(size=(16, c, 8)), dtype)
        label3 = torch.as_tensor(rng.integers(0, c, size=(16, 8)), device=dev)
        compare(
            "sparse_softmax_ce(axis=1, 3-d)",
            dtype,
            lambda: reduce(_fast.torch_sparse_softmax_ce(logits3.float(), label3, 1)),
            lambda: LF.softmax_cross_entropy(logits3, label3, axis=1),
            [logits3],
        )
        logp = torch.log_softmax(logits.detach().float(), -1).to(dtype).requires_grad_(True)
        compare(
            "sparse_softmax_ce(from_logits)",
            dtype,
            lambda: reduce(_fast.torch_sparse_softmax_ce(logp.float(), label, 1, True)),
            lambda: LF.softmax_cross_entropy(logp, label, from_logits=True),
            [logp],
        )
        target = torch.softmax(torch.as_tensor(rng.normal(size=(n, c)), device=dev), -1).to(dtype)
        compare(
            "kl_div",
            dtype,
            lambda: reduce(_fast.torch_kl_div(logp.float(), target.float()), "sum"),
            lambda: LF.kl_div(logp, target),
            [logp],
        )
        wide = t(rng.normal(size=(n, d)) * 30, dtype)  # both sides of softplus's threshold
        compare("softplus", dtype, lambda: softplus(txp, wide.float()), lambda: softplus(txp, wide.float()), [wide])
        var = t(rng.uniform(0, 2e-6, size=(n, d)), dtype)  # about half below the floor
        compare(
            "clamp_min",
            dtype,
            lambda: clamp_min(txp, var.float(), 1e-6),
            lambda: clamp_min(txp, var.float(), 1e-6),
            [var],
        )
        # the scaled Euclidean norm (the GPU's fast path) on rows of 1e-30, 1 and 1e30, each scale
        # compared on its own, in float32 (the path's compute dtype: half inputs reach it so). The
        # comparison is relative to max(|reference|, 1): the tiny distances are divided by their
        # scale so that it resolves them (their gradients v / d / 1e-30 are then large too)
        for magnitude in (1e-30, 1.0, 1e30) if dtype == torch.float32 else ():
            rows = t(rng.normal(size=(n, d)) * magnitude, torch.float32)
            zeros, unit = torch.zeros_like(rows), min(magnitude, 1.0)
            compare(
                f"scaled_l2_norm(rows of {magnitude:g})",
                dtype,
                lambda rows=rows, zeros=zeros, unit=unit: _fast.torch_scaled_l2_norm(rows - zeros) / unit,
                lambda rows=rows, zeros=zeros, unit=unit: pairwise_distance(txp, rows, zeros, 2, 0.0) / unit,
                [rows],
            )
        t_max, nb, cc, s = 40, 8, 12, 10
        ctc_logits = t(rng.normal(size=(t_max, nb, cc)), dtype)
        ctc_label = torch.as_tensor(rng.integers(0, cc - 1, size=(nb, s)), device=dev)
        ll = torch.as_tensor(rng.integers(1, s, size=nb), device=dev)  # below s: log_alpha padded
        pl = torch.as_tensor(rng.integers(2 * s + 1, t_max + 1, size=nb), device=dev)
        compare(
            "ctc(eager fast vs generic)",
            dtype,
            lambda: _fast.torch_ctc_loss(ctc_logits.float(), ctc_label, pl, ll),
            lambda: LF.ctc_loss(ctc_logits, ctc_label, pl, ll, layout="TNC", backend="generic"),
            [ctc_logits],
            loose=10.0,
        )
        blank = cc - 1
        compare(
            "ctc(custom op vs eager fast)",
            dtype,
            lambda: _fast._ctc_custom_op()(torch.log_softmax(ctc_logits.float(), -1), ctc_label, pl, ll, blank)[0],
            lambda: _fast.torch_ctc_loss(ctc_logits.float(), ctc_label, pl, ll).to(dtype),
            [ctc_logits],
        )
        inductor = not quick and device == "cuda" and dtype == torch.float32
        for backend in ("aot_eager", "inductor") if inductor else ("aot_eager",):
            torch._dynamo.reset()
            compiled = torch.compile(_fast.torch_ctc_loss, backend=backend, fullgraph=True)
            compare(
                f"ctc(torch.compile {backend})",
                dtype,
                lambda compiled=compiled: compiled(ctc_logits.float(), ctc_label, pl, ll),
                lambda: _fast.torch_ctc_loss(ctc_logits.float(), ctc_label, pl, ll).to(dtype),
                [ctc_logits],
            )

    for dtype in (torch.float32, torch.bfloat16):
        one_dtype(dtype)
    sys.path.insert(0, str(REPO / "tests"))
    from cases import CASES

    for case in CASES:
        for dtype in (torch.float32, torch.bfloat16):
            loss = losskit.get_loss(case.loss, **case.init)
            raw = case.make(np.random.default_rng(0))
            args = [
                t(x, dtype) if i in case.float_args else (torch.as_tensor(x, device=dev) if x is not None else None)
                for i, x in enumerate(raw)
            ]
            compare(
                f"public {case.id}",
                dtype,
                lambda loss=loss, args=args, case=case: loss(*args, **case.call_kwargs),
                lambda loss=loss, args=args, case=case: loss(*args, **case.call_kwargs),
                [args[i] for i in case.float_args],
            )
    failed = [r for r in results if not r.get("ok")]
    log(f"  {len(results) - len(failed)}/{len(results)} checks passed")
    return results


def _rel(a: Any, b: Any) -> float:
    a, b = a.detach().double(), b.detach().double()
    if a.shape != b.shape:
        return float("inf")
    scale = b.abs().max().clamp_min(1.0)
    return float(((a - b).abs().max() / scale).cpu()) if a.numel() else 0.0


# --------------------------------------------------------------------------------------------
# where compiled losskit spends its extra time per call
# --------------------------------------------------------------------------------------------


def compile_overhead(log: Log, device: str) -> list[dict[str, Any]]:
    """Per call of ``torch.compile`` (``aot_eager``: no code generation) at batch 64: losskit against
    the ``torch.nn.functional`` reference, forward + backward, and the size and cost of the guards
    Dynamo checks before every call (the Python that losskit's layers leave in the guard set)."""
    import statistics

    import torch
    import torch.nn.functional as F

    import losskit

    dev = torch.device(device)
    cases = {
        "l2": (losskit.L2Loss(), lambda p, t: F.mse_loss(p, t, reduction="none").mean(1) / 2, "float"),
        "huber": (
            losskit.HuberLoss(rho=0.5),
            lambda p, t: F.smooth_l1_loss(p, t, reduction="none", beta=0.5).mean(1),
            "float",
        ),
        "ce": (losskit.SoftmaxCELoss(), lambda p, t: F.cross_entropy(p, t, reduction="none"), "index"),
    }
    rows = []
    for name, (loss, ref, kind) in cases.items():
        x = torch.randn(64, 128, device=dev, requires_grad=True)
        y = torch.randn(64, 128, device=dev) if kind == "float" else torch.randint(0, 128, (64,), device=dev)
        row: dict[str, Any] = {"loss": name}
        for tag, fn in (("losskit", lambda p, t, loss=loss: loss(p, t)), ("ref", ref)):
            torch._dynamo.reset()
            code_fn = _fresh(fn)
            compiled = torch.compile(code_fn, backend="aot_eager", fullgraph=tag == "losskit", dynamic=False)

            def step(compiled: Any = compiled, x: Any = x, y: Any = y) -> Any:
                out = compiled(x, y)
                return torch.autograd.grad(out, x, torch.ones_like(out))

            for _ in range(3):
                step()
            times = []
            for _ in range(7):
                start = time.perf_counter()
                for _ in range(200):
                    step()
                if device == "cuda":
                    torch.cuda.synchronize()
                times.append((time.perf_counter() - start) / 200 * 1e6)
            row[f"{tag}_us"] = statistics.median(times)
            try:
                entries = torch._C._dynamo.eval_frame._debug_get_cache_entry_list(code_fn.__code__)
                manager = entries[0].guard_manager
                row[f"{tag}_cache_entries"] = len(entries)
                frame_locals = {"p": x, "t": y}
                start = time.perf_counter()
                for _ in range(2000):
                    manager.check(frame_locals)
                row[f"{tag}_guard_check_us"] = (time.perf_counter() - start) / 2000 * 1e6
            except Exception as exc:  # private API: report, go on
                row[f"{tag}_guard_check_us"] = f"unavailable: {type(exc).__name__}"
        try:
            explained = torch._dynamo.explain(lambda p, t, loss=loss: loss(p, t))(x, y)
            row["losskit_guards"] = len(explained.out_guards)
            explained = torch._dynamo.explain(ref)(x, y)
            row["ref_guards"] = len(explained.out_guards)
        except Exception as exc:
            row["guards"] = f"unavailable: {type(exc).__name__}"
        rows.append(row)
        log(f"  {name:6} " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    return rows


def value_check_cost(log: Log, device: str, quick: bool) -> list[dict[str, Any]]:
    """Eager forward + backward per call of the losses that check index values (cross-entropy,
    CTC): losskit as it is (one host read per call: a synchronisation on a GPU), losskit with
    ``losskit.value_checks(False)`` (no host read), and ``torch.nn.functional``; alternating."""
    import numpy as np
    import torch

    import losskit
    from losskit import bench

    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    specs = {spec.id: spec for spec in bench.SPECS}
    rows = []
    for loss_id in ("ce", "ctc"):
        for size in ("small",) if quick else ("small", "large"):
            spec = specs[loss_id]
            inputs = spec.make(np.random.default_rng(0), bench.sizes(spec.family, size, 1 / 64 if quick else 1.0))
            args = [torch.from_numpy(a).to(dev) for a in inputs.args]
            extra = [torch.from_numpy(a).to(dev) for a in inputs.extra]
            leaves = [args[i].requires_grad_(True) for i in inputs.grad]
            loss, ref = losskit.get_loss(spec.loss, **spec.init), bench.torch_references()[loss_id]

            def step(f: Callable[..., Any], call_args: tuple[Any, ...], leaves: Any = leaves) -> Callable[[], Any]:
                def run() -> Any:
                    out = f(*call_args)
                    return torch.autograd.grad(out, leaves, torch.ones_like(out))

                return run

            def unchecked(*a: Any, loss: Any = loss) -> Any:
                with losskit.value_checks(False):
                    return loss(*a)

            fns = {
                "checked": step(loss, tuple(args)),
                "unchecked": step(unchecked, tuple(args)),
                "ref": step(ref, (*args, *extra)),
            }
            samples = bench.time_alternating(fns, sync, repeats=3 if quick else 7, min_block_s=0.02)
            row: dict[str, Any] = {"loss": loss_id, "size": size, "shape": list(inputs.shape)}
            row.update({f"{k}_us": bench.statistics.median(v) * 1e6 for k, v in samples.items()})
            row["checked_ratio"] = row["checked_us"] / row["ref_us"]
            row["unchecked_ratio"] = row["unchecked_us"] / row["ref_us"]
            rows.append(row)
            log("  " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    return rows


def fused_chunks(log: Log, device: str, quick: bool) -> list[dict[str, Any]]:
    """``losskit.fused.linear_cross_entropy`` forward + backward at the chunk sizes of Liger-Kernel's
    rule and of losskit's default (``MIN_CHUNK`` floor), with its Triton kernel and without it
    (the PyTorch path), beside the unfused head: median of alternating rounds, peak memory above
    the inputs. First the kernel against the PyTorch path on the device (loss, both gradients,
    float32 and bfloat16, every reduction). Settles the floor and the kernel's gain on the GPU."""
    import math
    import statistics

    import torch
    from fused_linear_ce import losskit_pytorch_path

    from losskit.fused import _torch as fused_torch
    from losskit.fused import linear_cross_entropy
    from losskit.fused.linear_cross_entropy import default_chunk_size

    rows: list[dict[str, Any]] = []
    kernel = fused_torch._kernel_for(torch.ones(1, 1, device=device))
    log(f"  Triton kernel: {'yes' if kernel is not None else 'no (PyTorch path only)'}")
    if kernel is not None:
        for dtype in (torch.float32, torch.bfloat16):
            for reduction in ("mean", "sum", "none"):
                g = torch.Generator(device="cpu").manual_seed(1)
                h0, w0 = torch.randn(300, 64, generator=g), torch.randn(5000, 64, generator=g) / 8
                y = torch.randint(0, 5000, (300,), generator=g).to(device)
                y[::7] = -100
                got = []
                for path in (linear_cross_entropy, losskit_pytorch_path):
                    h, w = (t.to(device=device, dtype=dtype).requires_grad_() for t in (h0, w0))
                    out = path(h, w, y, reduction=reduction, chunk_size=64)
                    got.append((out, *torch.autograd.grad(out.sum(), (h, w))))
                errs = {k: _rel(a, b) for k, a, b in zip(("loss", "grad_h", "grad_w"), *got)}
                # bfloat16: each gradient rounded to bfloat16 (2**-8) and summed in it per chunk
                ok = errs["loss"] < 1e-5 and max(errs["grad_h"], errs["grad_w"]) < (
                    1e-5 if dtype == torch.float32 else 2e-2
                )
                rows.append(
                    {"check": "kernel vs pytorch path", "dtype": str(dtype), "reduction": reduction, "ok": ok, **errs}
                )
                log(f"  kernel vs PyTorch path {str(dtype):15s} {reduction:5s} {'ok ' if ok else 'BAD'} {errs}")

    # bfloat16 gradients formed in the forward pass, scaled by an upstream 1/3 (a mean of 3
    # micro-batches): the least-squares scale against float64 must not carry bf16(1/3) * 3 = 1.00195
    g = torch.Generator(device="cpu").manual_seed(2)
    h0, w0 = torch.randn(256, 64, generator=g), torch.randn(512, 64, generator=g) / 8
    y = torch.randint(0, 512, (256,), generator=g)
    hd, wd = (t.bfloat16().double().requires_grad_() for t in (h0, w0))
    exact = torch.autograd.grad(torch.nn.functional.cross_entropy(hd @ wd.T, y) / 3, (hd, wd))
    h, w = (t.to(device=device, dtype=torch.bfloat16).requires_grad_() for t in (h0, w0))
    fused = torch.autograd.grad(linear_cross_entropy(h, w, y.to(device)) / 3, (h, w))
    scales = [float((f.double().cpu() * e).sum() / (e * e).sum()) for f, e in zip(fused, exact)]
    ok = all(abs(c - 1) < 1e-3 for c in scales)
    rows.append({"check": "bfloat16 upstream scaling", "scales": scales, "ok": ok})
    log(f"  bfloat16 gradients scaled by 1/3: {'ok ' if ok else 'BAD'} least-squares scales {scales}")

    n, d, v, dtype = (256, 64, 4000, torch.float32) if quick else (8192, 4096, 128256, torch.bfloat16)
    g = torch.Generator(device="cpu").manual_seed(0)
    h = (torch.randn(n, d, generator=g) / d**0.25).to(device=device, dtype=dtype).requires_grad_()
    w = (torch.randn(v, d, generator=g) / d**0.25).to(device=device, dtype=dtype).requires_grad_()
    y = torch.randint(0, v, (n,), generator=g).to(device)
    liger = max(1, math.ceil(n / math.ceil(v / d)))
    default = default_chunk_size(n, v, d)
    impls = {
        "naive": lambda: torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, w).float(), y),
        f"chunk {liger} (Liger's rule)": lambda: linear_cross_entropy(h, w, y, chunk_size=liger),
        f"chunk {default} (default)": lambda: linear_cross_entropy(h, w, y),
    }
    if kernel is not None:
        impls[f"chunk {default}, PyTorch path"] = lambda: losskit_pytorch_path(h, w, y)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times: dict[str, list[float]] = {k: [] for k in impls}
    peaks: dict[str, float] = {}
    for _ in range(2 if quick else 5):
        for name, fn in impls.items():
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            sync()
            t0 = time.perf_counter()
            fn().backward()
            sync()
            times[name].append(time.perf_counter() - t0)
            if device == "cuda":
                peaks[name] = (torch.cuda.max_memory_allocated() - base) / 2**30
            h.grad = w.grad = None
    naive = statistics.median(times["naive"][1:] or times["naive"])
    for name, ts in times.items():
        ms = statistics.median(ts[1:] or ts) * 1e3
        rows.append({"impl": name, "ms": ms, "vs_naive": ms / (naive * 1e3), "peak_gib": peaks.get(name)})
        log(
            f"  {name:32s} {ms:9.2f} ms  {ms / (naive * 1e3):5.2f}x naive  peak {peaks.get(name, float('nan')):.2f} GiB"
        )
    return rows


def _fresh(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A new function object (own code object, own Dynamo cache) that calls ``fn(p, t)``."""
    namespace: dict[str, Any] = {"fn": fn}
    exec("def call(p, t):\n    return fn(p, t)\n", namespace)
    return namespace["call"]


# --------------------------------------------------------------------------------------------
# benchmark
# --------------------------------------------------------------------------------------------


def benchmark(log: Log, out: Path, device: str, quick: bool, deadline: float, extra: dict[str, Any]) -> None:
    from losskit import bench

    compile_pass = not quick and device == "cuda"
    base = {
        "device": device,
        "repeats": 2 if quick else 5,
        "min_block_s": 0.01 if quick else 0.02,
        "scale": 1 / 64 if quick else 1.0,
        "quiet": True,
        # leave time for the compile pass
        "deadline": deadline - (min(90.0, 0.4 * (deadline - time.monotonic())) if compile_pass else 0.0),
    }
    eager = bench.Options(
        sizes=("small",) if quick else ("large", "small"), backends=("torch", "jax"), with_generic=True, **base
    )
    report = bench.run_benchmarks(eager)
    if compile_pass:
        base["deadline"] = deadline
        compiled = bench.Options(
            sizes=("large",),
            backends=("torch",),
            compile=True,
            compile_only=True,
            losses=COMPILE_LOSSES,
            compile_sizes=("large",),
            **base,
        )
        compiled_report = bench.run_benchmarks(compiled)
        report["results"] += [r for r in compiled_report["results"] if r["backend"] == "torch-compile"]
        report["notes"] += compiled_report["notes"]
    report.update(extra)
    text = bench.table(report["results"], markdown=True)
    summary = bench.summary(report["results"])
    notes = "\n".join(f"- {n}" for n in report["notes"])
    log(bench.table(report["results"]))
    log(summary)
    log(notes)
    _write(out, "bench.json", report)
    _write(out, "bench.md", f"# losskit bench, {device}\n\n{text}\n\n{summary}\n\n{notes}\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="directory for log.txt and the JSON / Markdown results")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--quick", action="store_true", help="small sizes only, few repeats (a dry run)")
    p.add_argument("--budget", type=float, default=330.0, help="seconds for the whole script (default 330)")
    p.add_argument("--checks-only", action="store_true", help="the checks and small timings, not the benchmark")
    args = p.parse_args(argv)
    start = time.monotonic()
    deadline = start + args.budget
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out)
    log(f"# device_check ({args.device}{', quick' if args.quick else ''}), budget {args.budget:.0f}s")
    info = _phase(log, "device info", lambda: device_info(log, args.device))
    _write(out, "info.json", info or {})
    checks = _phase(log, "fast paths vs generic", lambda: fast_path_checks(log, args.device, args.quick))
    _write(out, "checks.json", checks or [])
    extra = {"value_check_cost": _phase(log, "value checks", lambda: value_check_cost(log, args.device, args.quick))}
    extra["fused_chunks"] = _phase(log, "fused chunk sizes", lambda: fused_chunks(log, args.device, args.quick))
    if not args.quick:
        extra["compile_overhead"] = _phase(log, "compile overhead", lambda: compile_overhead(log, args.device))
    if args.checks_only:
        _write(out, "extra.json", extra)
    else:
        _phase(log, "benchmark", lambda: benchmark(log, out, args.device, args.quick, deadline, extra))
    log(f"# device_check finished in {time.monotonic() - start:.1f}s")
    return 0


if __name__ == "__main__":
    try:
        from losskit import bench  # noqa: F401
    except ImportError:  # a checkout without an install
        sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
