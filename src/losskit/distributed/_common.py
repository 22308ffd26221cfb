"""What the PyTorch and JAX paths share: option checks and the check that shards tile the vocabulary."""

from __future__ import annotations

import numbers
from typing import Any

from .._core import check_ignore_index, check_reduction


def check_options(reduction: str, ignore_index: Any, label_smoothing: Any) -> float:
    """Validate the options every path takes; return ``label_smoothing`` as a float."""
    check_reduction(reduction)
    check_ignore_index(ignore_index, optional=False)
    if not isinstance(label_smoothing, numbers.Real) or isinstance(label_smoothing, bool):
        raise TypeError(f"label_smoothing must be a real number, got {label_smoothing!r}")
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return float(label_smoothing) + 0.0  # -0.0 + 0.0 is 0.0: the ranks compare its bits


def check_int(value: Any, name: str, *, low: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


def check_label_shape(label_shape: tuple[int, ...], logits_shape: tuple[int, ...], name: str) -> None:
    if len(logits_shape) < 1:
        raise ValueError(f"{name} must have a vocabulary axis: expected shape (..., V_local), got {logits_shape}")
    if label_shape != logits_shape[:-1]:
        raise ValueError(
            f"label shape {label_shape} does not match {name} shape {logits_shape}: expected "
            f"{logits_shape[:-1]} ({name}'s shape without the vocabulary axis)"
        )


def check_partition(shards: list[tuple[int, int]], vocab_size: int | None) -> int:
    """``shards[r] = (start, stop)`` of rank ``r``: they must tile ``[0, V)`` without gaps or overlaps
    (in any rank order; empty shards are allowed). Returns ``V``; ``ValueError`` naming every shard if not."""
    total = sum(stop - start for start, stop in shards)
    pos = 0
    for start, stop in sorted(s for s in shards if s[1] > s[0]):
        if start != pos:
            break
        pos = stop
    if pos != total or any(not 0 <= start <= total for start, _ in shards):
        listed = ", ".join(f"rank {r}: [{a}, {b})" for r, (a, b) in enumerate(shards))
        raise ValueError(
            f"the vocabulary shards do not tile [0, {total}) without gaps or overlaps ({listed}); "
            "each rank's vocab_start must be the sum of the shard widths before it"
        )
    if total == 0:  # (the label check would say "outside the valid range [0, -1]")
        raise ValueError(f"the vocabulary shards of the {len(shards)} ranks cover no columns: it needs at least one")
    if vocab_size is not None and vocab_size != total:
        raise ValueError(f"vocab_size={vocab_size} but the shards of the {len(shards)} ranks cover {total} columns")
    return total
