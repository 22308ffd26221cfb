"""Generate golden fixtures from the real pytorch-metric-learning ``SupConLoss`` (pml 2.9.0, torch 2.13.0 CPU).

Every case in ``CASES`` builds seeded float64 embeddings ``(N, D)`` and integer labels ``(N,)``
(the views of one sample are rows sharing its label), runs
``pytorch_metric_learning.losses.SupConLoss(temperature=T)`` on them and records:

- ``losses``: pml's per-anchor losses ``(N,)``, the ``"losses"`` of the dict its ``compute_loss``
  returns (``reduction_type="element"``), before its reducer; where pml returns its
  ``zero_losses()`` (no positive pair or no negative pair in the batch: an already reduced 0),
  zeros ``(N,)``, and ``meta["zero_losses"]`` is true;
- ``grad_losses``: the gradient of ``sum(losses)`` with respect to the embeddings (zeros for
  ``zero_losses``);
- ``loss``: the scalar of ``SupConLoss()(embeddings, labels)``, pml's default reducer
  (``AvgNonZeroReducer``: the mean of the losses above 0), and ``grad_loss``, its gradient.

They are written as ``supcon__<case>.npz`` into ``tests/fixtures/pml``;
``tests/test_supcon_and_distance_triplet.py`` compares :class:`losskit.SupConLoss` with them on
every backend. The format is in ``tests/fixtures/pml/README.md``.

pml lives in its own virtual environment; install torch first, pinned to a CPU build, so that pip
never pulls a CUDA one for pml's ``torch`` requirement::

    python3 -m venv /work/pmlvenv
    /work/pmlvenv/bin/pip install torch==2.13.0
    /work/pmlvenv/bin/pip install pytorch-metric-learning==2.9.0

Then, from the repository root::

    /work/pmlvenv/bin/python tools/make_pml_fixtures.py [--out tests/fixtures/pml] [--only TEXT]

The output is deterministic: each case has a fixed seed (the CRC-32 of its file stem) and the
archives have fixed zip timestamps (``tools/fixture_files.py``); stale ``*__*.npz`` files that no
case writes any more are removed.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_metric_learning
import torch
from fixture_files import write_fixtures  # (tools/, beside this script)
from pytorch_metric_learning.losses import SupConLoss

Rng = np.random.Generator
Builder = Callable[[Rng], tuple[np.ndarray, np.ndarray]]

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pml"


@dataclass(frozen=True)
class Case:
    """One fixture: a SupConLoss temperature and an input builder."""

    name: str
    build: Builder
    temperature: float = 0.1
    note: str = ""

    @property
    def stem(self) -> str:
        return f"supcon__{self.name}"

    @property
    def rng_seed(self) -> int:
        return zlib.crc32(self.stem.encode())


# --------------------------------------------------------------------------- input builders


def views(samples: int, n_views: int, dim: int, classes: int | None = None, spread: float = 0.5) -> Builder:
    """``samples`` samples, each seen ``n_views`` times (noisy copies of the sample), stacked
    view-major as the authors' ``torch.cat(torch.unbind(features, 1))``; the label of a row is its
    sample's (``classes=None``) or its sample's class (several samples per class)."""

    def build(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
        centres = rng.normal(size=(samples, dim))
        x = np.concatenate([centres + spread * rng.normal(size=(samples, dim)) for _ in range(n_views)])
        ids = np.arange(samples) if classes is None else rng.integers(0, classes, size=samples)
        return x, np.tile(ids, n_views)

    return build


def labelled(labels: list[int], dim: int = 5, scales: tuple[float, float] | None = None) -> Builder:
    """Rows near a centre per class, in the order of ``labels``; with ``scales`` each row's norm
    multiplied by ``10**u``, ``u`` uniform in the range (normalised inside: the loss is unchanged)."""
    y = np.array(labels)

    def build(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
        centres = rng.normal(size=(y.max() + 1, dim))
        x = centres[y] + 0.6 * rng.normal(size=(len(y), dim))
        if scales is not None:
            x = x * 10.0 ** rng.uniform(*scales, size=(len(y), 1))
        return x, y

    return build


def duplicates(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """Exact copies: rows 0 and 1 (one class), rows 2 and 3 (two classes: a negative pair at cosine
    1), row 4 a copy of row 0 in another class, row 5 twice row 6's direction (its own class)."""
    base = rng.normal(size=(4, 4))
    x = np.stack([base[0], base[0], base[1], base[1], base[0], 2 * base[2], base[2], base[3]])
    return x, np.array([0, 0, 1, 2, 1, 3, 3, 2])


def zero_row(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """A zero row (its cosine with every row is 0, pml's normalize gives 0) with a positive, and
    one without."""
    x = rng.normal(size=(7, 3))
    x[2] = 0.0
    x[5] = 0.0
    return x, np.array([0, 1, 0, 1, 2, 3, 2])


CASES = [
    Case("two_views", views(6, 2, 8), note="6 samples x 2 views (SimCLR-like batch with labels), T = 0.1 (pml's)."),
    Case("four_views_t0_07", views(4, 4, 6), 0.07, note="4 samples x 4 views, the authors' T = 0.07."),
    Case(
        "classes_of_samples", views(8, 2, 5, classes=3), 0.2, note="8 samples of 3 classes x 2 views: many positives."
    ),
    Case(
        "singletons",
        labelled([0, 0, 1, 2, 2, 2, 3, 4, 4, 5]),
        note="classes 1, 3 and 5 have one row each: no positive, loss 0; still in the others' denominators.",
    ),
    Case("duplicates", duplicates, 0.1, note="exact duplicate rows, as positives and as negatives (cosine 1)."),
    Case("zero_rows", zero_row, 0.5, note="zero rows: cosine 0 with every row; one has a positive, one not."),
    Case("temperature_0_5", labelled([0, 1, 2, 0, 1, 2, 0, 1]), 0.5),
    Case("temperature_1", labelled([0, 1, 1, 0, 2, 2, 2]), 1.0),
    Case(
        "temperature_0_01",
        labelled([0, 1, 2, 0, 1, 2, 0, 1, 2]),
        0.01,
        note="a small temperature: logits up to 100 (the shift by the row max keeps exp finite).",
    ),
    Case(
        "norms_1e-3_to_1e3",
        labelled([0, 1, 0, 1, 2, 2, 0, 1], scales=(-3.0, 3.0)),
        note="rows of norms from 1e-3 to 1e3 (the loss normalises them).",
    ),
    Case(
        "one_class",
        labelled([4, 4, 4, 4, 4]),
        note="no negative pair: pml returns zero_losses() (0 for every anchor); the authors' code gives the formula.",
    ),
    Case(
        "no_positive", labelled([0, 1, 2, 3, 4]), note="every class a singleton: no positive pair, pml's zero_losses()."
    ),
    Case("unsorted_labels_large", labelled([7, 3, 3, 9, 7, 7, 3, 9, 1, 9, 7, 3, 1, 9, 3, 7], dim=16), 0.3),
]


# --------------------------------------------------------------------------- runner


def run_case(case: Case) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(case.rng_seed)
    x, y = case.build(rng)
    x, y = x.astype(np.float64), y.astype(np.int64)
    loss_fn = SupConLoss(temperature=case.temperature)
    labels = torch.from_numpy(y)

    e = torch.tensor(x, requires_grad=True)
    per_anchor = loss_fn.compute_loss(e, labels, None, e, labels)["loss"]
    zero_losses = per_anchor["reduction_type"] == "already_reduced"
    if zero_losses:  # pml's zero_losses(): a 0 for the whole batch
        if float(per_anchor["losses"]) != 0:
            raise AssertionError(f"{case.stem}: an already reduced loss that is not 0")
        losses, grad_losses = np.zeros(len(y)), np.zeros_like(x)
    else:
        if per_anchor["reduction_type"] != "element" or tuple(per_anchor["losses"].shape) != (len(y),):
            raise AssertionError(f"{case.stem}: unexpected pml losses {per_anchor}")
        (g,) = torch.autograd.grad(per_anchor["losses"].sum(), e)
        losses, grad_losses = per_anchor["losses"].detach().numpy(), g.numpy()

    e = torch.tensor(x, requires_grad=True)
    scalar = loss_fn(e, labels)
    (g,) = torch.autograd.grad(scalar, e, allow_unused=True)
    loss = scalar.detach().numpy()
    grad_loss = np.zeros_like(x) if g is None else g.numpy()

    for what, value in (("losses", losses), ("grad_losses", grad_losses), ("loss", loss), ("grad_loss", grad_loss)):
        if value.dtype != np.float64:
            raise TypeError(f"{case.stem}: pml computed {what} in {value.dtype}, expected float64")
        if not np.isfinite(value).all():
            raise FloatingPointError(f"{case.stem}: non-finite {what}")
    meta = {
        "loss": "SupConLoss",
        "kwargs": {"temperature": case.temperature},
        "dtype": "float64",
        "note": case.note,
        "zero_losses": zero_losses,
        "seed": case.rng_seed,
        "pml_version": pytorch_metric_learning.__version__,
        "torch_version": torch.__version__,
    }
    return {
        "meta": np.array(json.dumps(meta)),
        "embeddings": x,
        "labels": y,
        "losses": losses,
        "grad_losses": grad_losses,
        "loss": loss,
        "grad_loss": grad_loss,
    }


def main() -> None:
    torch.use_deterministic_algorithms(True)
    write_fixtures(
        CASES,
        description=__doc__.splitlines()[0],
        default_out=DEFAULT_OUT,
        run=lambda case: ({}, run_case(case)),
        line=lambda case, _, data: (
            f"{case.stem:40s} N={data['labels'].shape[0]:<3d} loss {float(data['loss']):.6g} "
            f"sum(losses) {float(np.sum(data['losses'])):.6g}"
        ),
        done=f" (pml {pytorch_metric_learning.__version__}, torch {torch.__version__})",
    )


if __name__ == "__main__":
    main()
