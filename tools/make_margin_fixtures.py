"""Generate golden fixtures from pytorch-metric-learning's ArcFaceLoss and CosFaceLoss (pml 2.9.0,
torch 2.13.0 on the CPU), for ``tests/test_margin_softmax_and_distillation.py``.

pml's losses own their class-centre matrix ``W`` ``(D, C)`` and take embeddings; losskit's take the
cosines ``normalize(emb) @ normalize(W)``. Each case sets ``W``, computes in **float64** pml's
per-example losses (``reducer=DoNothingReducer()``), its default loss (the batch mean) and the
gradients of that mean with respect to the embeddings and ``W``, and writes
``<loss>__<case>.npz`` into ``tests/fixtures/margin`` with the arrays ``embeddings`` ``(N, D)``,
``W`` ``(D, C)``, ``labels`` ``(N,)``, ``losses`` ``(N,)``, ``mean`` ``()``, ``grad_embeddings``,
``grad_W``, and the options ``scale``, ``margin`` (as losskit takes it: radians for ArcFace) and
``margin_pml`` (as pml takes it: degrees for ArcFace).

pml lives in its own virtual environment (torch first and pinned, so that pip never pulls a CUDA
build)::

    python3 -m venv /work/pmlvenv2
    /work/pmlvenv2/bin/pip install torch==2.13.0
    /work/pmlvenv2/bin/pip install pytorch-metric-learning==2.9.0

Then, from the repository root::

    /work/pmlvenv2/bin/python tools/make_margin_fixtures.py [--out tests/fixtures/margin]

Every true-class cosine is kept at least ``GAP`` away from +-1 (where pml's ``acos`` has an
infinite derivative) and from ArcFace's threshold ``-cos(m)`` (where pml's fallback jumps), so
that rounding cannot put a value on the other side. The ``past_threshold`` cases put some true
classes beyond it on purpose (embedding near ``-W[:, y]``), to fix the fallback
``cos - m sin m``. The output is deterministic: each case has a fixed seed (the CRC-32 of its file
stem), and the archives have fixed zip timestamps.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_metric_learning
import torch
from fixture_files import write_fixtures  # tools/, beside this script
from pytorch_metric_learning.losses import ArcFaceLoss, CosFaceLoss
from pytorch_metric_learning.reducers import DoNothingReducer

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "margin"
GAP = 1e-3

Rng = np.random.Generator


@dataclass(frozen=True)
class Case:
    loss: str  # "arcface" or "cosface"
    name: str
    n: int
    d: int
    c: int
    scale: float
    margin: float  # as losskit takes it (radians for ArcFace)
    build: Callable[[Rng, int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    @property
    def stem(self) -> str:
        return f"{self.loss}__{self.name}"

    @property
    def rng_seed(self) -> int:
        return zlib.crc32(self.stem.encode())


def _random(rng: Rng, n: int, d: int, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = rng.integers(0, c, size=n)
    W = rng.normal(size=(d, c))
    # embeddings leaning towards their class centre, as during training: a spread of angles
    emb = rng.normal(size=(n, d)) + rng.uniform(0, 3, size=(n, 1)) * (
        W[:, labels].T / np.linalg.norm(W[:, labels].T, axis=1, keepdims=True)
    )
    return emb, W, labels


def _past_threshold(rng: Rng, n: int, d: int, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    emb, W, labels = _random(rng, n, d, c)
    unit = W[:, labels].T / np.linalg.norm(W[:, labels].T, axis=1, keepdims=True)
    flip = np.arange(n) % 2 == 0  # half the examples point almost away from their class centre
    emb[flip] = -unit[flip] * 5 + rng.normal(scale=0.3, size=(int(flip.sum()), d))
    return emb, W, labels


CASES = [
    Case("arcface", "pml_defaults", 8, 6, 5, 64.0, math.radians(28.6)),
    Case("arcface", "paper_margin_s30", 12, 8, 7, 30.0, 0.5),
    Case("arcface", "small_scale", 10, 4, 3, 4.0, 0.3),
    Case("arcface", "past_threshold", 10, 5, 4, 16.0, 0.5, _past_threshold),
    Case("cosface", "pml_defaults", 8, 6, 5, 64.0, 0.35),
    Case("cosface", "small_scale", 12, 8, 7, 8.0, 0.2),
    Case("cosface", "past_threshold", 10, 5, 4, 16.0, 0.4, _past_threshold),
]


def _cosines(emb: np.ndarray, W: np.ndarray) -> np.ndarray:
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)) @ (W / np.linalg.norm(W, axis=0, keepdims=True))


def _inputs(case: Case) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(case.rng_seed)
    for _ in range(1000):  # redraw until every true-class cosine keeps GAP from +-1 and the threshold
        emb, W, labels = (case.build or _random)(rng, case.n, case.d, case.c)
        true = _cosines(emb, W)[np.arange(case.n), labels]
        near = [1.0, -1.0] + ([-math.cos(case.margin)] if case.loss == "arcface" else [])
        if all(np.abs(true - v).min() > GAP for v in near):
            return emb, W, labels
    raise RuntimeError(f"{case.stem}: no inputs away from the kinks")


def _pml(case: Case, reducer: Any = None) -> torch.nn.Module:
    kwargs = {} if reducer is None else {"reducer": reducer}
    if case.loss == "arcface":
        return ArcFaceLoss(case.c, case.d, margin=math.degrees(case.margin), scale=case.scale, **kwargs)
    return CosFaceLoss(case.c, case.d, margin=case.margin, scale=case.scale, **kwargs)


def run(case: Case) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    emb_np, W_np, labels_np = _inputs(case)
    labels = torch.from_numpy(labels_np)
    # per example: DoNothingReducer hands back pml's unreduced losses
    per = _pml(case, DoNothingReducer()).double()
    with torch.no_grad():
        per.W.copy_(torch.from_numpy(W_np))
    losses = per(torch.from_numpy(emb_np), labels)["loss"]["losses"].detach()
    # the default reduction (the mean) and its gradients
    mean_loss = _pml(case).double()
    with torch.no_grad():
        mean_loss.W.copy_(torch.from_numpy(W_np))
    emb = torch.from_numpy(emb_np).requires_grad_(True)
    mean = mean_loss(emb, labels)
    grad_emb, grad_W = torch.autograd.grad(mean, (emb, mean_loss.W))
    true = _cosines(emb_np, W_np)[np.arange(case.n), labels_np]
    meta = {"past": int((true <= -math.cos(case.margin)).sum()) if case.loss == "arcface" else 0}
    arrays = {
        "embeddings": emb_np,
        "W": W_np,
        "labels": labels_np,
        "losses": losses.numpy(),
        "mean": mean.detach().numpy(),
        "grad_embeddings": grad_emb.numpy(),
        "grad_W": grad_W.numpy(),
        "scale": np.float64(case.scale),
        "margin": np.float64(case.margin),
        "margin_pml": np.float64(math.degrees(case.margin) if case.loss == "arcface" else case.margin),
    }
    return meta, arrays


def line(case: Case, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    past = f", {meta['past']} past the threshold" if case.loss == "arcface" else ""
    return f"{case.stem}: N={case.n} D={case.d} C={case.c}, mean {float(arrays['mean']):.6g}{past}"


if __name__ == "__main__":
    write_fixtures(
        CASES,
        description=__doc__.splitlines()[0],
        default_out=DEFAULT_OUT,
        run=run,
        line=line,
        done=f" (pytorch-metric-learning {pytorch_metric_learning.__version__}, torch {torch.__version__})",
    )
