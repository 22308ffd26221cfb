"""Generate golden fixtures from the real TensorFlow Addons losses (tfa 0.23.0, TensorFlow 2.15.1).

Every case in ``CASES`` calls one function of ``tfa.losses`` (``triplet_semihard_loss``,
``triplet_hard_loss``, ``contrastive_loss``) with keyword options on seeded inputs, records its
result and the gradient of the sum of that result with respect to ``y_pred``
(``tf.GradientTape``), and writes ``<function>__<case>.npz`` into ``tests/fixtures/tfa``. The
format is described in ``tests/fixtures/tfa/README.md``; ``tests/test_tfa_losses.py`` maps each
function onto the losskit loss that computes the same thing.

tfa lives in its own virtual environment (TensorFlow on the CPU, NumPy 1)::

    python3 -m venv /work/tfavenv
    /work/tfavenv/bin/pip install tensorflow-cpu==2.15.1 tensorflow-addons==0.23.0 'numpy<2'

Then, from the repository root::

    /work/tfavenv/bin/python tools/make_tfa_fixtures.py [--out tests/fixtures/tfa]

Precision: the triplet losses run in **float32**, the only dtype tfa's ``pairwise_distance``
takes (it adds a float32 mask to the squared distances: float64 embeddings raise a ``TypeError``
there), with tfa's ``|a|^2 + |b|^2 - 2 a.b`` distances; their inputs are float32 (saved so) and
their results and gradients are float32, good to a few units of 1e-7 relative to the squared
norms. ``contrastive_loss`` runs in float64. Each builder keeps every hinge argument and every
mining comparison (``d_an`` against ``d_ap``) at least ``GAP`` away from a tie, unless the case
makes exact ties on purpose with small dyadic coordinates (every product and sum exact in
float32, so tfa's distances are exact too): float32 rounding then cannot flip a mining decision.

The output is deterministic: each case has a fixed seed (the CRC-32 of its file stem), and the
archives are written with fixed zip timestamps. Stale ``*__*.npz`` files that no case produces
any more are removed.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_addons as tfa  # noqa: E402
from fixture_files import write_fixtures  # noqa: E402  (tools/, beside this script)

Rng = np.random.Generator
Inputs = tuple[np.ndarray, np.ndarray]  # (y_true, y_pred), tfa's argument order
Builder = Callable[[Rng], Inputs]

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tfa"
GAP = 1e-3  # the least distance of a hinge argument or a mining comparison from a tie (relative)


@dataclass(frozen=True)
class Case:
    """One fixture: a function of ``tfa.losses``, its keyword options and an input builder."""

    function: str
    name: str
    build: Builder
    kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    exact_ties: bool = False  # the builder makes exact ties on purpose (not checked against GAP)

    @property
    def stem(self) -> str:
        return f"{self.function}__{self.name}"

    @property
    def rng_seed(self) -> int:
        return zlib.crc32(self.stem.encode())


# --------------------------------------------------------------------------- distances and mining


def distances(x: np.ndarray, metric: str) -> np.ndarray:
    """The (N, N) distances named as tfa 0.23 names them ("L2", "squared-L2", "angular"), in float64
    (for the builders' tie checks)."""
    x = x.astype(np.float64)
    if metric == "angular":
        u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
        return np.maximum(1 - u @ u.T, 0.0)
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return sq if metric == "squared-L2" else np.sqrt(sq)


def near_ties(y: np.ndarray, x: np.ndarray, function: str, kwargs: dict[str, Any], hinges_only: bool) -> bool:
    """Whether a hinge argument of the case is within GAP of its kink, or (unless ``hinges_only``)
    a mining comparison within GAP (relative) of a tie."""
    if function == "contrastive_loss":
        return bool((np.abs(x - kwargs.get("margin", 1.0)) < GAP).any())
    d = distances(x, kwargs.get("distance_metric", "L2"))
    margin = kwargs.get("margin", 1.0)
    n = len(y)
    same = y[:, None] == y[None, :]
    pos, neg = same & ~np.eye(n, dtype=bool), ~same
    scale = max(d.max(), 1e-12)
    for a in range(n):
        # two negatives of the anchor at nearly the same distance: a tie in the min or max
        dn = np.sort(d[a, neg[a]])
        if not hinges_only and dn.size > 1 and (np.diff(dn) < GAP * scale).any():
            return True
        for p in np.flatnonzero(pos[a]):
            if not hinges_only and dn.size and (np.abs(dn - d[a, p]) < GAP * scale).any():
                return True  # a semi-hard comparison near equality
        if function == "triplet_hard_loss" and not kwargs.get("soft", False):
            hp = d[a, pos[a]].max() if pos[a].any() else 0.0
            hn = dn[0] if dn.size else d[a].max()
            if abs(hp - hn + margin) < GAP:
                return True
        if function == "triplet_semihard_loss":
            for p in np.flatnonzero(pos[a]):
                outside = dn[dn > d[a, p]]
                semi = outside[0] if outside.size else (dn[-1] if dn.size else 0.0)
                if abs(d[a, p] - semi + margin) < GAP:
                    return True
    return False


# ------------------------------------------------------------------ input builders


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def clusters(labels: list[int], dim: int = 5, spread: float = 0.5, unit: bool = True) -> Builder:
    """Class labels and float32 embeddings near a random centre per class (unit rows by default, as
    tfa expects): drawn until no comparison is near a tie (see ``near_ties``, applied by ``run_case``)."""

    def build(rng: Rng) -> Inputs:
        y = np.array(labels)
        centres = unit_rows(rng.normal(size=(y.max() + 1, dim)))
        e = centres[y] + spread * rng.normal(size=(len(y), dim))
        e = unit_rows(e) if unit else e
        return y, e.astype(np.float32)

    return build


def column(build: Builder) -> Builder:
    """The same inputs with labels of shape (N, 1) (tfa reshapes them to (N,))."""

    def wrapped(rng: Rng) -> Inputs:
        y, e = build(rng)
        return y[:, None], e

    return wrapped


def duplicates(rng: Rng) -> Inputs:
    """Dyadic coordinates (multiples of 1/8, |v| <= 1, D = 4: tfa's float32 distances are exact):
    rows 1 and 2 are equal (a positive pair at d = 0) and row 5 equals row 0 (a negative at d = 0)."""
    y = np.array([0, 0, 0, 1, 1, 2, 2, 1])
    while True:
        e = rng.integers(-8, 9, size=(8, 4)) / 8.0
        e[2] = e[1]
        e[5] = e[0]
        # among the distinct rows, every squared distance distinct (by 1/8 at least) and nonzero:
        # the only ties are those the copies make
        d = distances(np.delete(e, [2, 5], axis=0), "squared-L2")[np.triu_indices(6, 1)]
        if d.min() > 0 and np.diff(np.sort(d)).min() >= 0.125:
            return y, e.astype(np.float32)


def ties(rng: Rng) -> Inputs:
    """Integer points in the plane with exact ties: anchor 0 at the origin has positive (3, 4)
    at 5 and negatives (5, 0), (0, -5) at 5 (tied with the positive: not semi-hard, "farther" is
    strict), (6, 8) and (-6, -8) at 10 (tied: the nearest outside negatives, and the farthest);
    rows 1 and 6 share their label too."""
    y = np.array([0, 0, 1, 2, 1, 2, 0])
    e = np.array([[0, 0], [3, 4], [5, 0], [0, -5], [6, 8], [-6, -8], [-3, 4]], dtype=np.float32)
    return y, e


def contrastive(margin: float = 1.0, shape: tuple[int, ...] = (12,)) -> Builder:
    """Binary labels and distances in [0, 2 max(margin, 1)], off the margin (where the hinge bends)."""

    def build(rng: Rng) -> Inputs:
        return rng.integers(0, 2, size=shape), rng.uniform(0, 2 * max(margin, 1.0), size=shape)

    return build


# ---------------------------------------------------------------------------- the cases

SEMI = "triplet_semihard_loss"
HARD = "triplet_hard_loss"

CASES: list[Case] = [
    Case(
        SEMI,
        "squared_l2",
        clusters([0, 1, 2, 0, 1, 2, 0, 1, 2, 3]),
        {"distance_metric": "squared-L2"},
        note="row 9 is alone in class 3: no positive, no pair.",
    ),
    Case(SEMI, "l2_margin0_5", clusters([0, 0, 1, 1, 2, 2, 0, 1]), {"margin": 0.5}, note="'L2', tfa's default."),
    Case(SEMI, "angular_margin0_2", clusters([0, 1, 0, 1, 0, 1, 2, 2]), {"margin": 0.2, "distance_metric": "angular"}),
    Case(
        SEMI,
        "l2_not_unit_margin2",
        clusters([0, 0, 0, 1, 1, 1], dim=3, spread=0.8, unit=False),
        {"margin": 2.0},
        note="rows of any norm; a large margin (most pairs active).",
    ),
    Case(
        SEMI,
        "singleton_class",
        clusters([0, 1, 0, 1, 2, 0, 1]),
        note="row 4 alone in its class: no positive pair; it is still the others' negative.",
    ),
    Case(
        SEMI,
        "one_class",
        clusters([3, 3, 3, 3, 3]),
        note="no negatives: tfa takes d_an = 0 (its masked maximum's fallback), each pair costs d_ap + margin.",
    ),
    Case(SEMI, "labels_n_by_1", column(clusters([0, 1, 1, 0, 2, 2, 1])), note="y_true of shape (N, 1)."),
    Case(
        SEMI,
        "duplicates_l2",
        duplicates,
        exact_ties=True,
        note="equal rows (d = 0, a positive pair and a negative one): Euclidean distance, gradient 0 there.",
    ),
    Case(SEMI, "duplicates_squared_l2", duplicates, {"margin": 0.25, "distance_metric": "squared-L2"}, exact_ties=True),
    Case(
        SEMI,
        "exact_ties_l2",
        ties,
        {"margin": 1.5},
        exact_ties=True,
        note="negatives at exactly d_ap (not semi-hard) and two tied nearest/farthest negatives.",
    ),
    Case(
        HARD,
        "squared_l2",
        clusters([0, 1, 2, 0, 1, 2, 0, 1, 2, 3]),
        {"distance_metric": "squared-L2"},
        note="row 9 has no positive (d_ap = 0).",
    ),
    Case(HARD, "l2_margin0_5", clusters([0, 0, 1, 1, 2, 2, 0, 1]), {"margin": 0.5}),
    Case(HARD, "angular_margin0_3", clusters([0, 1, 0, 1, 0, 1, 2, 2]), {"margin": 0.3, "distance_metric": "angular"}),
    Case(HARD, "soft_l2", clusters([0, 0, 1, 1, 2, 2, 0, 1]), {"soft": True}),
    Case(HARD, "soft_angular", clusters([0, 1, 0, 1, 0, 1, 2, 2]), {"soft": True, "distance_metric": "angular"}),
    Case(
        HARD,
        "soft_squared_l2_not_unit",
        clusters([0, 0, 0, 1, 1, 1], dim=3, spread=0.8, unit=False),
        {"soft": True, "distance_metric": "squared-L2"},
    ),
    Case(
        HARD,
        "singleton_class",
        clusters([0, 1, 0, 1, 2, 0, 1]),
        {"margin": 1.5},
        note="row 4 alone in its class: d_ap = 0, its loss max(0, margin - d_an) (tfa averages it in).",
    ),
    Case(
        HARD,
        "one_class",
        clusters([3, 3, 3, 3, 3]),
        note="no negatives: d_an is the row's largest distance, the hardest positive's: margin per anchor.",
    ),
    Case(HARD, "labels_n_by_1", column(clusters([0, 1, 1, 0, 2, 2, 1]))),
    Case(HARD, "duplicates_l2", duplicates, exact_ties=True),
    Case(
        HARD, "duplicates_soft_squared_l2", duplicates, {"soft": True, "distance_metric": "squared-L2"}, exact_ties=True
    ),
    Case(HARD, "exact_ties_l2", ties, {"margin": 1.5}, exact_ties=True),
    Case("contrastive_loss", "margin1", contrastive()),
    Case("contrastive_loss", "margin0_5", contrastive(0.5), {"margin": 0.5}),
    Case("contrastive_loss", "margin2_5_2d", contrastive(2.5, (6, 3)), {"margin": 2.5}, note="(N, 3) distances."),
    Case("contrastive_loss", "margin0", contrastive(0.0), {"margin": 0.0}, note="margin 0: y d^2 only."),
]


# ---------------------------------------------------------------------------- runner


def run_case(case: Case) -> dict[str, np.ndarray]:
    fn = getattr(tfa.losses, case.function)
    rng = np.random.default_rng(case.rng_seed)
    for _ in range(1000):
        y_true, y_pred = case.build(rng)
        if not near_ties(y_true.reshape(-1), y_pred, case.function, case.kwargs, hinges_only=case.exact_ties):
            break
    else:
        raise RuntimeError(f"{case.stem}: no inputs away from ties in 1000 draws")
    y_true = y_true.astype(np.int64)
    dtype = np.float64 if case.function == "contrastive_loss" else np.float32
    y_pred = y_pred.astype(dtype)
    p = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        out = fn(tf.constant(y_true), p, **case.kwargs)
        total = tf.reduce_sum(out)
    grad = tape.gradient(total, p)
    out, grad = out.numpy(), grad.numpy()
    for what, value in (("out", out), ("grad_y_pred", grad)):
        if value.dtype != dtype:
            raise TypeError(f"{case.stem}: tfa computed {what} in {value.dtype}, expected {np.dtype(dtype)}")
        if not np.isfinite(value).all():
            raise FloatingPointError(f"{case.stem}: non-finite {what}")
    meta = {
        "function": case.function,
        "kwargs": case.kwargs,
        "dtype": np.dtype(dtype).name,
        "note": case.note,
        "exact_ties": case.exact_ties,
        "seed": case.rng_seed,
        "tfa_version": tfa.__version__,
        "tf_version": tf.__version__,
    }
    return {"meta": np.array(json.dumps(meta)), "y_true": y_true, "y_pred": y_pred, "out": out, "grad_y_pred": grad}


def main() -> None:
    write_fixtures(
        CASES,
        description=__doc__.splitlines()[0],
        default_out=DEFAULT_OUT,
        run=lambda case: ({}, run_case(case)),
        line=lambda case, _, data: (
            f"{case.stem:50s} out{tuple(data['out'].shape)!s:8s} {float(np.sum(data['out'])):.6g}"
        ),
        done=f" (tfa {tfa.__version__})",
    )


if __name__ == "__main__":
    main()
