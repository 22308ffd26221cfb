"""JAX on several host devices, run by tests/test_distributed.py as ``python jax_worker.py OUT.npz``.

JAX reads ``--xla_force_host_platform_device_count`` once, when it starts, so this runs in a fresh
process (the test sets ``XLA_FLAGS``). Each case stores ``NAME/out`` and ``NAME/grad`` (the sharded
computation) beside ``NAME/ref_out`` and ``NAME/ref_grad`` (optax on the whole logits, one device).
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

import numpy as np

N, V = 8, 12


def main(path: str) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.sharding import AxisType, Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from losskit.distributed import sharded_cross_entropy, vocab_parallel_cross_entropy_jax

    if jax.device_count() < 4:
        raise RuntimeError(f"expected 4 host devices, got {jax.devices()}; is XLA_FLAGS set?")
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(N, V)) * 3)
    label = rng.integers(0, V, N)
    label[[1, 4]] = -100
    label = jnp.asarray(label)
    upstream = jnp.asarray(rng.normal(size=N))
    results: dict[str, Any] = {}
    # logits +-900 apart: exp(900) is past float64's range, so only the global maximum's shift
    # keeps the sharded loss finite
    far = jnp.asarray(np.where(np.arange(V) < V // 2, -900.0, 900.0))

    def record(cases: dict[str, tuple], x: Any) -> None:
        """cases[name] = (fn, ref, weights): fn(x) and ref(x), and the gradients of sum(f(x) * weights),
        all in one jit (one compilation per call: compiling per case, or running eagerly, is slow)."""

        def all_cases(x_: Any) -> dict[str, Any]:
            out = {}
            for name, (fn, ref, weights) in cases.items():
                for key, f in (("", fn), ("ref_", ref)):
                    value, pullback = jax.vjp(f, x_)
                    (grad,) = pullback(jnp.broadcast_to(jnp.asarray(weights, value.dtype), value.shape))
                    out[f"{name}/{key}out"], out[f"{name}/{key}grad"] = value, grad
            return out

        results.update({k: np.asarray(v) for k, v in jax.jit(all_cases)(x).items()})

    for n_dev in (2, 4):
        mesh = Mesh(np.array(jax.devices()[:n_dev]), ("vocab",))
        cases = {}
        variants = [(r, eps, "some") for r in ("none", "mean", "sum") for eps in (0.0, 0.1)] + [("mean", 0.0, "all")]
        for reduction, eps, ignored in variants:
            y = label if ignored == "some" else jnp.full_like(label, -100)
            options = {"reduction": reduction, "label_smoothing": eps}
            fn = jax.shard_map(
                partial(vocab_parallel_cross_entropy_jax, axis_name="vocab", **options),
                mesh=mesh,
                in_specs=(P(None, "vocab"), P()),
                out_specs=P(),
            )
            cases[f"shard_map{n_dev}_{reduction}_eps{eps}_{ignored}"] = (
                lambda x, fn=fn, y=y: fn(x, y),
                partial(_optax_loss, label=y, reduction=reduction, eps=eps),
                upstream if reduction == "none" else 1.0,
            )
        # far: the largest logits on the last devices, many labels' on the first (losses ~1800)
        fn = jax.shard_map(
            partial(vocab_parallel_cross_entropy_jax, axis_name="vocab", reduction="none", label_smoothing=0.1),
            mesh=mesh,
            in_specs=(P(None, "vocab"), P()),
            out_specs=P(),
        )
        cases[f"shard_map{n_dev}_far_apart"] = (
            lambda x, fn=fn: fn(x + far, label),
            lambda x: _optax_loss(x + far, label, "none", 0.1),
            upstream,
        )
        record(cases, logits)
        # no rows (found by a review: the mean and the sum failed to lower inside shard_map): 0
        for reduction in ("mean", "sum"):
            fn = jax.shard_map(
                partial(vocab_parallel_cross_entropy_jax, axis_name="vocab", reduction=reduction),
                mesh=mesh,
                in_specs=(P(None, "vocab"), P()),
                out_specs=P(),
            )
            empty = jnp.zeros((0, V))
            value, grad = jax.value_and_grad(lambda x, fn=fn: fn(x, label[:0]))(empty)
            results[f"shard_map{n_dev}_empty_{reduction}/out"] = np.asarray(value)
            results[f"shard_map{n_dev}_empty_{reduction}/ref_out"] = np.zeros(())
            results[f"shard_map{n_dev}_empty_{reduction}/grad"] = np.asarray(grad)
            results[f"shard_map{n_dev}_empty_{reduction}/ref_grad"] = np.zeros((0, V))

    grid = jax.make_mesh((2, 2), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    line = Mesh(np.array(jax.devices()[:4]), ("vocab",))
    # the wrapper, eagerly: the sharding read from the array; rows split too; vocabulary over two axes
    ref_none = np.asarray(jax.jit(partial(_optax_loss, reduction="none", eps=0.0))(logits, label))
    for name, mesh, spec in (
        ("wrapper_vocab4", line, P(None, "vocab")),
        ("wrapper_data2_model2", grid, P("data", "model")),
        ("wrapper_vocab_over_both", grid, P(None, ("data", "model"))),
    ):
        out = sharded_cross_entropy(jax.device_put(logits, NamedSharding(mesh, spec)), label)
        results[f"{name}/out"], results[f"{name}/ref_out"] = np.asarray(out), ref_none
    # under jit (and grad), on an Auto mesh the tracer does not carry the sharding: it is passed
    sharding = NamedSharding(grid, P("data", "model"))
    jitted = partial(sharded_cross_entropy, label=label, reduction="mean", sharding=sharding)
    if "shard_map" not in str(jax.make_jaxpr(jitted)(logits)):
        raise AssertionError("sharded_cross_entropy(sharding=...) under jit did not use shard_map")
    # leading axes (2, 4, V)
    leading = NamedSharding(line, P(None, None, "vocab"))
    # a vocabulary of 10 padded to 12 over 4 devices: the padding columns hold large garbage
    real = 10
    y10 = jnp.where(label >= real, label - real, label)
    padded_sharding = NamedSharding(line, P(None, "vocab"))
    cases = {
        "wrapper_jit_sharding_arg": (jitted, partial(_optax_loss, label=label, reduction="mean", eps=0.0), 1.0),
        "wrapper_leading_axes": (
            lambda x: sharded_cross_entropy(x.reshape(2, 4, V), label.reshape(2, 4), sharding=leading),
            lambda x: _optax_loss(x, label, "none", 0.0).reshape(2, 4),
            upstream.reshape(2, 4),
        ),
    }
    for eps in (0.0, 0.1):
        cases[f"wrapper_padded_vocab_eps{eps}"] = (
            lambda x, eps=eps: sharded_cross_entropy(
                x.at[:, real:].set(50.0),
                y10,
                reduction="sum",
                vocab_size=real,
                label_smoothing=eps,
                sharding=padded_sharding,
            ),
            lambda x, eps=eps: _optax_loss(x.at[:, real:].set(50.0)[:, :real], y10, "sum", eps),
            1.0,
        )
    record(cases, logits)
    # a mesh with explicit axes: the traced array carries its sharding, and the labels are resharded
    explicit = jax.make_mesh((2, 2), ("data", "model"), axis_types=(AxisType.Explicit,) * 2)
    with jax.set_mesh(explicit):
        x = jax.device_put(logits, NamedSharding(explicit, P("data", "model")))
        fn = partial(sharded_cross_entropy, label=label, reduction="mean", label_smoothing=0.1)
        if "shard_map" not in str(jax.make_jaxpr(fn)(x)):
            raise AssertionError("sharded_cross_entropy under jit on an explicit mesh did not use shard_map")
        record({"wrapper_explicit_mesh": (fn, partial(_optax_loss, label=label, reduction="mean", eps=0.1), 1.0)}, x)
    np.savez(path, **results)


def _optax_loss(logits: Any, label: Any, reduction: str, eps: float) -> Any:
    import jax
    import jax.numpy as jnp
    import optax

    valid = label != -100
    safe = jnp.where(valid, label, 0)
    if eps:
        soft = optax.smooth_labels(jax.nn.one_hot(safe, logits.shape[-1], dtype=logits.dtype), eps)
        per = optax.softmax_cross_entropy(logits, soft)
    else:
        per = optax.softmax_cross_entropy_with_integer_labels(logits, safe)
    per = jnp.where(valid, per, 0.0)
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return jnp.where(valid.any(), per.sum() / jnp.maximum(valid.sum(), 1), 0.0)


if __name__ == "__main__":
    main(sys.argv[1])
