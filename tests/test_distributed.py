"""``losskit.distributed`` against single-process references.

PyTorch: groups of 2 and 3 ``gloo`` ranks on the loopback interface (child processes from a
``forkserver`` that imports torch once), each holding its vocabulary shard of the same float64
logits, against ``torch.nn.functional.cross_entropy`` on the whole logits and its autograd
gradient. JAX: one subprocess with 4 host devices (``XLA_FLAGS`` is read when JAX starts),
``shard_map`` over 2 and 4 of them and the sharded-array wrapper, against optax.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import queue
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
F = torch.nn.functional

import losskit  # noqa: E402
from losskit.distributed import vocab_parallel_cross_entropy  # noqa: E402
from losskit.distributed._common import check_partition as _check_partition  # noqa: E402

V = 10
GROUP_TIMEOUT_S = 120  # a whole group, start-up included; a collective alone times out after 30 s in the child
JAX_TIMEOUT_S = 240


# ------------------------------------------------------------------------------------------------
# cases: the same logits and labels on every rank; each rank takes the columns of its shard


def _case(shards, reduction="none", eps=0.0, *, lead=(7,), ignored="some", seed=0, shift=None, **options) -> dict:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(*lead, V)) * 3 + (0.0 if shift is None else np.asarray(shift, np.float64))
    label = rng.integers(0, V, lead)
    if ignored == "some":
        label.reshape(-1)[::3] = -100
    elif ignored == "all":
        label[...] = -100
    upstream = rng.normal(size=lead) if reduction == "none" else np.asarray(rng.normal())
    return {
        "logits": logits,
        "label": label,
        "shards": shards,
        "upstream": upstream,
        "options": {"reduction": reduction, "label_smoothing": eps, **options},
    }


def _error_cases(shards: list[tuple[int, int]]) -> dict[str, tuple[dict, str]]:
    """name -> (case, the message every rank must raise): the ranks disagree, or a label is out of range."""
    last = len(shards) - 1
    base = _case(shards)
    other = base["label"].copy()
    other[1] = (other[1] + 1) % V
    # the same checksum sum_i (i + 1) y_i (what the check once compared): +-3 at position 1 and
    # -+2 at position 2 cancel (2 * 3 = 3 * 2), yet the labels differ
    same_checksum = base["label"].copy()
    step = 1 if same_checksum[1] + 3 < V and same_checksum[2] >= 2 else -1
    same_checksum[1] += 3 * step
    same_checksum[2] -= 2 * step
    assert 0 <= same_checksum[1] < V and 0 <= same_checksum[2] < V
    out_of_range = base["label"].copy()
    out_of_range[2] = V
    return {
        "bad_vocab_start": ({**base, "starts": {last: shards[last][0] + 1}}, r"do not tile \[0, 10\).*\[\d+, 11\)"),
        "labels_differ": ({**base, "labels": {0: other}}, "the ranks hold different labels"),
        "labels_differ_same_checksum": ({**base, "labels": {0: same_checksum}}, "the ranks hold different labels"),
        "rows_differ": ({**base, "rows": {last: slice(0, 5)}}, r"different numbers of rows: \[7, "),
        # options that differ between ranks: an eps of 0 beside one of 0.1 all-reduced stacks of two
        # and three rows (a gloo error or a hang); a different ignore_index or reduction, wrong losses
        "eps_differ": (
            {**base, "rank_options": {last: {"label_smoothing": 0.1}}},
            r"different options: label_smoothing \[0\.0, .*0\.1\]",
        ),
        "ignore_index_differ": (
            {**base, "rank_options": {0: {"ignore_index": -1}}},
            r"different options: ignore_index \[-1, -100",
        ),
        "reduction_differ": ({**base, "rank_options": {last: {"reduction": "sum"}}}, r"reduction \['none', .*'sum'\]"),
        "label_out_of_range": ({**base, "label": out_of_range}, r"outside the valid range \[0, 9\]"),
        # vocab_size given, no check_shards: each rank checks its own shard, with no communication
        # (3 is below every rank's shard end, so that every rank raises and none waits alone)
        "shard_past_vocab_size": (
            {**base, "options": {**base["options"], "vocab_size": 3}},
            r"this rank's shard \[\d+, \d+\) reaches past vocab_size=3",
        ),
        "vocab_size_wrong": (
            {**base, "options": {**base["options"], "vocab_size": V + 1, "check_shards": True}},
            "vocab_size=11 but the shards",
        ),
        # found by a review: each of these raised on one rank and left the others waiting, or
        # aborted every process in gloo (different precisions), or gave outputs of two shapes
        "vocab_size_differs_checked": (
            {
                **base,
                "options": {**base["options"], "vocab_size": V, "check_shards": True},
                "rank_options": {last: {"vocab_size": V + 1}},
            },
            r"different options: vocab_size \[10, .*11\]",
        ),
        "precision_differs": (
            {**base, "dtypes": {0: "float32"}},
            r"different precisions: \['float32, bfloat16 or float16', .*'float64'\]",
        ),
        "label_shape_differs": ({**_case(shards, lead=(2, 3)), "lead": {0: (3, 2)}}, "labels of different shapes"),
    }


def _group_cases(world: int) -> dict[str, dict]:
    if world == 2:
        halves = [(0, 5), (5, 10)]
        cases = {f"{r}_eps{eps}": _case(halves, r, eps) for r in ("none", "mean", "sum") for eps in (0.0, 0.1)}
        cases.update({f"all_ignored_{r}": _case(halves, r, ignored="all") for r in ("none", "mean", "sum")})
        cases["none_ignored_mean"] = _case(halves, "mean", ignored="none")
        cases["leading_axes_none"] = _case(halves, "none", 0.1, lead=(2, 3))
        cases["vocab_size_given_mean"] = _case(halves, "mean", vocab_size=V)
        cases["check_shards_sum"] = _case(halves, "sum", vocab_size=V, check_shards=True)
        # exp(+-900) is past float64's range: only the global maximum's shift keeps these finite,
        # the largest logits on one rank, the label's often on the other (losses ~1800)
        # -0.0 on one rank is the others' 0.0 (the ranks compare label_smoothing's bits)
        cases["minus_zero_eps_mean"] = {**_case(halves, "mean"), "rank_options": {1: {"label_smoothing": -0.0}}}
        far = np.repeat([-900.0, 900.0], V // 2)
        cases.update({f"far_apart_{r}_eps0.1": _case(halves, r, 0.1, shift=far, seed=3) for r in ("none", "mean")})
        return cases
    uneven = [(0, 4), (4, 7), (7, 10)]
    cases = {f"4+3+3_{r}_eps{eps}": _case(uneven, r, eps) for r in ("none", "mean", "sum") for eps in (0.0, 0.1)}
    middle = np.where((np.arange(V) >= 4) & (np.arange(V) < 7), 1000.0, -1000.0)  # the largest on rank 1
    cases["4+3+3_far_apart_none"] = _case(uneven, "none", shift=middle, seed=4)
    cases["4+3+3_all_ignored_mean"] = _case(uneven, "mean", ignored="all")
    permuted = [(6, 10), (0, 3), (3, 6)]  # shards need not follow the rank order
    cases.update({f"permuted_{r}": _case(permuted, r, seed=1) for r in ("none", "mean")})
    empty = [(0, 6), (6, 10), (10, 10)]  # a rank with no columns
    cases.update({f"empty_shard_{r}": _case(empty, r, 0.1, seed=2) for r in ("none", "mean")})
    return cases


GROUPS = {2: [(0, 5), (5, 10)], 3: [(0, 4), (4, 7), (7, 10)]}
CASES = {world: _group_cases(world) for world in GROUPS}
ERRORS = {world: _error_cases(shards) for world, shards in GROUPS.items()}


def _reference(case: dict) -> tuple[np.ndarray, np.ndarray]:
    x = torch.from_numpy(case["logits"]).requires_grad_()
    y = torch.from_numpy(case["label"])
    reduction, eps = case["options"]["reduction"], case["options"]["label_smoothing"]
    if reduction == "mean" and bool((y == -100).all()):
        out = (x * 0).sum()  # F.cross_entropy gives 0/0 = nan here; losskit gives 0 with a zero gradient
    else:
        out = F.cross_entropy(
            x.reshape(-1, V), y.reshape(-1), reduction=reduction, ignore_index=-100, label_smoothing=eps
        )
        out = out.reshape(y.shape) if reduction == "none" else out
    (grad,) = torch.autograd.grad(out, x, torch.from_numpy(case["upstream"]))
    return out.detach().numpy(), grad.numpy()


# ------------------------------------------------------------------------------------------------
# running a group


@functools.cache
def _run_group(world: int) -> list[dict[str, Any]]:
    """Every rank's results for CASES[world] and ERRORS[world]; fails with the children's tracebacks."""
    from distributed_workers import torch_worker

    methods = multiprocessing.get_all_start_methods()
    method = "forkserver" if "forkserver" in methods else "spawn"  # never fork: the parent may run JAX threads
    ctx = torch.multiprocessing.get_context(method)
    if method == "forkserver":
        # imported once, in the server: torch, and what the first autograd.grad imports lazily (sympy, ~2 s)
        lazy = "torch.fx.experimental.symbolic_shapes"
        ctx.set_forkserver_preload(["torch", "torch.distributed", lazy, torch_worker.__name__])
    errors = {name: case for name, (case, _) in ERRORS[world].items()}
    reports: dict[int, tuple[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results = ctx.Queue()
        args = (world, os.path.join(tmp, "store"), errors, CASES[world], results)
        procs = [ctx.Process(target=torch_worker.run, args=(rank, *args), daemon=True) for rank in range(world)]
        for p in procs:
            p.start()
        deadline = time.monotonic() + GROUP_TIMEOUT_S
        try:
            while len(reports) < world and time.monotonic() < deadline:
                try:
                    rank, status, payload = results.get(timeout=0.5)
                except queue.Empty:
                    if any(p.exitcode not in (None, 0) for p in procs):
                        time.sleep(1.0)  # let the other ranks report what they saw
                        while not results.empty():
                            rank, status, payload = results.get()
                            reports[rank] = (status, payload)
                        break
                    continue
                reports[rank] = (status, payload)
        finally:
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():
                    p.kill()
                    p.join()
    failed = {r: msg for r, (status, msg) in reports.items() if status != "ok"}
    if failed or len(reports) < world:
        missing = sorted(set(range(world)) - set(reports))
        lines = [f"a {world}-rank gloo group failed ({method}):"]
        lines += [f"--- rank {r} raised:\n{msg}" for r, msg in sorted(failed.items())]
        if missing:
            codes = [procs[r].exitcode for r in missing]
            lines.append(f"--- ranks {missing} did not report (exit codes {codes}; timeout {GROUP_TIMEOUT_S} s)")
        pytest.fail("\n".join(lines), pytrace=False)
    return [reports[r][1] for r in range(world)]


@pytest.mark.parametrize(("world", "name"), [(w, n) for w in GROUPS for n in CASES[w]])
def test_torch_group_matches_cross_entropy(world, name):
    case = CASES[world][name]
    ranks = _run_group(world)
    ref_out, ref_grad = _reference(case)
    for rank, results in enumerate(ranks):
        out, _ = results[name]
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12, err_msg=f"{name}: the loss on rank {rank}")
    order = np.argsort([start for start, _ in case["shards"]], kind="stable")
    gathered = np.concatenate([ranks[r][name][1] for r in order], axis=-1)
    np.testing.assert_allclose(gathered, ref_grad, rtol=1e-10, atol=1e-12, err_msg=f"{name}: the gathered gradient")


@pytest.mark.parametrize(("world", "name"), [(w, n) for w in GROUPS for n in ERRORS[w]])
def test_torch_group_errors_raise_on_every_rank(world, name):
    _, pattern = ERRORS[world][name]
    for rank, results in enumerate(_run_group(world)):
        message = results[name]
        assert message is not None, f"{name}: rank {rank} raised nothing"
        assert message.startswith("ValueError: ") and re.search(pattern, message), f"{name}, rank {rank}: {message}"


# ------------------------------------------------------------------------------------------------
# one process, torch.distributed not initialised


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_single_process_equals_cross_entropy(reduction, eps):
    assert not dist.is_initialized()
    case = _case([(0, V)], reduction, eps, lead=(3, 4))
    x = torch.from_numpy(case["logits"]).requires_grad_()
    out = vocab_parallel_cross_entropy(x, torch.from_numpy(case["label"]), vocab_start=0, **case["options"])
    (grad,) = torch.autograd.grad(out, x, torch.from_numpy(case["upstream"]))
    ref_out, ref_grad = _reference(case)
    np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad.numpy(), ref_grad, rtol=1e-10, atol=1e-12)


def test_single_process_gradcheck_and_all_ignored():
    case = _case([(0, V)], lead=(5,))
    x = torch.from_numpy(case["logits"]).requires_grad_()
    y = torch.from_numpy(case["label"])
    assert torch.autograd.gradcheck(
        lambda x_: vocab_parallel_cross_entropy(x_, y, vocab_start=0, label_smoothing=0.2, reduction="none"), (x,)
    )
    out = vocab_parallel_cross_entropy(x, torch.full_like(y, -100), vocab_start=0, reduction="mean")
    (grad,) = torch.autograd.grad(out, x)
    assert out.item() == 0.0 and torch.count_nonzero(grad) == 0


def test_single_process_second_derivative_is_refused_not_wrong():
    case = _case([(0, V)], "mean")
    x = torch.from_numpy(case["logits"]).requires_grad_()
    out = vocab_parallel_cross_entropy(x, torch.from_numpy(case["label"]), vocab_start=0, reduction="mean")
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.autograd.grad(out, x, create_graph=True)


def test_single_process_bfloat16_keeps_dtype():
    case = _case([(0, V)], "mean")
    x = torch.from_numpy(case["logits"]).float()
    out = vocab_parallel_cross_entropy(x.bfloat16(), torch.from_numpy(case["label"]), vocab_start=0, reduction="mean")
    assert out.dtype == torch.bfloat16
    # computed in float32 from the bfloat16 logits, rounded once: float64's value of those logits
    # to one bfloat16 step (2^-7 relative)
    ref = F.cross_entropy(x.bfloat16().double(), torch.from_numpy(case["label"]))
    torch.testing.assert_close(out.double(), ref, rtol=2**-7, atol=0)


def test_errors():
    x = torch.randn(4, V, dtype=torch.float64)
    y = torch.tensor([0, 3, -100, 9])
    with pytest.raises(ValueError, match=r"label shape \(3,\) does not match local_logits shape \(4, 10\)"):
        vocab_parallel_cross_entropy(x, y[:3], vocab_start=0)
    with pytest.raises(ValueError, match="vocabulary axis"):
        vocab_parallel_cross_entropy(torch.tensor(1.0), torch.tensor(0), vocab_start=0)
    with pytest.raises(ValueError, match=r"in \[-5, 9\], outside the valid range \[0, 9\]"):
        vocab_parallel_cross_entropy(x, torch.tensor([0, 3, -5, 9]), vocab_start=0)
    with pytest.raises(ValueError, match=r"outside the valid range \[0, 9\]"):
        vocab_parallel_cross_entropy(x, torch.tensor([0, 3, 10, 9]), vocab_start=0)
    with pytest.raises(ValueError, match=r"do not tile \[0, 10\).*rank 0: \[2, 12\)"):
        vocab_parallel_cross_entropy(x, y, vocab_start=2)
    with pytest.raises(ValueError, match="vocab_size=12 but the shards of the 1 ranks cover 10 columns"):
        vocab_parallel_cross_entropy(x, y, vocab_start=0, vocab_size=12)
    with pytest.raises(ValueError, match="vocab_start must be >= 0"):
        vocab_parallel_cross_entropy(x, y, vocab_start=-1)
    with pytest.raises(TypeError, match="vocab_start must be an integer"):
        vocab_parallel_cross_entropy(x, y, vocab_start=1.0)
    with pytest.raises(TypeError, match="floating-point"):
        vocab_parallel_cross_entropy(x.long(), y, vocab_start=0)
    with pytest.raises(TypeError, match="integer class indices"):
        vocab_parallel_cross_entropy(x, y.double(), vocab_start=0)
    with pytest.raises(ValueError, match="reduction"):
        vocab_parallel_cross_entropy(x, y, vocab_start=0, reduction="avg")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        vocab_parallel_cross_entropy(x, y, vocab_start=0, label_smoothing=1.5)
    with pytest.raises(TypeError, match="torch tensors"):
        vocab_parallel_cross_entropy(x.numpy(), y, vocab_start=0)
    with pytest.raises(ValueError, match="cover no columns: it needs at least one"):  # was "[0, -1]"
        vocab_parallel_cross_entropy(x[:, :0], torch.full((4,), -100), vocab_start=0)
    with pytest.raises(ValueError, match=r"ignore_index must be in \[-2147483648, 2147483647\].*got -2147483649"):
        vocab_parallel_cross_entropy(x, y, vocab_start=0, ignore_index=-(2**31) - 1)


def test_uint8_labels_are_classes_not_a_wrapped_ignore_index():
    """-100 as uint8 is 156: a label 156 was taken as ignored (its loss missing the target term);
    it is out of range. uint8 labels in range give the int64 labels' loss."""
    x = torch.randn(4, V, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"in \[0, 156\], outside the valid range \[0, 9\]"):
        vocab_parallel_cross_entropy(x, torch.tensor([0, 3, 156, 9], dtype=torch.uint8), vocab_start=0)
    y = torch.tensor([0, 3, 7, 9])
    torch.testing.assert_close(
        vocab_parallel_cross_entropy(x, y.to(torch.uint8), vocab_start=0, reduction="none"),
        torch.nn.functional.cross_entropy(x, y, reduction="none"),
    )


# ------------------------------------------------------------------------------------------------
# JAX


def test_jax_single_device_equals_optax():
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from losskit.distributed import sharded_cross_entropy, vocab_parallel_cross_entropy_jax

    case = _case([(0, V)], lead=(6,))
    x, y = jnp.asarray(case["logits"], dtype=jnp.float32), jnp.asarray(case["label"])
    valid = y != -100

    @jax.jit  # one compilation instead of one per operation
    def reference(x_):
        return jnp.where(valid, optax.softmax_cross_entropy_with_integer_labels(x_, jnp.where(valid, y, 0)), 0.0)

    ref = reference(x)
    np.testing.assert_allclose(vocab_parallel_cross_entropy_jax(x, y, axis_name=()), ref, rtol=1e-6)
    mesh = Mesh(np.array(jax.devices()[:1]), ("vocab",))
    out = sharded_cross_entropy(jax.device_put(x, NamedSharding(mesh, P(None, "vocab"))), y, reduction="sum")
    np.testing.assert_allclose(out, ref.sum(), rtol=1e-6)
    bf16 = sharded_cross_entropy(x.astype(jnp.bfloat16), y, reduction="mean")
    assert bf16.dtype == jnp.bfloat16
    np.testing.assert_allclose(float(bf16), float(ref.sum() / valid.sum()), rtol=2e-2)


def test_jax_errors():
    pytest.importorskip("jax")
    import jax.numpy as jnp
    from jax.sharding import AbstractMesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from losskit.distributed import sharded_cross_entropy, vocab_parallel_cross_entropy_jax

    x, y = jnp.zeros((4, V)), jnp.array([0, 3, -100, 9])
    with pytest.raises(ValueError, match=r"label shape \(3,\) does not match logits shape \(4, 10\)"):
        sharded_cross_entropy(x, y[:3])
    with pytest.raises(ValueError, match=r"outside the valid range \[0, 9\]"):
        sharded_cross_entropy(x, jnp.array([0, 3, 10, 9]))
    with pytest.raises(ValueError, match=r"outside the valid range \[0, 7\]"):
        sharded_cross_entropy(x, y, vocab_size=8)
    with pytest.raises(ValueError, match="vocab_size=11 exceeds the 10 columns"):
        sharded_cross_entropy(x, y, vocab_size=11)
    with pytest.raises(ValueError, match="no vocabulary columns: the vocabulary needs at least one"):
        sharded_cross_entropy(x[:, :0], jnp.full((4,), -100))
    with pytest.raises(TypeError, match="integer class indices"):
        sharded_cross_entropy(x, y.astype(jnp.float32))
    with pytest.raises(ValueError, match="inside jax.shard_map"):
        vocab_parallel_cross_entropy_jax(x, y, axis_name="vocab")
    four = NamedSharding(AbstractMesh((4,), ("vocab",)), P(None, "vocab"))
    with pytest.raises(ValueError, match="size 10 does not split evenly over the 4 devices.*pass vocab_size="):
        sharded_cross_entropy(x, y, sharding=four)
    with pytest.raises(TypeError, match="torch tensors; for JAX arrays use vocab_parallel_cross_entropy_jax"):
        vocab_parallel_cross_entropy(x, y, vocab_start=0)
    with pytest.raises(ValueError, match=r"outside the valid range \[0, 9\]"):  # 156, not uint8's -100
        sharded_cross_entropy(x, jnp.array([0, 3, 156, 9], dtype=jnp.uint8))


@pytest.mark.parametrize(("dtype", "wrapped"), [("uint8", 156), ("uint32", 2**32 - 100)])
def test_jax_unsigned_labels_under_jit_are_classes_not_a_wrapped_ignore_index(dtype, wrapped):
    """Under jit the labels are not checked; uint8 156 (uint32 2**32 - 100) must still not count as
    ignore_index -100 (which they are, wrapped): the row keeps its loss (target term 0: out of range)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from losskit.distributed import sharded_cross_entropy

    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, V)))
    y8 = jnp.array([1, wrapped, 2], dtype=dtype)
    out = jax.jit(lambda x, y: sharded_cross_entropy(x, y, reduction="none"))(x, y8)
    lse = jax.scipy.special.logsumexp(x, axis=1)
    out, lse, x = np.asarray(out), np.asarray(lse), np.asarray(x)
    np.testing.assert_allclose(out[[0, 2]], lse[[0, 2]] - x[[0, 2], [1, 2]], rtol=1e-6)
    assert out[1] != 0.0  # an ignored row would be exactly 0


@pytest.fixture(scope="module")
def jax_results(tmp_path_factory) -> dict[str, np.ndarray]:
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    out = tmp_path_factory.mktemp("jax") / "results.npz"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    # 4 CPU devices; optimisation level 0: these graphs are tiny, and compiling them dominates the time
    flags = "--xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0"
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    src = str(Path(losskit.__file__).resolve().parents[1])  # this checkout's losskit, not another install
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    worker = Path(__file__).parent / "distributed_workers" / "jax_worker.py"
    try:
        proc = subprocess.run(
            [sys.executable, str(worker), str(out)], env=env, capture_output=True, text=True, timeout=JAX_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the JAX worker did not finish in {JAX_TIMEOUT_S} s:\n{e.stderr or ''}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"the JAX worker failed (exit code {proc.returncode}):\n{proc.stderr[-6000:]}", pytrace=False)
    with np.load(out) as data:
        return dict(data)


def test_jax_sharded_matches_optax(jax_results):
    names = sorted({key.split("/")[0] for key in jax_results})
    expected = {f"shard_map{n}_{r}_eps{e}_some" for n in (2, 4) for r in ("none", "mean", "sum") for e in (0.0, 0.1)}
    expected |= {"shard_map2_mean_eps0.0_all", "shard_map4_mean_eps0.0_all", "wrapper_explicit_mesh"}
    expected |= {"wrapper_jit_sharding_arg", "wrapper_leading_axes", "wrapper_padded_vocab_eps0.1", "wrapper_vocab4"}
    expected |= {"wrapper_data2_model2", "wrapper_vocab_over_both", "shard_map2_far_apart", "shard_map4_far_apart"}
    expected |= {f"shard_map{n}_empty_{r}" for n in (2, 4) for r in ("mean", "sum")}
    assert expected <= set(names), f"cases missing from the JAX worker: {sorted(expected - set(names))}"
    failures = []
    for name in names:
        pairs = [("out", 1e-12)] + ([("grad", 1e-10)] if f"{name}/grad" in jax_results else [])
        for key, rtol in pairs:
            got, want = jax_results[f"{name}/{key}"], jax_results[f"{name}/ref_{key}"]
            if got.shape != want.shape or got.dtype != np.float64 or not np.allclose(got, want, rtol=rtol, atol=1e-12):
                err = np.abs(got - want).max() if got.shape == want.shape else "-"
                failures.append(f"{name} {key}: shape {got.shape} vs {want.shape}, {got.dtype}, max error {err}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("name", "missing"),
    [("vocab_parallel_cross_entropy", "torch"), ("sharded_cross_entropy", "jax")],
)
def test_a_missing_framework_is_named_with_its_extra(name, missing):
    """Without torch (jax), the lazy import names the extra to install, not a bare 'No module named'
    from inside losskit (run in a fresh interpreter: here both are imported already)."""
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "import losskit.distributed as d\n"
        f"try:\n    getattr(d, {name!r})\n"
        "except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"ImportError losskit.distributed.{name} needs {missing}: pip install 'losskit[{missing}]'"


@pytest.mark.parametrize(
    "shards",
    [
        [(0, 6), (6, 10), (12, 12)],  # an empty shard past the vocabulary's end
        [(0, 5), (11, 11), (5, 10)],
    ],
)
def test_an_empty_shard_must_start_inside_the_vocabulary(shards):
    """Empty shards are allowed, but each vocab_start must be the sum of the widths before it
    (at most V): a rank whose start lies past V is misconfigured and must be named."""
    with pytest.raises(ValueError, match=re.escape("do not tile [0, 10)")):
        _check_partition(shards, None)


def test_empty_shards_inside_or_at_the_end_are_allowed():
    assert _check_partition([(0, 6), (6, 10), (10, 10)], None) == 10
    assert _check_partition([(0, 4), (4, 4), (4, 10)], 10) == 10
