"""Vocabulary-parallel (tensor-parallel) softmax cross-entropy on existing engines.

When the output projection of a language model is split by vocabulary across devices, each
holds the logits of its own vocabulary columns. The loss over the whole vocabulary needs only
per-row statistics from the others (the maximum, the sum of exponentials and the target logit),
so the ``(N, V)`` logits are never gathered:

- :func:`vocab_parallel_cross_entropy`: PyTorch, over a ``torch.distributed`` process group
  (any backend; uneven shards allowed), with a ``torch.autograd.Function`` whose backward
  pass communicates nothing.
- :func:`vocab_parallel_cross_entropy_jax`: JAX, the per-device function to call inside
  ``jax.shard_map`` with the mesh axis (or axes) that split the vocabulary.
- :func:`sharded_cross_entropy`: JAX, for a global ``jax.Array`` of logits whose vocabulary axis
  is sharded by a ``NamedSharding``: it runs the above under ``jax.shard_map`` for you.

PyTorch and JAX are imported only when their functions are first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._jax import sharded_cross_entropy, vocab_parallel_cross_entropy_jax
    from ._torch import vocab_parallel_cross_entropy

__all__ = ["sharded_cross_entropy", "vocab_parallel_cross_entropy", "vocab_parallel_cross_entropy_jax"]

_HOMES = {
    "vocab_parallel_cross_entropy": "._torch",
    "vocab_parallel_cross_entropy_jax": "._jax",
    "sharded_cross_entropy": "._jax",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        extra = _HOMES[name].lstrip("._")  # torch or jax
        try:
            module = importlib.import_module(_HOMES[name], __name__)
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] not in {"torch", "jax", "jaxlib"}:
                raise
            raise ImportError(f"losskit.distributed.{name} needs {extra}: pip install 'losskit[{extra}]'") from exc
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
