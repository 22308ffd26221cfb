"""``losskit tour``: the Gluon loss tutorial, cell by cell, on real NumPy, PyTorch or JAX arrays.

Each cell prints the code it runs, REPL style, and its result with four decimals, so a newcomer
can follow along (and the tests can read the numbers back). :func:`run_tour` also returns the
numbers and the figures, for the tests and for notebooks.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import array_api_compat
import numpy as np

import losskit

from . import plot

BACKENDS = ("numpy", "torch", "jax")
DEFAULT_OUT = "losskit-tour"
# the tutorial's two figures: (file stem, title, losses, top of the y axis or None)
FIGURES = (
    ("regression-losses", "Regression losses, label fixed at 0", ("L1Loss", "L2Loss", "HuberLoss"), None),
    (
        "classification-losses",
        "Classification losses, label fixed at 1",
        ("LogisticLoss", "HingeLoss", "SquaredHingeLoss", "SigmoidBinaryCrossEntropyLoss"),
        7.0,  # SquaredHingeLoss reaches 36 and would flatten the others
    ),
)
_MODULE_ALIAS = {"numpy": "np", "torch": "torch", "jax": "jnp"}
_RULE = "-" * 78


@dataclass
class TourResult:
    """What the tour computed: its numbers (as NumPy arrays), its figures, and the files written."""

    backend: str
    values: dict[str, np.ndarray] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def installed_backends() -> list[str]:
    """The array libraries of :data:`BACKENDS` that import."""
    return [name for name in BACKENDS if plot.importable(name)]


def default_backend() -> str:
    """PyTorch where it is installed (the tour then shows autograd), else NumPy."""
    return "torch" if "torch" in installed_backends() else "numpy"


def fmt(values: Any) -> str:
    """Numbers with four decimals, trailing zeros dropped (one kept): ``[0.5, 1.0]``, ``9.0001``.

    >>> fmt([0.5, 1.0]), fmt(9.00012), fmt([[-1e-9, 2]]), fmt(float("inf"))
    ('[0.5, 1.0]', '9.0001', '[[0.0, 2.0]]', 'inf')
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim:
        return "[" + ", ".join(fmt(v) for v in a) + "]"
    v = float(a)
    if not np.isfinite(v):
        return str(v)
    s = f"{v:.4f}".rstrip("0")
    s = s + "0" if s.endswith(".") else s
    return "0.0" if s == "-0.0" else s


class _Tour:
    def __init__(self, backend: str, out: Path | None, stream: TextIO) -> None:
        self.backend = backend
        lib = importlib.import_module("jax.numpy" if backend == "jax" else backend)
        self.xp = array_api_compat.array_namespace(lib.asarray(0.0))
        self.m = _MODULE_ALIAS[backend]
        self.out = out
        self.stream = stream
        self.result = TourResult(backend)
        self.figures_skipped = "--no-plots"

    # printing ------------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        print(text, file=self.stream)

    def cell(self, code: str, value: Any = None, key: str | None = None, note: str = "") -> None:
        """Print ``>>> code`` and, if given, the value the code gives (recorded under ``key``)."""
        for i, line in enumerate(code.splitlines()):
            self.say(("   >>> " if i == 0 else "   ... ") + line)
        if value is not None:
            array = self.numpy(value)
            if key:
                self.result.values[key] = array
            self.say(f"   {fmt(array)}" + (f"    # {note}" if note else ""))

    def section(self, number: int, title: str, *text: str) -> None:
        self.say()
        self.say(f"{number}. {title}")
        self.say(_RULE)
        for line in text:
            self.say(line)

    def make(self, name: str) -> Any:
        """Print and build ``losskit.<name>()``: under ``jax.jit`` on JAX, whose eager mode compiles op by op."""
        loss = getattr(losskit, name)()
        if self.backend != "jax":
            self.cell(f"loss = losskit.{name}()")
            return loss
        import jax

        self.cell(f"loss = jax.jit(losskit.{name}())")
        return jax.jit(loss)

    # arrays --------------------------------------------------------------------------------
    def array(self, data: Any) -> Any:
        return self.xp.asarray(np.asarray(data, dtype=np.float32))

    def numpy(self, value: Any) -> np.ndarray:
        if hasattr(value, "detach"):
            value = value.detach()
        return np.asarray(value)

    # the cells -----------------------------------------------------------------------------
    def run(self, plots: bool) -> TourResult:
        xp, m = self.xp, self.m
        self.say(f"losskit tour: the Gluon loss tutorial, cell by cell, on {self.backend} arrays (float32)")
        self.say(f"Gluon's `gloss.X()` is `losskit.X()` here, and `nd.array(...)` is `{m}.asarray(...)`.")

        self.section(
            1,
            "Basic usage: the L2 loss",
            "A loss measures how far the prediction is from the label. Make an L2 loss and feed it",
            "two arrays; it gives one value per example.",
        )
        loss = self.make("L2Loss")
        x, y = xp.ones(2, dtype=xp.float32), 2 * xp.ones(2, dtype=xp.float32)
        self.cell(f"x = {m}.ones(2); y = 2 * {m}.ones(2)")
        l2 = loss(x, y)
        self.cell("loss(x, y)", l2, "l2")
        self.say("   These equal the definition, 0.5 * (x - y)**2:")
        by_definition = 0.5 * (x - y) ** 2
        self.cell("0.5 * (x - y)**2", by_definition, "l2_definition")
        same = bool(np.allclose(self.numpy(l2), self.numpy(by_definition)))
        self.say(f"   same numbers: {'yes' if same else 'NO'}")

        self.section(
            2,
            "Sample weights",
            "In a mini-batch some examples may matter more than others: pass one weight per example",
            "(the default weight is 1).",
        )
        self.cell(f"loss(x, y, {m}.asarray([1.0, 2.0]))", loss(x, y, self.array([1.0, 2.0])), "l2_weighted")

        self.gradient_section(loss, y)
        self.figure_section(plots)

        self.section(
            5,
            "Softmax and cross-entropy, fused",
            "Classifiers turn scores into probabilities with softmax, then take the cross-entropy",
            "against the true class. Done in two steps this is numerically fragile; the loss fuses them.",
        )
        ce = self.make("SoftmaxCrossEntropyLoss")
        self.cell(f"x = {m}.asarray([[1.0, 10.0], [8.0, 2.0]]); y = {m}.asarray([0, 1])")
        value = ce(self.array([[1.0, 10.0], [8.0, 2.0]]), xp.asarray([0, 1]))
        self.cell("loss(x, y)", value, "softmax_ce", note="MXNet: [9.0001, 6.0025]")
        self.say("   Why fused: with a score 200 above the true class, softmax's probability underflows")
        self.say("   to 0 in float32 and its log is -inf; the fused loss computes logsumexp(x) - x[y].")
        big = self.array([[0.0, 200.0]])
        self.cell(f"x = {m}.asarray([[0.0, 200.0]]); y = {m}.asarray([0])")
        with np.errstate(divide="ignore"):  # log(0) is the point being made
            two_steps = -xp.log(self.softmax(big))[:, 0]
        self.cell("-log(softmax(x))[:, 0]   # two steps", two_steps, "softmax_ce_two_steps")
        self.cell("loss(x, y)              # fused", ce(big, xp.asarray([0])), "softmax_ce_fused")

        self.section(
            6,
            "Binary classification: sigmoid binary cross-entropy",
            "For two classes, SigmoidBinaryCrossEntropyLoss (alias SigmoidBCELoss) fuses the sigmoid",
            "with the binary cross-entropy, -[z log sigmoid(x) + (1 - z) log(1 - sigmoid(x))].",
        )
        bce = self.make("SigmoidBinaryCrossEntropyLoss")
        logits, labels = self.array([-2.0, 0.0, 3.0]), self.array([0.0, 1.0, 1.0])
        self.cell(f"x = {m}.asarray([-2.0, 0.0, 3.0]); z = {m}.asarray([0.0, 1.0, 1.0])")
        self.cell("loss(x, z)", bce(logits, labels), "sigmoid_bce")
        self.cell("-(z * log(sigmoid(x)) + (1 - z) * log(1 - sigmoid(x)))", self.bce_two_steps(logits, labels))
        self.say("   The same numbers; but a confident wrong logit, 100 for label 0, breaks the two-step form:")
        wrong, zero = self.array([100.0]), self.array([0.0])
        self.cell(f"x = {m}.asarray([100.0]); z = {m}.asarray([0.0])")
        self.cell(
            "-(z * log(sigmoid(x)) + (1 - z) * log(1 - sigmoid(x)))   # two steps",
            self.bce_two_steps(wrong, zero),
            "sigmoid_bce_two_steps",
        )
        self.cell("loss(x, z)   # fused", bce(wrong, zero), "sigmoid_bce_fused")

        self.say()
        self.say(_RULE)
        if self.result.files:
            self.say(f"Figures (PNG and SVG) are in {self.out}:")
            for path in self.result.files:
                self.say(f"  {path}")
        else:
            self.say(f"No figures were written ({self.figures_skipped}).")
        self.say("Next: `losskit plot HuberLoss L1Loss --grad`, `losskit list`, `losskit gallery --out gallery`.")
        return self.result

    def softmax(self, x: Any) -> Any:
        e = self.xp.exp(x - self.xp.max(x, axis=-1, keepdims=True))
        return e / self.xp.sum(e, axis=-1, keepdims=True)

    def bce_two_steps(self, x: Any, z: Any) -> Any:
        xp = self.xp
        p = 1 / (1 + xp.exp(-x))
        with np.errstate(divide="ignore"):  # log(0) is the point being made
            return -(z * xp.log(p) + (1 - z) * xp.log(1 - p))

    def gradient_section(self, loss: Any, y: Any) -> None:
        m = self.m
        self.section(
            3,
            "Gradients through a network",
            "Put a one-layer dense network (Gluon's nn.Dense(1)) in front of the loss, then differentiate",
            "the summed loss w.r.t. its weight. The inputs are fixed (seed 0) so that the numbers repeat.",
        )
        rng = np.random.default_rng(0)
        X = rng.uniform(size=(2, 4)).astype(np.float32)
        W = rng.uniform(-0.07, 0.07, size=(1, 4)).astype(np.float32)  # Gluon's default init range
        self.result.values.update(X=X, W=W, y=self.numpy(y))
        self.cell(f"X = {m}.asarray(np.random.default_rng(0).uniform(size=(2, 4)))", X)
        if self.backend == "torch":
            import torch

            net = torch.nn.Linear(4, 1)
            with torch.no_grad():
                net.weight.copy_(torch.from_numpy(W))
                net.bias.zero_()
            Xt = torch.from_numpy(X)
            self.cell("net = torch.nn.Linear(4, 1)   # weight drawn in [-0.07, 0.07], bias 0")
            self.cell("net.weight", net.weight)
            loss_values = loss(net(Xt), y)
            self.cell("l = loss(net(X), y); l", loss_values, "dense_loss")
            loss_values.sum().backward()
            self.cell("l.sum().backward()   # Gluon's l.backward() also sums")
            self.cell("net.weight.grad", net.weight.grad, "weight_grad")
        elif self.backend == "jax":
            import jax
            import jax.numpy as jnp

            Xj, Wj, b = jnp.asarray(X), jnp.asarray(W), jnp.zeros(1, dtype=jnp.float32)
            self.cell("W = ...; b = jnp.zeros(1)   # W drawn in [-0.07, 0.07]", Wj)
            self.cell("net = lambda W, b: X @ W.T + b   # a dense layer is a linear map")
            self.cell("l = loss(net(W, b), y); l", loss(Xj @ Wj.T + b, y), "dense_loss")
            grad = jax.grad(lambda W_: loss(Xj @ W_.T + b, y).sum())(Wj)
            self.cell("jax.grad(lambda W: loss(net(W, b), y).sum())(W)", grad, "weight_grad")
        else:
            pred = X @ W.T
            self.cell("W = ...   # drawn in [-0.07, 0.07], bias 0", W)
            self.cell("l = loss(X @ W.T, y); l", loss(pred, y), "dense_loss")
            self.say("   NumPy has no autograd: it cannot record this forward pass and run it backwards.")
            self.say("   With PyTorch (--backend torch) the step is")
            self.say("       l = loss(net(X), y); l.sum().backward(); net.weight.grad")
            self.say("   and with JAX (--backend jax)")
            self.say("       jax.grad(lambda W: loss(X @ W.T + b, y).sum())(W)")
            self.say("   For one linear layer the chain rule gives the same numbers by hand:")
            hand = (pred - self.numpy(y)[:, None]).T @ X
            self.cell("(X @ W.T - y[:, None]).T @ X", hand, "weight_grad")

    def figure_section(self, plots: bool) -> None:
        self.section(
            4,
            "Looking at losses",
            "Regression losses are drawn against the prediction x with the label fixed at 0,",
            "classification losses with the label fixed at 1 (x from -5 to 5).",
        )
        sample = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
        self.say(f"   loss at x = {fmt(sample)}:")
        for _, _, names, _ in FIGURES:
            for name in names:
                curve = plot.curve_for(name)
                _, values, _ = plot.curve_data(curve, sample, backend=self.backend)
                self.result.values[f"curve:{name}"] = values
                self.say(f"   {name:<31} {fmt(values)}")
        self.say("   LogisticLoss and SigmoidBinaryCrossEntropyLoss agree at label 1: both are log(1 + exp(-x)).")
        if not plots:
            return
        try:
            plot.require("matplotlib")
        except ImportError as exc:
            self.figures_skipped = str(exc)
            return
        assert self.out is not None
        self.out.mkdir(parents=True, exist_ok=True)
        for stem, title, names, top in FIGURES:
            fig, ax = plot.new_figure()
            plot.draw([plot.curve_for(name) for name in names], ax=ax, backend=self.backend, title=title)
            if top is not None:
                ax.set_ylim(-0.05 * top, top)
            self.result.figures[stem] = fig
            self.result.files.extend(save_figure(fig, self.out / stem))
        self.say(f"   The figures: {', '.join(path.name for path in self.result.files)} (in {self.out}).")


def save_figure(fig: Any, stem: Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.svg``, reproducibly (no date, fixed SVG ids)."""
    import matplotlib

    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "losskit"}):
        for ext in formats:
            path = stem.with_suffix("." + ext)
            metadata = {"Date": None} if ext == "svg" else {}
            fig.savefig(path, dpi=110, metadata=metadata)
            paths.append(path)
    return paths


def check_backend(backend: str | None) -> str:
    """``backend``, or the default one; ``ValueError`` when it is unknown or not installed."""
    backend = backend or default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if backend not in installed_backends():
        raise ValueError(f"backend {backend!r} is not installed; installed: {', '.join(installed_backends())}")
    return backend


def run_tour(
    backend: str | None = None,
    out: str | Path | None = DEFAULT_OUT,
    plots: bool = True,
    stream: TextIO | None = None,
) -> TourResult:
    """Run the tour on ``backend`` (default: :func:`default_backend`), printing to ``stream``.

    Figures go to ``out`` as PNG and SVG unless ``plots`` is false. Raises ``ValueError`` for a
    backend that is unknown or not installed.
    """
    backend = check_backend(backend)
    if plots and out is None:
        raise ValueError("plots need an output folder: pass out=...")
    tour = _Tour(backend, Path(out) if out is not None else None, stream or sys.stdout)
    return tour.run(plots)
