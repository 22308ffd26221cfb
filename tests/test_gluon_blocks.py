"""Gluon code that ports by changing an import: custom losses written with ``hybrid_forward``,
and the ``Block`` methods that training scripts call on a loss object."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from backends import AUTOGRAD_BACKENDS, BACKENDS, to_backend, to_numpy


class ScaledCE(losskit.SoftmaxCrossEntropyLoss):
    """A built-in loss extended Gluon's way: its hybrid_forward calls the parent's."""

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        return 10 * super().hybrid_forward(F, pred, label, sample_weight)


class HalfSquare(losskit.losses.base.Loss):
    """A loss from scratch, as Gluon's L2Loss is written (F.mean over every axis but the batch's)."""

    def __init__(self, weight=1.0, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        loss = F.square(label - pred) * (self._weight / 2)
        if sample_weight is not None:
            loss = loss * sample_weight
        return F.mean(loss, axis=tuple(range(1, loss.ndim)))


X = np.array([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]])
Y = np.array([2, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_built_in_loss_extended_with_hybrid_forward(backend):
    """The override is called (it was ignored: the scale of 10 silently lost)."""
    x, y = to_backend(X, backend, "float64"), to_backend(Y, backend)
    want = 10 * losskit.SoftmaxCrossEntropyLoss()(X, Y)
    np.testing.assert_allclose(to_numpy(ScaledCE()(x, y)), want, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(ScaledCE()(x, y, to_backend(np.ones((2, 1)) * 2, backend))), 2 * want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_loss_written_from_scratch_with_hybrid_forward(backend):
    """F is the inputs' array namespace; the result equals losskit's own L2Loss."""
    x, z = to_backend(X, backend, "float64"), to_backend(X[::-1].copy(), backend, "float64")
    np.testing.assert_allclose(to_numpy(HalfSquare()(x, z)), losskit.L2Loss()(X, X[::-1].copy()), rtol=1e-12)


@pytest.mark.parametrize("backend", AUTOGRAD_BACKENDS)
def test_hybrid_forward_losses_differentiate(backend):
    if backend == "torch":
        import torch

        x = torch.tensor(X, requires_grad=True)
        (got,) = torch.autograd.grad(ScaledCE()(x, torch.tensor(Y)).sum(), x)
        xr = torch.tensor(X, requires_grad=True)
        (want,) = torch.autograd.grad(10 * torch.nn.functional.cross_entropy(xr, torch.tensor(Y), reduction="sum"), xr)
    else:
        import jax
        import jax.numpy as jnp

        got = jax.grad(lambda x: ScaledCE()(x, jnp.asarray(Y)).sum())(jnp.asarray(X))
        want = jax.grad(lambda x: 10 * losskit.SoftmaxCrossEntropyLoss()(x, jnp.asarray(Y)).sum())(jnp.asarray(X))
    np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-12)


def test_a_loss_that_computes_nothing_says_how_to_write_one():
    class Empty(losskit.losses.base.Loss):
        def __init__(self):
            super().__init__(None, 0)

    with pytest.raises(NotImplementedError, match=r"Empty computes nothing: .*forward.*hybrid_forward"):
        Empty()(X, X)


def test_block_methods_gluon_scripts_call_on_a_loss():
    loss = losskit.SoftmaxCELoss(prefix="ce_")
    loss.initialize()
    loss.initialize(force_reinit=True)
    loss.hybridize(static_alloc=True, static_shape=True)
    loss.cast("float16")  # a loss has no parameters: its inputs' dtype decides
    params = loss.collect_params()
    assert params == {}
    params.initialize(force_reinit=True)  # Gluon's ParameterDict methods, on no parameters
    params.reset_ctx("cpu")
    params.setattr("grad_req", "null")
    params.zero_grad()
    np.testing.assert_allclose(loss(X, Y), losskit.SoftmaxCELoss()(X, Y))


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_margins_as_gluon(backend):
    """Gluon takes any margin (a negative one penalises only the badly wrong); so does losskit,
    with Gluon's formulas written out here."""
    rng = np.random.default_rng(0)
    pred, sign = rng.normal(size=(4, 3)), rng.choice([-1.0, 1.0], size=(4, 3))
    a, p, n = rng.normal(size=(3, 4, 5))
    t = lambda x: to_backend(x, backend, "float64")  # noqa: E731
    hinge = np.maximum(0, -0.5 - pred * sign)
    np.testing.assert_allclose(to_numpy(losskit.HingeLoss(margin=-0.5)(t(pred), t(sign))), hinge.mean(1), rtol=1e-12)
    sq = losskit.SquaredHingeLoss(margin=-0.5)(t(pred), t(sign))
    np.testing.assert_allclose(to_numpy(sq), (hinge**2).mean(1), rtol=1e-12)
    triplet = np.maximum(0, ((p - a) ** 2).sum(1) - ((n - a) ** 2).sum(1) - 2.0)
    np.testing.assert_allclose(to_numpy(losskit.TripletLoss(margin=-2.0)(t(a), t(p), t(n))), triplet, rtol=1e-12)


def test_forward_and_call_agree_for_gluon_style_losses():
    """Gluon's HybridBlock.forward calls hybrid_forward: so does loss.forward(...) here."""
    np.testing.assert_allclose(ScaledCE().forward(X, Y), ScaledCE()(X, Y))
    np.testing.assert_allclose(HalfSquare().forward(X, X[::-1].copy()), HalfSquare()(X, X[::-1].copy()))


def test_the_lowest_override_wins_and_nothing_recurses():
    """A subclass's own forward overrides a parent's hybrid_forward (as in Gluon); a forward that
    calls hybrid_forward, which calls super().hybrid_forward, reaches the parent loss's own
    computation, not the forward again (it recursed); the built-in's hybrid_forward is its forward."""

    class Child(HalfSquare):
        def forward(self, pred, label, sample_weight=None):
            return 100 * super().forward(pred, label, sample_weight)

    class Both(losskit.L1Loss):
        def forward(self, pred, label, sample_weight=None):
            return self.hybrid_forward(np, pred, label, sample_weight)

        def hybrid_forward(self, F, pred, label, sample_weight=None):
            return 10 * super().hybrid_forward(F, pred, label, sample_weight)

    class OnlyHybrid(losskit.losses.base.Loss):
        def __init__(self):
            super().__init__(None, 0)

        def hybrid_forward(self, F, pred, label):
            return super().hybrid_forward(F, pred, label)

    z = X[::-1].copy()
    np.testing.assert_allclose(Child()(X, z), 100 * HalfSquare()(X, z))
    np.testing.assert_allclose(Both()(X, z), 10 * losskit.L1Loss()(X, z))
    np.testing.assert_allclose(losskit.L1Loss().hybrid_forward(np, X, z), losskit.L1Loss()(X, z))
    with pytest.raises(NotImplementedError, match="OnlyHybrid computes nothing"):
        OnlyHybrid()(X, z)


def test_hybrid_forward_takes_arguments_that_are_not_arrays():
    """F is the namespace of the array arguments: a string or a flag passes through."""

    class Tagged(HalfSquare):
        def hybrid_forward(self, F, pred, label, mode="mean"):
            loss = super().hybrid_forward(F, pred, label)
            return loss if mode == "mean" else 2 * loss

    np.testing.assert_allclose(Tagged()(X, X * 0, "double"), 2 * HalfSquare()(X, X * 0))


class Doubling:
    """A mixin, as Gluon code composes losses."""

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        return 2 * super().hybrid_forward(F, pred, label, sample_weight)


def test_gluon_rules_for_mixins_inherited_forwards_and_forwards_calling_hybrid_forward():
    """The cases Gluon 1.9.1 was run on (values from it): a mixin's hybrid_forward is used; a user
    forward inherited by a subclass that adds hybrid_forward still calls through it; a forward
    that calls hybrid_forward on a built-in reaches the built-in's computation (it recursed)."""

    class M(Doubling, losskit.L1Loss):
        pass

    class Both(losskit.L1Loss):
        def forward(self, pred, label, sample_weight=None):
            return 5 * self.hybrid_forward(np, pred, label, sample_weight)

        def hybrid_forward(self, F, pred, label, sample_weight=None):
            return 10 * super().hybrid_forward(F, pred, label, sample_weight)

    class GB(Both):
        def hybrid_forward(self, F, pred, label, sample_weight=None):
            return 2 * super().hybrid_forward(F, pred, label, sample_weight)

    class Pre(losskit.L1Loss):
        def forward(self, pred, label, sample_weight=None):
            return self.hybrid_forward(np, 2 * pred, label, sample_weight)

    x, z = np.array([[1.0, 3.0], [2.0, -1.0]]), np.zeros((2, 2))  # L1: [2, 1.5]
    np.testing.assert_allclose(M()(x, z), [4.0, 3.0])
    np.testing.assert_allclose(M().forward(x, z), [4.0, 3.0])
    np.testing.assert_allclose(GB()(x, z), [200.0, 150.0])
    np.testing.assert_allclose(Pre()(x, z), [4.0, 3.0])


def test_a_gluon_style_loss_compiles_whole():
    torch = pytest.importorskip("torch")
    x, y = torch.tensor(X), torch.tensor(Y)
    compiled = torch.compile(lambda a, b: ScaledCE()(a, b), fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x, y), ScaledCE()(x, y))


class WeightedAbs(losskit.losses.base.Loss):
    """A custom loss as GluonCV writes them, with Gluon's private helpers from the loss module."""

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = losskit._reshape_like(F, label, pred)
        loss = F.abs(label - pred)
        loss = losskit._apply_weighting(F, loss, self._weight, sample_weight)
        return F.mean(loss, axis=tuple(range(1, loss.ndim)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_gluons_private_helpers_for_custom_losses(backend):
    """_reshape_like takes the label to pred's shape, _apply_weighting multiplies by the sample
    weight and then the weight, as Gluon's: checked against the formula written out."""
    label = np.array([1.0, -2.0, 0.5, 4.0, 0.0, 1.0])  # (6,) for a (2, 3) prediction
    sw = np.array([[2.0], [0.5]])
    want = 3.0 * (np.abs(label.reshape(2, 3) - X) * sw).mean(axis=1)
    got = WeightedAbs(weight=3.0)(
        to_backend(X, backend, "float64"), to_backend(label, backend, "float64"), to_backend(sw, backend, "float64")
    )
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(WeightedAbs()(X, label)), np.abs(label.reshape(2, 3) - X).mean(axis=1))


def test_gluons_private_helpers_refuse_what_the_losses_refuse():
    loss = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"sample_weight shape \(2,\).*\(2, 1\)"):
        losskit._apply_weighting(np, loss, None, np.ones(2))  # a (N,) weight against (N, C): not broadcast
    with pytest.raises(TypeError, match="weight"):
        losskit._apply_weighting(np, loss, "2", None)
    with pytest.raises(ValueError, match=r"x shape \(5,\) does not match y shape \(2, 3\)"):
        losskit._reshape_like(np, np.ones(5), loss)
    np.testing.assert_array_equal(losskit._apply_weighting(None, loss, 2.0), 2 * loss)  # F None: the array's own
    # one weight as Gluon code writes it, nd.array([w]) of shape (1,): every element, the shape kept
    np.testing.assert_array_equal(losskit._apply_weighting(np, loss, 2.0, np.array([0.5])), loss)
    with pytest.raises(ValueError, match=r"sample_weight shape \(1, 1, 1\) does not broadcast"):
        losskit._apply_weighting(np, loss, None, np.ones((1, 1, 1)))  # more axes than the loss: a new shape
    torch = pytest.importorskip("torch")
    # F the raw torch module (not an array-API namespace): the arrays' own namespace is used
    got = losskit._apply_weighting(torch, torch.ones(2, 3), 2.0, torch.full((2, 1), 3.0))
    np.testing.assert_array_equal(got.numpy(), np.full((2, 3), 6.0))


def test_every_loss_docstring_has_its_formula_shapes_stability_doctest_and_call():
    """What the brief asks of a public loss's docstring; the call line is the one help() cannot show
    (it sees __call__(*args, **kwargs)), and says the order of CTC's or Triplet's arguments."""
    import inspect

    for name in losskit.list_losses():
        cls = type(losskit.get_loss(name))
        doc = inspect.getdoc(cls)
        for part in (".. math::", "Shape:", "Stability", ">>> "):
            if part == ".. math::" and ":math:" in doc:
                continue
            assert part in doc, (name, part)
        first = [p.name for p in inspect.signature(cls._compute).parameters.values()][1:3]
        call = next(line for line in doc.splitlines() if line.startswith("Call:"))
        assert call.startswith(f"Call: ``loss({first[0]}, {first[1]}"), (name, call)


@pytest.mark.parametrize("indent", ["", "    "])
def test_the_call_line_is_indented_as_the_docstring(indent):
    """Python 3.13 strips a docstring's indentation at compile time: the appended call line must
    follow the docstring's own (a hard-coded 4 spaces made it a block quote in help())."""
    import inspect

    doc = f"A loss.\n\n{indent}Shape:\n{indent}    - output: ``(N,)``.\n"
    cls = type("Fake", (losskit.L1Loss,), {"__doc__": doc, "__module__": "losskit.fake"})
    assert inspect.getdoc(cls).splitlines()[-1] == "Call: ``loss(pred, label, sample_weight=None)``."
    outside = type("Mine", (losskit.L1Loss,), {"__doc__": doc, "__module__": "my_losses"})
    assert outside.__doc__ == doc  # a user's class is left as written
