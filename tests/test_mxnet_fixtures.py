"""Every loss against golden outputs and gradients recorded from the real MXNet 1.9.1.

The fixtures come from ``tools/make_mxnet_fixtures.py`` (see tests/fixtures/mxnet/README.md).
Outputs are compared on every backend; gradients of ``sum(out)`` on the autograd backends.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import losskit
from backends import AUTOGRAD_BACKENDS, BACKENDS, to_backend, to_numpy

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "mxnet").glob("*.npz"))
# losskit follows MXNet 2.x where 1.9.1 is inconsistent; these map 1.9.1's result onto ours
MEAN_ALL = "mean_all"
# MXNet 1.9.1 records no gradient for PoissonNLLLoss(compute_full=True) (it updates arrays in
# place); those gradients are checked by gradcheck and across backends in test_gradients.py
GRAD_FIXTURES = [
    p for p in FIXTURES if any(k.startswith("grad_") for k in np.load(p).files)
]  # PoissonNLLLoss: 1.9.1 returned the mean over everything


def load(path: Path) -> tuple[dict, dict]:
    data = np.load(path, allow_pickle=False)
    return json.loads(str(data["meta"])), {k: data[k] for k in data.files if k != "meta"}


def tolerance(meta: dict, want: np.ndarray) -> dict:
    """float64 fixtures: MXNet and losskit differ only in rounding order (and KLDiv's 1e-12 eps).

    float32 fixtures (CTC, cosine, SDML, where MXNet refuses float64) carry MXNet's float32
    rounding of its *intermediates*: SDML's squared distances reach ~50, so eps32 * 50 * |x|
    is ~1e-5 in its gradient, whatever the gradient's own size. A wrong formula or sign is
    off by 1e-1 or more.
    """
    if meta["dtype"] == "float64":
        return {"rtol": 1e-9, "atol": 1e-10}
    return {"rtol": 1e-4, "atol": 1e-5 * max(1.0, float(np.abs(want).max()))}


def call_args(meta: dict, arrays: dict, backend: str) -> list:
    args = []
    for name in meta["args"]:
        if name in meta["none"]:
            args.append(None)
        elif name in meta["scalars"]:
            args.append(meta["scalars"][name])
        else:
            dtype = None if name in meta["int_args"] else meta["dtype"]
            args.append(to_backend(arrays["in_" + name], backend, dtype))
    return args


def expected(meta: dict, arrays: dict) -> tuple[np.ndarray, float]:
    """MXNet's output in losskit's convention, and the factor that maps MXNet's gradients."""
    out = arrays["out"]
    scale = 1.0
    if meta["loss"] == "CosineEmbeddingLoss":
        out = out.reshape(-1)  # 1.9.1 returned (N, 1); losskit (N,) as MXNet 2.x
    if meta["loss"] == "SDMLLoss" and "weight" in meta["init"]:
        # MXNet 1.9.1 stores SDMLLoss's weight but never applies it; losskit applies it
        scale = meta["init"]["weight"]
        out = out * scale
    return out, scale


def reduce_like_mxnet(meta: dict, out):
    return out.mean() if meta["mxnet_reduction"] == MEAN_ALL else out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_output_matches_mxnet(path: Path, backend: str) -> None:
    meta, arrays = load(path)
    loss = getattr(losskit, meta["loss"])(**meta["init"])
    args = call_args(meta, arrays, backend)
    out = loss(*args)
    want, _ = expected(meta, arrays)
    got = to_numpy(out)
    if meta["mxnet_reduction"] == MEAN_ALL:
        assert got.shape == (arrays["in_" + meta["args"][0]].shape[0],)
        got = got.mean(keepdims=True)
    np.testing.assert_allclose(got, want, **tolerance(meta, want))


def _torch_grads(meta: dict, args: list, loss) -> list:
    import torch

    leaves = [a for a in args if isinstance(a, torch.Tensor) and a.dtype.is_floating_point]
    for a in leaves:
        a.requires_grad_(True)
    total = reduce_like_mxnet(meta, loss(*args)).sum()
    grads = torch.autograd.grad(total, leaves, allow_unused=True)
    by_id = {id(a): g for a, g in zip(leaves, grads)}
    return [by_id.get(id(a)) if isinstance(a, torch.Tensor) else None for a in args]


def _jax_grads(meta: dict, args: list, loss) -> list:
    import jax
    import jax.numpy as jnp

    positions = [i for i, a in enumerate(args) if isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jnp.floating)]

    def total(*floats):
        full = list(args)
        for i, value in zip(positions, floats):
            full[i] = value
        return reduce_like_mxnet(meta, loss(*full)).sum()

    grads = jax.grad(total, argnums=tuple(range(len(positions))))(*[args[i] for i in positions])
    result: list = [None] * len(args)
    for i, g in zip(positions, grads):
        result[i] = g
    return result


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
@pytest.mark.parametrize("path", GRAD_FIXTURES, ids=[p.stem for p in GRAD_FIXTURES])
def test_gradients_match_mxnet(path: Path, backend: str) -> None:
    meta, arrays = load(path)
    loss = getattr(losskit, meta["loss"])(**meta["init"])
    args = call_args(meta, arrays, backend)
    grads = (_torch_grads if backend == "torch" else _jax_grads)(meta, args, loss)
    _, scale = expected(meta, arrays)
    for i, name in enumerate(meta["args"]):
        if "grad_" + name not in arrays:
            continue
        want = arrays["grad_" + name] * scale
        if grads[i] is None:  # not connected to the output in losskit (e.g. a label only compared)
            np.testing.assert_array_equal(want, 0, err_msg=f"MXNet has a gradient for {name}, losskit none")
            continue
        np.testing.assert_allclose(to_numpy(grads[i]), want, err_msg=f"gradient w.r.t. {name}", **tolerance(meta, want))


def test_every_gluon_loss_has_fixtures() -> None:
    covered = {load(p)[0]["loss"] for p in FIXTURES}
    gluon = {
        "L2Loss", "L1Loss", "SigmoidBinaryCrossEntropyLoss", "SoftmaxCrossEntropyLoss", "KLDivLoss", "CTCLoss",
        "HuberLoss", "HingeLoss", "SquaredHingeLoss", "LogisticLoss", "TripletLoss", "PoissonNLLLoss",
        "CosineEmbeddingLoss", "SDMLLoss",
    }  # fmt: skip
    assert gluon <= covered, gluon - covered
