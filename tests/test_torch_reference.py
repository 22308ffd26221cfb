"""Every Gluon loss against an independent implementation: ``torch.nn.functional`` where it has
the loss, a NumPy closed form where it does not.

Each test runs twice: with the fast paths (on torch tensors losskit hands several of these losses
to the very ``torch.nn.functional`` op it is compared with) and without them, where losskit's own
array-API formula meets torch's op."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from losskit import _fast

torch = pytest.importorskip("torch")
tf = torch.nn.functional
rng = np.random.default_rng(7)
X = torch.tensor(rng.normal(size=(6, 5)) * 3)
Y = torch.tensor(rng.normal(size=(6, 5)))
P01 = torch.tensor(rng.uniform(size=(6, 5)))
SIGN = torch.tensor(rng.choice([-1.0, 1.0], size=(6, 5)))


@pytest.fixture(autouse=True, params=["fast", "generic"])
def path(request):
    if request.param == "generic":
        with _fast.disabled():
            yield
    else:
        yield


def close(a, b, **kw):
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, **kw)


def test_l2_l1_huber():
    close(losskit.L2Loss()(X, Y), tf.mse_loss(X, Y, reduction="none").mean(1) / 2)
    close(losskit.L1Loss()(X, Y), tf.l1_loss(X, Y, reduction="none").mean(1))
    for rho in (0.5, 1.0, 2.0):
        close(losskit.HuberLoss(rho=rho)(X, Y), tf.smooth_l1_loss(X, Y, reduction="none", beta=rho).mean(1))


def test_sigmoid_bce():
    close(losskit.SigmoidBCELoss()(X, P01), tf.binary_cross_entropy_with_logits(X, P01, reduction="none").mean(1))
    pw = torch.tensor(rng.uniform(0.5, 3, size=(1, 5)))
    close(
        losskit.SigmoidBCELoss()(X, P01, None, pw),
        tf.binary_cross_entropy_with_logits(X, P01, pos_weight=pw, reduction="none").mean(1),
    )
    probs = torch.sigmoid(X / 3)
    torch.testing.assert_close(  # MXNet's 1e-12 inside the logs: agreement to ~1e-11
        losskit.SigmoidBCELoss(from_sigmoid=True)(probs, P01),
        tf.binary_cross_entropy(probs, P01, reduction="none").mean(1),
        rtol=1e-9,
        atol=1e-10,
    )


def test_softmax_cross_entropy():
    labels = torch.tensor(rng.integers(0, 5, size=6))
    close(losskit.SoftmaxCELoss()(X, labels), tf.cross_entropy(X, labels, reduction="none"))
    soft = torch.softmax(Y, dim=1)
    close(losskit.SoftmaxCELoss(sparse_label=False)(X, soft), tf.cross_entropy(X, soft, reduction="none"))
    logp = torch.log_softmax(X, dim=1)
    close(losskit.SoftmaxCELoss(from_logits=True)(logp, labels), tf.nll_loss(logp, labels, reduction="none"))
    x3 = X.reshape(6, 5, 1).expand(6, 5, 2)
    l3 = torch.stack([labels, labels.flip(0)], dim=1)
    close(losskit.SoftmaxCELoss(axis=1)(x3, l3), tf.cross_entropy(x3, l3, reduction="none").mean(1))


def test_kl_div():
    target = torch.softmax(Y, dim=1)
    logp = torch.log_softmax(X, dim=1)
    close(losskit.KLDivLoss()(logp, target), tf.kl_div(logp, target, reduction="none").sum(1))
    close(losskit.KLDivLoss(from_logits=False)(X, target), tf.kl_div(logp, target, reduction="none").sum(1))


def test_margin_losses_closed_form():
    x, y = X.numpy(), SIGN.numpy()
    np.testing.assert_allclose(losskit.HingeLoss(margin=2)(x, y), np.maximum(0, 2 - x * y).mean(1))
    np.testing.assert_allclose(losskit.SquaredHingeLoss()(x, y), (np.maximum(0, 1 - x * y) ** 2).mean(1))
    close(losskit.LogisticLoss()(X, SIGN), tf.softplus(-X * SIGN).mean(1))
    close(losskit.LogisticLoss(label_format="binary")(X, (SIGN + 1) / 2), tf.softplus(-X * SIGN).mean(1))


def test_poisson_nll():
    counts = torch.tensor(rng.integers(0, 7, size=(6, 5)), dtype=torch.float64)
    for full in (False, True):
        close(
            losskit.PoissonNLLLoss(compute_full=full)(X / 3, counts),
            tf.poisson_nll_loss(X / 3, counts, log_input=True, full=full, reduction="none").mean(1),
        )
    rate = X.abs() + 0.1
    close(
        losskit.PoissonNLLLoss(from_logits=False)(rate, counts, None, 1e-8),
        tf.poisson_nll_loss(rate, counts, log_input=False, eps=1e-8, reduction="none").mean(1),
    )


def test_cosine_embedding():
    label = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    for margin in (0.0, 0.3):
        close(
            losskit.CosineEmbeddingLoss(margin=margin)(X, Y, label),
            tf.cosine_embedding_loss(X, Y, label, margin=margin, reduction="none"),
        )


def test_triplet_closed_form():
    a, p, n = (rng.normal(size=(6, 2, 3)) for _ in range(3))
    want = np.maximum(0, ((p - a) ** 2).sum((1, 2)) - ((n - a) ** 2).sum((1, 2)) + 0.5)
    np.testing.assert_allclose(losskit.TripletLoss(margin=0.5)(a, p, n), want)
    assert (want > 0).any() and (want == 0).any()  # both branches exercised


def test_sdml_closed_form():
    x1, x2 = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    d = ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(-1)
    logp = -d - np.log(np.exp(-d).sum(1, keepdims=True))
    s = 0.2
    q = np.where(np.eye(5) == 1, 1 - s, s / 4)
    np.testing.assert_allclose(losskit.SDMLLoss(smoothing_parameter=s)(x1, x2), (q * (np.log(q) - logp)).sum(1))
