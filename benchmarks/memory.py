"""Benchmark: peak memory of forward + backward, losskit against a reference formula, on PyTorch (CPU).

For each loss, the peak of the tensor memory allocated while ``loss(x, ...).sum().backward()``
runs (torch's profiler, :func:`losskit.bench.torch_peak_bytes`), in units of the logits' (the
differentiated input's) size, for losskit and for the formula users would otherwise write or
the framework's own op. The references are checked against losskit's values first. Memory is
deterministic: one run each. The ratio is losskit's peak over the reference's.

    python benchmarks/memory.py [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import losskit  # noqa: E402
from losskit.bench import torch_peak_bytes  # noqa: E402


def berman_lovasz_softmax(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Berman et al.'s reference (one example, then one present class, at a time), per example."""
    probs = x.softmax(1)
    n, c = x.shape[:2]
    per_example = []
    for i in range(n):
        p, label = probs[i].reshape(c, -1), y[i].reshape(-1)
        per_class = []
        for k in range(c):
            fg = (label == k).to(p.dtype)
            if fg.sum() == 0:
                continue
            errors, order = torch.sort((fg - p[k]).abs(), descending=True)
            gt = fg[order]
            inter = gt.sum() - gt.cumsum(0)
            union = gt.sum() + (1 - gt).cumsum(0)
            jaccard = 1 - inter / union
            jaccard[1:] = jaccard[1:] - jaccard[:-1]
            per_class.append(torch.dot(errors, jaccard))
        per_example.append(torch.stack(per_class).mean())
    return torch.stack(per_example)


def torchvision_sigmoid_focal(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``torchvision.ops.sigmoid_focal_loss`` (alpha 0.25, gamma 2), per example (mean over the row)."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, z, reduction="none")
    p_t = p * z + (1 - p) * (1 - z)
    return ((0.25 * z + 0.75 * (1 - z)) * ce * (1 - p_t) ** 2).mean(1)


def jsd_naive(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``(KL(P || M) + KL(Q || M)) / 2``, ``M`` the mean of the label ``P`` and ``Q = softmax(x)``."""
    log_q = x.log_softmax(1)
    log_m = torch.log((p + log_q.exp()) / 2)
    kl_p = F.kl_div(log_m, p, reduction="none")
    kl_q = F.kl_div(log_m, log_q, log_target=True, reduction="none")
    return 0.5 * (kl_p + kl_q).sum(1)


def keras_categorical_hinge(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    pos = (z * x).sum(1)
    neg = ((1 - z) * x).amax(1)
    return torch.relu(neg - pos + 1)


def rows() -> list[tuple[str, tuple[int, ...], Callable[..., Any], str, Callable[..., Any], Callable[[], tuple]]]:
    g = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    def one_hot(n: int, c: int) -> torch.Tensor:
        return F.one_hot(torch.randint(0, c, (n,), generator=g), c).float()

    return [
        ("LovaszSoftmaxLoss", (2, 21, 64, 64), losskit.LovaszSoftmaxLoss(), "Berman's per-class loop",
         berman_lovasz_softmax, lambda: (randn(2, 21, 64, 64), torch.randint(0, 21, (2, 64, 64), generator=g))),
        ("SigmoidFocalLoss", (256, 1000), losskit.SigmoidFocalLoss(), "torchvision's formula",
         torchvision_sigmoid_focal, lambda: (randn(256, 1000), (torch.rand(256, 1000, generator=g) < 0.1).float())),
        ("SoftmaxCELoss dense", (256, 1000), losskit.SoftmaxCELoss(sparse_label=False), "F.cross_entropy",
         lambda x, p: F.cross_entropy(x, p, reduction="none"), lambda: (randn(256, 1000), randn(256, 1000).softmax(1))),
        ("SoftmaxCELoss sparse", (256, 1000), losskit.SoftmaxCELoss(), "F.cross_entropy",
         lambda x, y: F.cross_entropy(x, y, reduction="none"),
         lambda: (randn(256, 1000), torch.randint(0, 1000, (256,), generator=g))),
        ("LogCoshLoss", (256, 1000), losskit.LogCoshLoss(), "log(cosh(x - y))",
         lambda x, y: torch.log(torch.cosh(x - y)).mean(1), lambda: (randn(256, 1000), randn(256, 1000))),
        ("JSDLoss", (256, 1000), losskit.JSDLoss(from_logits=False), "(KL(P, M) + KL(Q, M)) / 2",
         lambda x, p: jsd_naive(x, p), lambda: (randn(256, 1000), randn(256, 1000).softmax(1))),
        ("CategoricalHingeLoss", (256, 1000), losskit.CategoricalHingeLoss(), "Keras's formula",
         keras_categorical_hinge, lambda: (randn(256, 1000), one_hot(256, 1000))),
    ]  # fmt: skip


def measure() -> list[dict[str, Any]]:
    results = []
    for name, shape, loss, ref_name, ref, make in rows():
        x, *rest = make()
        want, got = ref(x, *rest), loss(x, *rest)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=f"{name}: losskit and {ref_name} disagree")
        unit = x.numel() * x.element_size()
        peaks = {}
        for who, fn in (("losskit", loss), ("ref", ref)):
            leaf = x.clone().requires_grad_(True)
            peaks[who] = torch_peak_bytes(lambda fn=fn, leaf=leaf, rest=rest: fn(leaf, *rest).sum().backward()) / unit
        results.append(
            {"loss": name, "shape": shape, "reference": ref_name, **peaks, "ratio": peaks["losskit"] / peaks["ref"]}
        )
    return results


def table(results: list[dict[str, Any]], markdown: bool) -> str:
    head = ["loss", "shape", "reference", "losskit peak", "reference peak", "ratio"]
    body = [
        [
            r["loss"],
            "x".join(map(str, r["shape"])),
            r["reference"],
            f"{r['losskit']:.2f}",
            f"{r['ref']:.2f}",
            f"{r['ratio']:.2f}",
        ]
        for r in results
    ]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in [head, *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ns = parser.parse_args(argv)
    print(f"torch {torch.__version__}; peaks in units of the logits' size (float32)")
    print(table(measure(), ns.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
