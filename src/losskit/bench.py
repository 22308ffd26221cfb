"""``losskit bench``: time losskit against ``torch.nn.functional``, optax and MXNet 1.9.1.

Every benchmarked loss has an equivalent in the reference library: the same per-example values
from the same inputs, which a self-check asserts (``allclose``, values and gradients) before
anything is timed. Each timing is forward + backward (the gradient of every
differentiated input, with a cotangent of ones), at a small size (batch 64: per-call overhead)
and a large one (16M elements; ``N=4096, C=32768`` for cross-entropy), ``--scale`` shrinking
the batch of the large one.

In one process the implementations alternate (ABAB..., the order flipped every round) after a
warm-up; a round times a block of calls long enough for the clock, and the reported time is
the median over rounds. MXNet runs in its own interpreter (``--mxnet-python``, the variable
``LOSSKIT_MXNET_PYTHON``, or ``/work/mxvenv/bin/python``) as a worker fed one task at a time
over a pipe, the inputs passing through ``.npy`` files; its times compare with losskit's
PyTorch eager times on the CPU.

This module is also the MXNet worker: ``python -I bench.py --mxnet-worker``, which imports
nothing but the standard library, NumPy and MXNet.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MXNET_PYTHON = "/work/mxvenv/bin/python"
BACKENDS = ("torch", "jax", "mxnet")
SIZES = ("small", "large")

# ratio targets (losskit / reference) of issue 5, per backend and size
TARGETS: dict[tuple[str, str], float] = {
    ("torch", "large"): 1.1,
    ("torch", "small"): 2.0,
    ("torch-compile", "large"): 1.0,
    ("torch-compile", "small"): 2.0,
    ("jax", "large"): 1.05,
    ("jax", "small"): 1.05,
    ("mxnet", "large"): 1.0,
    ("mxnet", "small"): 1.0,
}


# --------------------------------------------------------------------------------------------
# what is benchmarked
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """NumPy inputs of one benchmark: the losskit call's arguments and what the references add."""

    args: tuple[np.ndarray, ...]
    grad: tuple[int, ...]  # positions of ``args`` that are differentiated
    extra: tuple[np.ndarray, ...] = ()  # appended to ``args`` for the references only

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.args[0].shape)


@dataclass(frozen=True)
class Spec:
    """One benchmarked loss: the losskit loss, its input recipe and its references by backend.

    ``torch``/``jax`` name the reference (the function is built in :func:`torch_references` /
    :func:`jax_references` under the spec's ``id``); ``mxnet`` is a Gluon class and its
    keywords.
    """

    id: str
    loss: str
    init: dict[str, Any]
    family: str  # "elementwise", "classes" or "ctc": picks the sizes
    make: Callable[[np.random.Generator, tuple[int, ...]], Inputs]
    torch: str | None
    jax: str | None = None
    mxnet: tuple[str, dict[str, Any]] | None = None
    note: str = ""
    mx_reduce: str | None = None  # "mean": Gluon returns the batch mean, not one value per example


def sizes(family: str, size: str, scale: float) -> tuple[int, ...]:
    """Input dimensions of ``family`` at ``size``; ``scale`` multiplies the large batch."""
    big = max(1, round(4096 * scale))
    if family == "elementwise":
        return (64, 128) if size == "small" else (big, 4096)  # 16M elements at scale 1
    if family == "classes":
        return (64, 128) if size == "small" else (big, 32768)
    if family == "ctc":  # (N, T, C, S)
        return (64, 32, 16, 8) if size == "small" else (max(1, round(512 * scale)), 256, 64, 48)
    raise ValueError(family)


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _regression(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    return Inputs((_f32(rng.normal(size=dims)), _f32(rng.normal(size=dims))), (0, 1))


def _binary(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    return Inputs((_f32(rng.normal(size=dims) * 2), _f32(rng.uniform(size=dims))), (0,))


def _off_kinks(x: np.ndarray, kinks: tuple[float, ...]) -> np.ndarray:
    """``x`` with each value equal to one of ``kinks`` moved up by one ulp. At a hinge's kink the
    derivative is a convention (relu's 0 here and in MXNet, 1 through torch's ``clamp_min``), and a
    16M-element draw lands on one now and then: the self-check would compare two conventions."""
    for kink in kinks:
        x[x == kink] = np.nextafter(np.float32(kink), np.float32(np.inf))
    return x


def _signed(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    # HingeLoss(margin=1): max(0, 1 - y x) with y = +-1 has its kink at x = +-1
    x, y = _f32(rng.normal(size=dims) * 2), _f32(rng.choice(np.array([-1.0, 1.0]), size=dims))
    return Inputs((_off_kinks(x, (-1.0, 1.0)), y), (0,), (np.zeros_like(x),))


def _sparse(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    n, c = dims
    return Inputs((_f32(rng.normal(size=dims) * 2), rng.integers(0, c, size=n)), (0,))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _kl(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    logp = _log_softmax(rng.normal(size=dims))
    target = np.exp(_log_softmax(rng.normal(size=dims)))
    return Inputs((_f32(logp), _f32(target)), (0,))


def _poisson(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    return Inputs((_f32(rng.normal(size=dims) * 0.5), _f32(rng.poisson(1.5, size=dims))), (0,))


def _cosine(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    n = dims[0]
    a, b = _f32(rng.normal(size=dims)), _f32(rng.normal(size=dims))
    return Inputs((a, b, _f32(rng.choice(np.array([-1.0, 1.0]), size=n))), (0, 1))


def _triplet(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    return Inputs(tuple(_f32(rng.normal(size=dims)) for _ in range(3)), (0, 1, 2))


def _two_logits(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    # a student's and a teacher's logits, both differentiated (the loss does not detach the teacher)
    return Inputs((_f32(rng.normal(size=dims) * 2), _f32(rng.normal(size=dims) * 2)), (0, 1))


def _log_probs(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    n, c = dims
    return Inputs((_f32(_log_softmax(rng.normal(size=dims) * 2)), rng.integers(0, c, size=n)), (0,))


def _multilabel(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    return Inputs((_f32(rng.normal(size=dims) * 2), _f32(rng.integers(0, 2, size=dims))), (0,))


RANKING_MARGIN = 0.5  # MarginRankingLoss's margin in the benchmark


def _ranking(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    a, b = _f32(rng.normal(size=dims)), _f32(rng.normal(size=dims))
    y = _f32(rng.choice(np.array([-1.0, 1.0]), size=dims))
    # max(0, margin - y (a - b)) has its kink where y (a - b) = margin, as rounded in float32
    # (one entry of the 16M at seed 0): a moves by an ulp there
    while (tie := y * (a - b) == np.float32(RANKING_MARGIN)).any():
        a[tie] = np.nextafter(a[tie], np.float32(np.inf))
    return Inputs((a, b, y), (0, 1))


def _distances(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    # HingeEmbeddingLoss(margin=1): max(0, 1 - x) where y = -1 has its kink at x = 1
    x, y = _f32(np.abs(rng.normal(size=dims)) * 2), _f32(rng.choice(np.array([-1.0, 1.0]), size=dims))
    return Inputs((_off_kinks(x, (1.0,)), y), (0,))


def _relevance(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    return Inputs((_f32(rng.normal(size=dims) * 2), _f32(rng.integers(0, 4, size=dims))), (0,))


def _groups(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    # embeddings in groups of about two (SimCLR's two views of each image)
    return Inputs((_f32(rng.normal(size=dims)), rng.integers(0, max(1, dims[0] // 2), size=dims[0])), (0,))


def _gaussian(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    mean, target = _f32(rng.normal(size=dims)), _f32(rng.normal(size=dims))
    return Inputs((mean, target, _f32(rng.uniform(0.1, 2.0, size=dims))), (0, 2))


def _ctc(rng: np.random.Generator, dims: tuple[int, ...]) -> Inputs:
    n, t, c, s = dims
    label_lengths = rng.integers(max(1, s // 2), s + 1, size=n)
    label = rng.integers(0, c - 1, size=(n, s))
    label[np.arange(s)[None, :] >= label_lengths[:, None]] = 0
    pred_lengths = rng.integers(max(2 * s + 1, (3 * t) // 4), t + 1, size=n)
    logit_pad = _f32(np.arange(t)[None, :] >= pred_lengths[:, None])
    label_pad = _f32(np.arange(s)[None, :] >= label_lengths[:, None])
    return Inputs((_f32(rng.normal(size=(n, t, c))), label, pred_lengths, label_lengths), (0,), (logit_pad, label_pad))


SPECS: list[Spec] = [
    Spec("l2", "L2Loss", {}, "elementwise", _regression, "mse_loss", "optax.l2_loss", ("L2Loss", {})),
    Spec("l1", "L1Loss", {}, "elementwise", _regression, "l1_loss", "jnp expression", ("L1Loss", {})),
    Spec(
        "huber", "HuberLoss", {"rho": 0.5}, "elementwise", _regression, "smooth_l1_loss(beta=rho)",
        "optax.huber_loss / rho", ("HuberLoss", {"rho": 0.5}),
    ),
    Spec(
        "bce", "SigmoidBCELoss", {}, "elementwise", _binary, "binary_cross_entropy_with_logits",
        "optax.sigmoid_binary_cross_entropy", ("SigmoidBCELoss", {}),
    ),
    Spec(
        "ce", "SoftmaxCELoss", {}, "classes", _sparse, "cross_entropy",
        "optax.softmax_cross_entropy_with_integer_labels", ("SoftmaxCELoss", {}),
    ),
    Spec("kl_div", "KLDivLoss", {}, "elementwise", _kl, "kl_div", "optax.kl_divergence", ("KLDivLoss", {})),
    Spec("ctc", "CTCLoss", {}, "ctc", _ctc, "ctc_loss", "optax.ctc_loss", ("CTCLoss", {})),
    Spec(
        "poisson", "PoissonNLLLoss", {}, "elementwise", _poisson, "poisson_nll_loss", "jnp expression",
        ("PoissonNLLLoss", {}), mx_reduce="mean",
    ),
    Spec(
        "cosine", "CosineEmbeddingLoss", {"margin": 0.2}, "elementwise", _cosine, "cosine_embedding_loss",
        "jnp expression", ("CosineEmbeddingLoss", {"margin": 0.2}),
        note="torch adds eps=1e-12 to each squared norm, losskit floors |a| |b| at 1e-12: equal to ~1e-12",
    ),
    Spec(
        "triplet", "TripletLoss", {"margin": 1.0}, "elementwise", _triplet, "expression (squared distances)",
        "jnp expression", ("TripletLoss", {"margin": 1.0}),
        note="Gluon's triplet loss uses squared distances; torch's (p-norm) is TripletMarginLoss, the next row",
    ),
    Spec("triplet_margin", "TripletMarginLoss", {}, "elementwise", _triplet, "triplet_margin_loss"),
    Spec(
        "soft_margin", "LogisticLoss", {}, "elementwise", _signed, "soft_margin_loss",
        "optax.sigmoid_binary_cross_entropy((y+1)/2)", ("LogisticLoss", {}),
        note="torch computes log1p(exp(-yx)), which overflows for yx < -88 in float32; losskit's softplus does not",
    ),
    Spec(
        "margin_ranking", "HingeLoss", {"margin": 1.0}, "elementwise", _signed, "margin_ranking_loss(x, 0, y)",
        "optax.hinge_loss", ("HingeLoss", {"margin": 1.0}),
    ),
    # the other losses with a torch.nn.functional twin (torch rows only: no optax or Gluon twin)
    Spec("nll", "NLLLoss", {}, "classes", _log_probs, "nll_loss"),
    Spec("gaussian_nll", "GaussianNLLLoss", {}, "elementwise", _gaussian, "gaussian_nll_loss"),
    Spec("multi_margin", "MultiMarginLoss", {}, "classes", _sparse, "multi_margin_loss"),
    Spec(
        "multilabel_soft_margin", "MultiLabelSoftMarginLoss", {}, "elementwise", _multilabel,
        "multilabel_soft_margin_loss",
    ),
    Spec("soft_margin_loss", "SoftMarginLoss", {}, "elementwise", _signed, "soft_margin_loss"),
    Spec(
        "margin_ranking_loss", "MarginRankingLoss", {"margin": RANKING_MARGIN}, "elementwise", _ranking,
        "margin_ranking_loss",
    ),
    Spec("hinge_embedding", "HingeEmbeddingLoss", {}, "elementwise", _distances, "hinge_embedding_loss"),
    Spec(
        "triplet_distance", "TripletMarginWithDistanceLoss", {}, "elementwise", _triplet,
        "triplet_margin_with_distance_loss",
    ),
    Spec(
        "distillation", "DistillationLoss", {"temperature": 2.0}, "classes", _two_logits,
        "kl_div(log_softmax(s/T), log_softmax(t/T), log_target) T^2", "optax.kl_divergence_with_log_targets T^2",
    ),
    # the losses with an optax twin only (JAX rows only)
    Spec("sparsemax", "SparsemaxLoss", {}, "classes", _sparse, None, "optax.losses.multiclass_sparsemax_loss"),
    Spec("cosine_distance", "CosineDistanceLoss", {}, "elementwise", _regression, None, "optax.losses.cosine_distance"),
    Spec(
        "ranking_softmax", "RankingSoftmaxLoss", {}, "elementwise", _relevance, None,
        "optax.losses.ranking_softmax_loss",
    ),
    Spec("multiclass_hinge", "MulticlassHingeLoss", {}, "classes", _sparse, None, "optax.losses.multiclass_hinge_loss"),
    Spec("ntxent", "NTXentLoss", {"reduction": "mean"}, "elementwise", _groups, None, "optax.losses.ntxent"),
]  # fmt: skip


def torch_references() -> dict[str, Callable[..., Any]]:
    """The ``torch.nn.functional`` reference of every spec: ``ref(*args, *extra)`` -> per-example loss."""
    import torch
    import torch.nn.functional as F

    def ctc(pred: Any, label: Any, pred_lengths: Any, label_lengths: Any, *_: Any) -> Any:
        log_probs = torch.log_softmax(pred.transpose(0, 1), dim=-1)
        blank = pred.shape[-1] - 1
        return F.ctc_loss(log_probs, label, pred_lengths, label_lengths, blank=blank, reduction="none")

    def triplet(a: Any, p: Any, n: Any) -> Any:
        return torch.relu((p - a).square().sum(1) - (n - a).square().sum(1) + 1.0)

    return {
        "l2": lambda p, y: F.mse_loss(p, y, reduction="none").mean(1) / 2,
        "l1": lambda p, y: F.l1_loss(p, y, reduction="none").mean(1),
        "huber": lambda p, y: F.smooth_l1_loss(p, y, reduction="none", beta=0.5).mean(1),
        "bce": lambda x, z: F.binary_cross_entropy_with_logits(x, z, reduction="none").mean(1),
        "ce": lambda x, y: F.cross_entropy(x, y, reduction="none"),
        "kl_div": lambda lp, t: F.kl_div(lp, t, reduction="none").sum(1),
        "ctc": ctc,
        "poisson": lambda p, t: F.poisson_nll_loss(p, t, log_input=True, full=False, reduction="none").mean(1),
        "cosine": lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.2, reduction="none"),
        "triplet": triplet,
        "triplet_margin": lambda a, p, n: F.triplet_margin_loss(a, p, n, reduction="none"),
        "soft_margin": lambda x, y, _zero: F.soft_margin_loss(x, y, reduction="none").mean(1),
        "margin_ranking": lambda x, y, zero: F.margin_ranking_loss(x, zero, y, margin=1.0, reduction="none").mean(1),
        "nll": lambda lp, y: F.nll_loss(lp, y, reduction="none"),
        "gaussian_nll": lambda p, y, v: F.gaussian_nll_loss(p, y, v, reduction="none").mean(1),
        "multi_margin": lambda x, y: F.multi_margin_loss(x, y, reduction="none"),
        "multilabel_soft_margin": lambda x, z: F.multilabel_soft_margin_loss(x, z, reduction="none"),
        "soft_margin_loss": lambda x, y, _zero: F.soft_margin_loss(x, y, reduction="none").mean(1),
        "margin_ranking_loss": lambda a, b, y: F.margin_ranking_loss(
            a, b, y, margin=RANKING_MARGIN, reduction="none"
        ).mean(1),
        "hinge_embedding": lambda x, y: F.hinge_embedding_loss(x, y, reduction="none").mean(1),
        "triplet_distance": lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, reduction="none"),
        "distillation": lambda s, t: (
            4.0
            * F.kl_div(F.log_softmax(s / 2.0, 1), F.log_softmax(t / 2.0, 1), reduction="none", log_target=True).sum(1)
        ),
    }


def jax_references() -> dict[str, Callable[..., Any]]:
    """The optax reference of every spec (a ``jax.numpy`` expression where optax has none)."""
    import jax
    import jax.numpy as jnp
    import optax

    def cosine(a: Any, b: Any, y: Any) -> Any:
        cos = jnp.sum(a * b, 1) / jnp.sqrt(jnp.maximum(jnp.sum(a * a, 1) * jnp.sum(b * b, 1), 1e-24))
        return jnp.where(y == 1, 1 - cos, 0.0) + jnp.where(y == -1, jax.nn.relu(cos - 0.2), 0.0)

    def ctc(pred: Any, label: Any, _pl: Any, _ll: Any, logit_pad: Any, label_pad: Any) -> Any:
        return optax.ctc_loss(pred, logit_pad, label, label_pad, blank_id=pred.shape[-1] - 1)

    return {
        "l2": lambda p, y: optax.l2_loss(p, y).mean(1),
        "l1": lambda p, y: jnp.abs(p - y).mean(1),
        "huber": lambda p, y: optax.huber_loss(p, y, delta=0.5).mean(1) / 0.5,
        "bce": lambda x, z: optax.sigmoid_binary_cross_entropy(x, z).mean(1),
        "ce": lambda x, y: optax.softmax_cross_entropy_with_integer_labels(x, y),
        "kl_div": lambda lp, t: optax.kl_divergence(lp, t),
        "ctc": ctc,
        "poisson": lambda p, t: (jnp.exp(p) - t * p).mean(1),
        "cosine": cosine,
        "triplet": lambda a, p, n: jax.nn.relu(((p - a) ** 2).sum(1) - ((n - a) ** 2).sum(1) + 1.0),
        "soft_margin": lambda x, y, _zero: optax.sigmoid_binary_cross_entropy(x, (y + 1) / 2).mean(1),
        "margin_ranking": lambda x, y, _zero: optax.hinge_loss(x, y).mean(1),
        "sparsemax": optax.losses.multiclass_sparsemax_loss,
        "cosine_distance": lambda p, y: optax.losses.cosine_distance(p, y, epsilon=1e-12),
        "ranking_softmax": lambda s, y: optax.losses.ranking_softmax_loss(s, y, reduce_fn=None),
        "multiclass_hinge": optax.losses.multiclass_hinge_loss,
        "ntxent": optax.losses.ntxent,
        "distillation": lambda s, t: (
            4.0 * optax.losses.kl_divergence_with_log_targets(jax.nn.log_softmax(s / 2.0), jax.nn.log_softmax(t / 2.0))
        ),
    }


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------


def time_alternating(
    fns: dict[str, Callable[[], Any]],
    sync: Callable[[], None],
    *,
    repeats: int,
    min_block_s: float,
    warmup: int = 2,
) -> dict[str, list[float]]:
    """Seconds per call of each function, ``repeats`` samples each, the functions alternating.

    After ``warmup`` calls of each, one call of each sizes a block (the same number of calls
    for all, at least ``min_block_s`` for the fastest); every round then times one block of
    each function, in an order reversed every other round.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
        sync()
    once = []
    for fn in fns.values():
        start = time.perf_counter()
        fn()
        sync()
        once.append(time.perf_counter() - start)
    calls = max(1, min(10_000, math.ceil(min_block_s / max(min(once), 1e-7))))
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            fn = fns[name]
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            sync()
            samples[name].append((time.perf_counter() - start) / calls)
    return samples


def _median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1e3


def _max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-6))) if a.size else 0.0


class SelfCheckError(AssertionError):
    """A reference does not compute the same per-example values as losskit."""


def _assert_close(what: str, got: np.ndarray, want: np.ndarray, rtol: float = 2e-4, atol: float = 2e-5) -> None:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise SelfCheckError(f"{what}: shape {got.shape} != reference shape {want.shape}")
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    if not np.allclose(got, want, rtol=rtol, atol=atol * scale):
        raise SelfCheckError(f"{what}: max relative difference {_max_rel_diff(got, want):.3g} (rtol {rtol})")
    # the entrywise test lets entries far below the largest one go (a mean's gradient over 32768
    # columns is all such entries): the difference's norm is held to the reference's as well, so
    # that a gradient scaled by 1.01 or missing its small entries fails
    norm = float(np.linalg.norm(want))  # (0 and inf: the entrywise test alone)
    if 0 < norm < math.inf and float(np.linalg.norm(got - want)) > rtol * norm:
        raise SelfCheckError(
            f"{what}: relative difference of norms {float(np.linalg.norm(got - want)) / max(norm, 1e-300):.3g}"
            f" (rtol {rtol})"
        )


# --------------------------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------------------------


@dataclass
class Options:
    sizes: tuple[str, ...] = SIZES
    repeats: int = 7
    backends: tuple[str, ...] = BACKENDS
    losses: tuple[str, ...] = ()
    device: str = "cpu"
    scale: float = 1.0
    compile: bool = False
    with_generic: bool = False
    min_block_s: float = 0.05
    mxnet_python: str | None = None
    threads: int | None = None
    seed: int = 0
    quiet: bool = False
    deadline: float | None = None  # time.monotonic() after which the remaining tasks are skipped
    compile_sizes: tuple[str, ...] = SIZES  # the sizes at which --compile applies
    compile_only: bool = False  # with compile: time torch.compile only, not eager PyTorch
    notes: list[str] = field(default_factory=list)


def torch_peak_bytes(fn: Callable[[], Any]) -> int:
    """The peak of the CPU tensor memory allocated during ``fn()`` above what was there before, from
    torch's profiler's allocation events in time order (``benchmarks/memory.py``, the memory tests)."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        event = stack.pop()
        if event.tag == _EventType.Allocation:
            events.append((event.start_time_ns, event.extra_fields.alloc_size))
        stack.extend(event.children)
    if not events:
        raise RuntimeError("torch's profiler saw no allocation during the call")
    current = peak = 0
    for _, size in sorted(events):
        current += size
        peak = max(peak, current)
    return peak


def _record(spec: Spec, size: str, inputs: Inputs, backend: str, reference: str, **values: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "loss": spec.id,
        "losskit": spec.loss,
        "size": size,
        "shape": list(inputs.shape),
        "backend": backend,
        "reference": reference,
        "note": spec.note,
        "losskit_ms": None,
        "ref_ms": None,
        "ratio": None,
        "generic_ms": None,
        "target": TARGETS.get((backend, size)),
        "met": None,
        "check": None,
        "error": None,
    }
    rec.update(values)
    if rec["losskit_ms"] is not None and rec["ref_ms"]:
        rec["ratio"] = rec["losskit_ms"] / rec["ref_ms"]
        if rec["target"] is not None:
            # "faster than MXNet": below its time, not at it; the others' targets are bounds
            strict = backend == "mxnet"
            rec["met"] = bool(rec["ratio"] < rec["target"] if strict else rec["ratio"] <= rec["target"])
    return rec


def _losskit(spec: Spec) -> Any:
    import losskit

    return losskit.get_loss(spec.loss, **spec.init)


def _generic() -> Any:
    """A context where losskit takes its generic array-API path (no backend fast path)."""
    from losskit import _fast

    return _fast.disabled()


def run_torch(spec: Spec, size: str, inputs: Inputs, opts: Options, *, compiled: bool) -> dict[str, Any]:
    """Time losskit and the ``torch.nn.functional`` reference (eager, or both under ``torch.compile``)."""
    import torch

    backend = "torch-compile" if compiled else "torch"
    ref_fn = torch_references()[spec.id]
    loss = _losskit(spec)
    dev = torch.device(opts.device)
    args = [torch.from_numpy(a).to(dev) for a in inputs.args]
    extra = [torch.from_numpy(a).to(dev) for a in inputs.extra]
    for i in inputs.grad:
        args[i].requires_grad_(True)
    leaves = [args[i] for i in inputs.grad]

    def lk(*a: Any) -> Any:
        return loss(*a)

    def ref(*a: Any) -> Any:
        return ref_fn(*a)

    def generic(*a: Any) -> Any:
        with _generic():
            return loss(*a)

    if compiled:
        torch._dynamo.reset()
        lk = torch.compile(lk, fullgraph=True, dynamic=False)
        ref = torch.compile(ref, dynamic=False)

    def step(f: Callable[..., Any], with_extra: bool) -> Callable[[], Any]:
        call_args = (*args, *extra) if with_extra else tuple(args)

        def run() -> Any:
            out = f(*call_args)
            return torch.autograd.grad(out, leaves, grad_outputs=torch.ones_like(out))

        return run

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    reference = spec.torch or ""
    try:
        got, want = lk(*args), ref(*args, *extra)
        got_np, want_np = got.detach().float().cpu().numpy(), want.detach().float().cpu().numpy()
        check = _max_rel_diff(got_np, want_np)
        _assert_close(f"{spec.id}/{size}/{backend} vs {reference}", got_np, want_np)
        # the gradient of every input the timing differentiates, not only the first, in one
        # backward pass per graph (retain_graph would refuse a compiled graph's donated buffers)
        grads_got = torch.autograd.grad(got.sum(), leaves)
        grads_want = torch.autograd.grad(want.sum(), leaves)
        for k, (g_got, g_want) in enumerate(zip(grads_got, grads_want)):
            _assert_close(
                f"{spec.id}/{size}/{backend} gradient of input {k}",
                g_got.float().cpu().numpy(),
                g_want.float().cpu().numpy(),
            )
        fns = {"losskit": step(lk, False), "ref": step(ref, True)}
        if opts.with_generic and not compiled:  # eager only: a third inductor compile per loss costs minutes
            fns["generic"] = step(generic, False)
        samples = time_alternating(fns, sync, repeats=opts.repeats, min_block_s=opts.min_block_s)
    except Exception as exc:  # a failing loss is reported in the table, the others still run
        if isinstance(exc, SelfCheckError) or not opts.quiet:
            print(f"\n[{spec.id}/{size}/{backend}] {type(exc).__name__}: {exc}", file=sys.stderr)
        return _record(spec, size, inputs, backend, reference, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    return _record(
        spec,
        size,
        inputs,
        backend,
        reference,
        losskit_ms=_median_ms(samples["losskit"]),
        ref_ms=_median_ms(samples["ref"]),
        generic_ms=_median_ms(samples["generic"]) if "generic" in samples else None,
        check=check,
        values=got_np.reshape(-1)[:64].tolist(),
    )


def run_jax(spec: Spec, size: str, inputs: Inputs, opts: Options) -> dict[str, Any]:
    """Time ``jax.jit`` of losskit and of the optax reference, value and gradient of the sum."""
    import jax
    import jax.numpy as jnp

    ref_fn = jax_references()[spec.id]
    loss = _losskit(spec)

    def to_jax(a: np.ndarray) -> Any:
        return jnp.asarray(a.astype(np.int32) if a.dtype.kind in "iu" else a)

    args = [to_jax(a) for a in inputs.args]
    extra = [to_jax(a) for a in inputs.extra]
    grads = inputs.grad

    def lk_total(*a: Any) -> Any:
        return jnp.sum(loss(*a[: len(args)]))

    def ref_total(*a: Any) -> Any:
        return jnp.sum(ref_fn(*a))

    lk_step = jax.jit(jax.value_and_grad(lk_total, argnums=grads))
    ref_step = jax.jit(jax.value_and_grad(ref_total, argnums=grads))
    reference = spec.jax or ""
    try:
        got = np.asarray(jax.jit(lambda *a: loss(*a))(*args))
        want = np.asarray(jax.jit(ref_fn)(*args, *extra))
        check = _max_rel_diff(got, want)
        _assert_close(f"{spec.id}/{size}/jax vs {reference}", got, want)
        for k, (g_got, g_want) in enumerate(zip(lk_step(*args, *extra)[1], ref_step(*args, *extra)[1])):
            _assert_close(f"{spec.id}/{size}/jax gradient of input {k}", np.asarray(g_got), np.asarray(g_want))
        fns = {
            "losskit": lambda: jax.block_until_ready(lk_step(*args, *extra)),
            "ref": lambda: jax.block_until_ready(ref_step(*args, *extra)),
        }
        samples = time_alternating(fns, lambda: None, repeats=opts.repeats, min_block_s=opts.min_block_s)
    except Exception as exc:
        if isinstance(exc, SelfCheckError) or not opts.quiet:
            print(f"\n[{spec.id}/{size}/jax] {type(exc).__name__}: {exc}", file=sys.stderr)
        return _record(spec, size, inputs, "jax", reference, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    return _record(
        spec,
        size,
        inputs,
        "jax",
        reference,
        losskit_ms=_median_ms(samples["losskit"]),
        ref_ms=_median_ms(samples["ref"]),
        check=check,
        platform=jax.default_backend(),
    )


class MXNetWorker:
    """An MXNet interpreter running :func:`mxnet_worker`, fed one task at a time over a pipe."""

    def __init__(self, python: str, threads: int | None = None) -> None:
        env = dict(os.environ)
        # idle OpenMP threads of the worker must not spin while torch is being timed
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if threads:
            env["OMP_NUM_THREADS"] = env["MXNET_CPU_WORKER_NTHREADS"] = str(threads)
        self.proc = subprocess.Popen(
            [python, "-I", str(Path(__file__).resolve()), "--mxnet-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        hello = json.loads(self._readline())
        if hello.get("error"):
            self.close()
            raise RuntimeError(hello["error"])
        self.version: str = hello["mxnet"]
        self.tmp = tempfile.TemporaryDirectory(prefix="losskit-bench-")

    def _readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the MXNet worker exited (status {self.proc.poll()})")
        return line

    def run(self, spec: Spec, size: str, inputs: Inputs, repeats: int, min_block_s: float) -> dict[str, Any]:
        assert spec.mxnet is not None and self.proc.stdin is not None
        paths = []
        for i, a in enumerate(inputs.args):
            path = os.path.join(self.tmp.name, f"arg{i}.npy")
            np.save(path, a)
            paths.append(path)
        gluon, init = spec.mxnet
        task = {"gluon": gluon, "init": init, "args": paths, "grad": list(inputs.grad), "repeats": repeats}
        task["min_block_s"] = min_block_s
        self.proc.stdin.write(json.dumps(task) + "\n")
        self.proc.stdin.flush()
        return json.loads(self._readline())

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        if hasattr(self, "tmp"):
            self.tmp.cleanup()


def mxnet_python(opts: Options) -> str | None:
    """The MXNet interpreter: ``--mxnet-python``, else ``$LOSSKIT_MXNET_PYTHON``, else the default path."""
    for candidate in (opts.mxnet_python, os.environ.get("LOSSKIT_MXNET_PYTHON"), DEFAULT_MXNET_PYTHON):
        if candidate:
            return candidate if os.path.exists(candidate) else None
    return None


def run_mxnet(
    worker: MXNetWorker, spec: Spec, size: str, inputs: Inputs, opts: Options, torch_rec: dict[str, Any] | None
) -> dict[str, Any]:
    """Time Gluon's loss in the worker; its ratio is losskit's PyTorch eager CPU time over it."""
    gluon = f"gluon.loss.{spec.mxnet[0]}" if spec.mxnet else ""
    result = worker.run(spec, size, inputs, opts.repeats, opts.min_block_s)
    if result.get("error"):
        return _record(spec, size, inputs, "mxnet", gluon, error=result["error"])
    lk_ms = torch_rec["losskit_ms"] if torch_rec and torch_rec.get("losskit_ms") else None
    check = None
    if torch_rec and torch_rec.get("values") is not None:
        mine = np.asarray(torch_rec["values"])
        theirs = np.asarray(result["values"], dtype=np.float64)
        if spec.mx_reduce == "mean":
            mine = np.asarray([float(torch_rec["mean"])])
        n = min(mine.size, theirs.size)
        check = _max_rel_diff(mine[:n], theirs[:n])
        try:
            _assert_close(f"{spec.id}/{size}/mxnet vs {gluon}", mine[:n], theirs[:n], rtol=1e-3, atol=1e-4)
        except SelfCheckError as exc:
            print(f"\n[{spec.id}/{size}/mxnet] {exc}", file=sys.stderr)
            return _record(spec, size, inputs, "mxnet", gluon, error=str(exc), check=check)
    return _record(spec, size, inputs, "mxnet", gluon, losskit_ms=lk_ms, ref_ms=result["ms"], check=check)


# --------------------------------------------------------------------------------------------
# the MXNet worker (runs under MXNet's interpreter: standard library, NumPy and MXNet only)
# --------------------------------------------------------------------------------------------


def mxnet_worker(stdin: Iterable[str] = sys.stdin) -> int:
    """Answer one JSON task per input line with one JSON result line: Gluon forward + backward."""
    try:
        import mxnet as mx
    except Exception as exc:  # no MXNet here: say so once and stop
        print(json.dumps({"error": f"cannot import mxnet: {exc}"}), flush=True)
        return 1
    print(json.dumps({"mxnet": mx.__version__}), flush=True)
    for line in stdin:
        task = json.loads(line)
        try:
            result = _mxnet_task(mx, task)
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        print(json.dumps(result), flush=True)
    return 0


def _mxnet_task(mx: Any, task: dict[str, Any]) -> dict[str, Any]:
    loss = getattr(mx.gluon.loss, task["gluon"])(**task["init"])
    args = [mx.nd.array(np.load(path), dtype="float32") for path in task["args"]]
    for i in task["grad"]:
        args[i].attach_grad()

    def step() -> Any:
        with mx.autograd.record():
            out = loss(*args)
        out.backward()
        return out

    first = step()
    mx.nd.waitall()
    values = first.asnumpy().reshape(-1)[:64].astype(np.float64).tolist()
    samples = time_alternating(
        {"mxnet": step}, mx.nd.waitall, repeats=task["repeats"], min_block_s=task["min_block_s"]
    )["mxnet"]
    return {"ms": _median_ms(samples), "values": values}


# --------------------------------------------------------------------------------------------
# the run, the table, the command line
# --------------------------------------------------------------------------------------------


def environment(opts: Options) -> dict[str, Any]:
    """Versions, machine and options, recorded beside the results."""
    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "device": opts.device,
        "scale": opts.scale,
        "repeats": opts.repeats,
        "min_block_s": opts.min_block_s,
        "with_generic": opts.with_generic,
        "threads": opts.threads,
        "cpu_affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "seed": opts.seed,
        "sizes": list(opts.sizes),
        "backends": list(opts.backends),
        "losses": list(opts.losses),
        "compile": opts.compile,
        "losskit": _losskit_version(),
    }
    for name in ("torch", "jax", "optax"):
        try:
            info[name] = __import__(name).__version__
        except Exception:
            info[name] = None
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if opts.device == "cuda" and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except Exception:
        pass
    return info


def _losskit_version() -> str:
    """The version, and the git commit of the source timed when it is a checkout ("+dirty" when
    it holds uncommitted changes), so that a result can be traced to the code it measured."""
    from . import __version__

    package = Path(__file__).resolve().parent
    root = package.parents[1]
    if package != root / "src" / "losskit":  # an installed copy: no checkout of its own
        return __version__
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12", "--exclude", "*"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+{commit}" if commit else __version__


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def select_specs(names: Sequence[str]) -> list[Spec]:
    """The specs of ``names``: benchmark ids (``soft_margin``) or the losskit class each times, by
    any of its names (``LogisticLoss``, ``SigmoidBCELoss``); all of them when ``names`` is empty."""
    from .registry import loss_info  # (here: the MXNet worker runs this file as a script)

    if not names:
        return list(SPECS)
    known = {s.id: s for s in SPECS}
    for spec in SPECS:
        info = loss_info(spec.loss)
        known.update((name.lower(), spec) for name in (info.name, *info.aliases))
    unknown = [n for n in names if n.lower() not in known]
    if unknown:
        hints = [difflib.get_close_matches(n.lower(), known, n=1) for n in unknown]
        meant = [known[h[0]].id for h in hints if h]
        hint = f"did you mean {', '.join(meant)}? " if meant else ""
        raise ValueError(
            f"unknown loss {', '.join(unknown)}; {hint}valid: {', '.join(s.id for s in SPECS)} "
            "(or the losskit class each times, as --help lists)"
        )
    chosen = [known[n.lower()] for n in names]
    return [spec for i, spec in enumerate(chosen) if spec not in chosen[:i]]  # each once, in the order given


class NothingToTime(RuntimeError):
    """None of the backends asked for can run here (not installed, or no CUDA): exit status 1."""


def run_benchmarks(opts: Options) -> dict[str, Any]:
    """Run every selected benchmark; return ``{"environment": ..., "results": [...], "notes": [...]}``."""
    if "jax" in opts.backends and opts.device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if opts.device == "cuda":  # JAX would otherwise take 75% of the GPU that torch shares
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    specs = select_specs(opts.losses)
    backends = list(opts.backends)
    notes = list(opts.notes)
    if "torch" in backends:
        try:
            import torch

            if opts.threads:
                torch.set_num_threads(opts.threads)
            if opts.device == "cuda" and not torch.cuda.is_available():
                notes.append("torch: CUDA is not available; torch skipped")
                backends.remove("torch")
        except ImportError:
            notes.append("torch is not installed (pip install 'losskit[torch]'); torch skipped")
            backends.remove("torch")
    if "jax" in backends:
        try:
            import jax
            import optax  # noqa: F401

            if opts.device == "cuda" and jax.default_backend() != "gpu":
                notes.append(f"jax: no GPU backend (default is {jax.default_backend()}); jax ran there")
        except ImportError:
            notes.append("jax/optax is not installed (pip install 'losskit[jax]'); jax skipped")
            backends.remove("jax")
    worker = None
    if "mxnet" in backends:
        python = mxnet_python(opts)
        if opts.device != "cpu":
            notes.append("mxnet: compared on the CPU only (MXNet 1.9.1 CPU build); skipped for --device cuda")
        elif python is None:
            notes.append("mxnet: no MXNet interpreter (--mxnet-python / LOSSKIT_MXNET_PYTHON); skipped")
        elif "torch" not in backends:
            notes.append("mxnet: needs the torch backend (its ratio is losskit on torch over MXNet); skipped")
        else:
            try:
                worker = MXNetWorker(python, opts.threads)
                notes.append(f"mxnet {worker.version} via {python}, ratio = losskit torch eager CPU / MXNet")
            except Exception as exc:
                notes.append(f"mxnet: worker failed to start ({exc}); skipped")
    tasks = [(spec, size) for size in opts.sizes for spec in specs]
    per_task: list[str] = [b for b in ("torch", "jax") if b in backends]
    if opts.compile and "torch" in backends:
        per_task.insert(1, "torch-compile")
        if opts.compile_only:
            per_task.remove("torch")
    if worker is not None:
        per_task.append("mxnet")
    if not per_task:  # every backend asked for was skipped: an empty table would read as success
        raise NothingToTime("nothing to time: " + "; ".join(notes[len(opts.notes) :]))
    from .plot import progress_bar  # (here, not above: MXNet's interpreter runs this file as a script)

    bar = progress_bar(len(tasks) * len(per_task), quiet=opts.quiet)
    results: list[dict[str, Any]] = []
    skipped = 0
    try:
        for spec, size in tasks:
            if opts.deadline is not None and time.monotonic() > opts.deadline:
                skipped += 1
                bar.update(len(per_task))
                continue
            inputs = spec.make(np.random.default_rng(opts.seed), sizes(spec.family, size, opts.scale))
            torch_rec = None
            for backend in per_task:
                if backend == "torch-compile" and size not in opts.compile_sizes:
                    bar.update(1)
                    continue
                bar.set_description(f"{spec.id:>14} {size:>5} {backend}")
                rec: dict[str, Any] | None = None
                if backend == "torch" and spec.torch:
                    rec = torch_rec = run_torch(spec, size, inputs, opts, compiled=False)
                    if spec.mx_reduce == "mean" and rec.get("error") is None:
                        rec["mean"] = _losskit_mean(spec, inputs)
                elif backend == "torch-compile" and spec.torch:
                    rec = run_torch(spec, size, inputs, opts, compiled=True)
                elif backend == "jax" and spec.jax:
                    rec = run_jax(spec, size, inputs, opts)
                elif backend == "mxnet" and spec.mxnet and worker is not None:
                    rec = run_mxnet(worker, spec, size, inputs, opts, torch_rec)
                if rec is not None:
                    results.append(rec)
                bar.update(1)
    finally:
        bar.close()
        if worker is not None:
            worker.close()
    if skipped:
        notes.append(f"time budget reached: {skipped} of {len(tasks)} (loss, size) tasks skipped")
    for rec in results:
        rec.pop("values", None)
        rec.pop("mean", None)
    return {"environment": environment(opts), "results": results, "notes": notes}


def _losskit_mean(spec: Spec, inputs: Inputs) -> float:
    import torch

    with torch.no_grad():
        out = _losskit(spec)(*[torch.from_numpy(a) for a in inputs.args])
    return float(out.double().mean())


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}f}" if x < 100 else f"{x:.1f}"


def table(results: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    """One row per (loss, size, backend): times in ms, the ratio losskit/reference and its target."""
    has_generic = any(r.get("generic_ms") is not None for r in results)
    head = ["loss", "size", "shape", "backend", "reference", "losskit ms", "ref ms", "ratio", "target", "ok"]
    if has_generic:
        head.insert(7, "generic ms")
    rows = []
    for r in results:
        ok = "ERR" if r["error"] else {True: "yes", False: "NO", None: "-"}[r["met"]]
        row = [
            r["loss"],
            r["size"],
            "x".join(map(str, r["shape"])),
            r["backend"],
            r["reference"],
            _fmt(r["losskit_ms"]),
            _fmt(r["ref_ms"]),
            _fmt(r["ratio"], 2),
            "-" if r["target"] is None else f"<= {r['target']:g}" if r["backend"] != "mxnet" else "< 1",
            ok,
        ]
        if has_generic:
            row.insert(7, _fmt(r.get("generic_ms")))
        rows.append(row)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 5 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in rows])


def summary(results: Sequence[dict[str, Any]]) -> str:
    judged = [r for r in results if r["met"] is not None]
    missed = [
        f"{r['loss']}/{r['size']}/{r['backend']} ({r['ratio']:.2f} > {r['target']:g})" for r in judged if not r["met"]
    ]
    errors = [f"{r['loss']}/{r['size']}/{r['backend']}" for r in results if r["error"]]
    text = f"targets met: {len(judged) - len(missed)}/{len(judged)}"
    if missed:
        text += "\nmissed: " + ", ".join(missed)
    if errors:
        text += "\nerrors: " + ", ".join(errors)
    return text


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The options of ``losskit bench`` (added to ``parser`` when the CLI passes its subparser)."""
    p = parser or argparse.ArgumentParser(prog="losskit bench", description=__doc__.split("\n\n")[0].replace("``", "`"))
    p.add_argument("--size", choices=("small", "large", "both"), default="both", help="input size (default: both)")
    p.add_argument(
        "--repeats", type=int, default=7, help="timed rounds per implementation; the median is kept (default: 7)"
    )
    p.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated: torch,jax,mxnet (default: all three)"
    )
    p.add_argument(
        "--losses",
        default="",
        # the ids are the torch twins; the losskit class each times is not always its namesake
        help="comma-separated subset (default: all) of the ids, or of the losskit classes each times: "
        + ", ".join(f"{s.id} ({s.loss})" for s in SPECS),
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="PyTorch (and JAX) device")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the large batch (4096) by this, e.g. 0.125")
    p.add_argument("--compile", action="store_true", help="also time both sides under torch.compile (inductor)")
    p.add_argument("--with-generic", action="store_true", help="also time losskit's generic path (fast paths off)")
    p.add_argument("--min-block", type=float, default=0.05, help="seconds timed per block of calls (default 0.05)")
    p.add_argument(
        "--mxnet-python",
        default=None,
        help=f"MXNet's interpreter (default: $LOSSKIT_MXNET_PYTHON, else {DEFAULT_MXNET_PYTHON})",
    )
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads(N); on the CPU, pins the process to N CPUs"
    )
    p.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON to PATH")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def options_from(ns: argparse.Namespace) -> Options:
    backends = tuple(b.strip() for b in ns.backends.split(",") if b.strip())
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        raise ValueError(f"unknown backend {', '.join(unknown)}; valid: {', '.join(BACKENDS)}")
    losses = tuple(x.strip() for x in ns.losses.split(",") if x.strip())
    select_specs(losses)  # an unknown loss fails here, before anything is imported or timed
    finite = math.isfinite(ns.scale) and math.isfinite(ns.min_block)
    if ns.repeats < 1 or not finite or ns.scale <= 0 or ns.min_block <= 0:
        raise ValueError(
            f"--repeats must be >= 1 and --scale, --min-block finite and > 0, got {ns.repeats}, {ns.scale:g}, "
            f"{ns.min_block:g}"
        )
    if ns.threads is not None and ns.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {ns.threads}")
    if ns.json is not None:
        check_json_path(ns.json)
    return Options(
        sizes=SIZES if ns.size == "both" else (ns.size,),
        repeats=ns.repeats,
        backends=backends,
        losses=losses,
        device=ns.device,
        scale=ns.scale,
        compile=ns.compile,
        with_generic=ns.with_generic,
        min_block_s=ns.min_block,
        mxnet_python=ns.mxnet_python,
        threads=ns.threads,
        quiet=ns.quiet,
    )


def pin_to_cpus(n: int) -> str | None:
    """``--threads N`` on the CPU: run this process on ``N`` of the CPUs it may use, so that XLA,
    whose CPU thread pool no JAX option sizes, is held to ``N`` cores as torch is by
    ``set_num_threads`` (the pool is sized by the CPUs the process may use when JAX starts; the
    MXNet worker inherits the CPUs). A note for the report, or None where nothing was changed.

    Called by the command line only, before JAX is imported: the process stays pinned.
    """
    if not hasattr(os, "sched_setaffinity"):
        return f"--threads {n}: this OS cannot pin a process to CPUs; XLA uses every core"
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) <= n:
        return None
    os.sched_setaffinity(0, allowed[:n])
    late = " (JAX had started before: its thread pool keeps its size)" if "jax" in sys.modules else ""
    cpus = ",".join(map(str, allowed[:n]))
    return f"--threads {n}: pinned to CPU {cpus} of {len(allowed)}, XLA and the MXNet worker too{late}"


def check_json_path(path: str) -> None:
    """``--json``'s file: not a folder, and under a folder (or where one can be made): checked
    before anything is timed, so that a long run's results are not lost at the end."""
    from .cli import UsageError, check_out_dir  # (the CLI imports this module lazily)

    if Path(path).is_dir():
        raise ValueError(f"--json {path}: a folder; give a file name")
    try:
        check_out_dir(Path(path).parent, "--json")  # the folder plot and gallery write into, checked alike
    except UsageError as exc:
        raise ValueError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``benchmarks/core.py`` and ``python -m losskit.bench`` (``losskit bench`` parses its own
    arguments and calls :func:`run_parsed`); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--mxnet-worker"]:
        return mxnet_worker()
    parser = build_parser()
    ns = parser.parse_args(args)
    try:
        return run_parsed(ns)
    except NothingToTime as exc:  # not a usage error: what this machine lacks
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        parser.error(str(exc))  # exits with status 2, as argparse does for its own errors
        raise  # unreachable: parser.error exits


def run_parsed(ns: argparse.Namespace) -> int:
    """Run the benchmark the parsed options ask for, print the table and write the JSON; return 0,
    or 1 when a row failed (its error is in the table and the JSON).

    ``ValueError`` (before anything is timed) for an unknown backend or loss, a bad number or an
    unwritable ``--json`` path; :class:`NothingToTime` when none of the backends asked for can run
    (not installed, or ``--device cuda`` without CUDA).
    """
    opts = options_from(ns)
    if opts.threads and opts.device == "cpu":
        note = pin_to_cpus(opts.threads)
        if note:
            opts.notes.append(note)
    report = run_benchmarks(opts)
    print(table(report["results"], markdown=ns.markdown))
    print(summary(report["results"]))
    for note in report["notes"]:
        print(f"note: {note}")
    if ns.json:
        Path(ns.json).parent.mkdir(parents=True, exist_ok=True)
        Path(ns.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {ns.json}")
    return 1 if any(r["error"] for r in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
