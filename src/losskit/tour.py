"""``losskit tour``: the Gluon loss tutorial, cell by cell, on real NumPy, PyTorch or JAX arrays.

Each cell prints the code it runs, REPL style, and its result with four decimals, so a newcomer
can follow along (and the tests can read the numbers back). :func:`run_tour` also returns the
numbers and the figures, for the tests and for notebooks.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import plot

BACKENDS = ("numpy", "torch", "jax")
DEFAULT_OUT = "losskit-tour"
# the tutorial's two figures: (file stem, title, losses, top of the y axis or None)
FIGURES = (
    ("regression-losses", "Regression losses, label fixed at 0", ("L1Loss", "L2Loss", "HuberLoss"), None),
    (
        "classification-losses",
        "Classification losses, label fixed at 1 (y axis cut at 7)",
        ("LogisticLoss", "HingeLoss", "SquaredHingeLoss", "SigmoidBinaryCrossEntropyLoss"),
        7.0,  # SquaredHingeLoss reaches 36 and would flatten the others
    ),
)
_MODULE_ALIAS = {"numpy": "np", "torch": "torch", "jax": "jnp"}
_IMPORTS = {
    "numpy": "import losskit, numpy as np",
    "torch": "import losskit, numpy as np, torch",
    "jax": "import jax, jax.numpy as jnp, losskit, numpy as np",
}
# softmax(x), computed safely (the largest score subtracted first), as each library spells it
_SOFTMAX = {
    "numpy": "e = np.exp(x - x.max(axis=-1, keepdims=True)); p = e / e.sum(axis=-1, keepdims=True)   # softmax",
    "torch": "p = torch.softmax(x, dim=-1)",
    "jax": "p = jax.nn.softmax(x)",
}
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
        self.m = _MODULE_ALIAS[backend]
        # float32 said explicitly: NumPy's default is float64, JAX's under jax_enable_x64, torch's
        # after torch.set_default_dtype (where exp(-200) no longer underflows, section 5's point)
        self.f32 = f", dtype={self.m}.float32"
        self.ns: dict[str, Any] = {}  # the namespace of the printed code, a REPL's
        self.out = out
        self.stream = stream
        self.result = TourResult(backend)
        self.figures_skipped = "--no-plots"

    # printing and running --------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        print(text, file=self.stream)

    def cell(self, code: str, key: str | None = None, note: str = "") -> None:
        """Print ``>>> code`` and run it as a REPL does: the value of a last expression is printed (and recorded
        under ``key``). The tour runs the code it prints, so that what a reader copies gives the same numbers."""
        for i, line in enumerate(code.splitlines()):
            self.say(("   >>> " if i == 0 else "   ... ") + line)
        body = ast.parse(code).body
        last = body[-1] if isinstance(body[-1], ast.Expr) else None
        if last is not None:
            body.pop()
        with np.errstate(divide="ignore"):  # log(0) is the point of the two-step cells
            exec(compile(ast.Module(body, type_ignores=[]), "<tour>", "exec"), self.ns)
            value = None if last is None else eval(compile(ast.Expression(last.value), "<tour>", "eval"), self.ns)
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

    def make(self, name: str) -> None:
        """Build ``loss = losskit.<name>()``: under ``jax.jit`` on JAX, whose eager mode compiles op by op."""
        self.cell(f"loss = jax.jit(losskit.{name}())" if self.backend == "jax" else f"loss = losskit.{name}()")

    def numpy(self, value: Any) -> np.ndarray:
        if hasattr(value, "detach"):
            value = value.detach()
        return np.asarray(value)

    # the cells -----------------------------------------------------------------------------
    def run(self, plots: bool) -> TourResult:
        m, f32 = self.m, self.f32
        if plots and self.out is not None and plot.importable("matplotlib"):
            self.out.mkdir(parents=True, exist_ok=True)  # first: a folder that cannot be made stops nothing halfway
        self.say(f"losskit tour: the Gluon loss tutorial, cell by cell, on {self.backend} arrays (float32)")
        self.say(f"Gluon's `gloss.X()` is `losskit.X()` here, and `nd.array(...)` is `{m}.asarray(...)`.")
        self.say("Each cell runs as printed: pasted in order into Python, it gives the same numbers.")
        self.cell(_IMPORTS[self.backend])

        self.section(
            1,
            "Basic usage: the L2 loss",
            "A loss measures how far the prediction is from the label. Make an L2 loss and feed it",
            "two arrays; it gives one value per example.",
        )
        self.make("L2Loss")
        self.cell(f"x = {m}.ones(2{f32}); y = 2 * {m}.ones(2{f32})")
        self.cell("loss(x, y)", "l2")
        self.say("   These equal the definition, 0.5 * (x - y)**2:")
        self.cell("0.5 * (x - y)**2", "l2_definition")
        same = bool(np.allclose(self.result.values["l2"], self.result.values["l2_definition"]))
        self.say(f"   same numbers: {'yes' if same else 'NO'}")

        self.section(
            2,
            "Sample weights",
            "In a mini-batch some examples may matter more than others: pass one weight per example",
            "(the default weight is 1).",
        )
        self.cell(f"loss(x, y, {m}.asarray([1.0, 2.0]{f32}))", "l2_weighted")

        self.gradient_section()
        self.figure_section(plots)

        self.section(
            5,
            "Softmax and cross-entropy, fused",
            "Classifiers turn scores into probabilities with softmax, then take the cross-entropy",
            "against the true class. Done in two steps this is numerically fragile; the loss fuses them.",
        )
        self.make("SoftmaxCrossEntropyLoss")
        self.cell(f"x = {m}.asarray([[1.0, 10.0], [8.0, 2.0]]{f32}); y = {m}.asarray([0, 1])")
        self.cell("loss(x, y)", "softmax_ce", note="MXNet: [9.0001, 6.0025]")
        self.say("   Why fused: with a score 200 above the true class, softmax's probability underflows")
        self.say("   to 0 in float32 and its log is -inf; the fused loss computes logsumexp(x) - x[y].")
        self.cell(f"x = {m}.asarray([[0.0, 200.0]]{f32}); y = {m}.asarray([0])")
        self.cell(_SOFTMAX[self.backend])
        self.cell(f"-{m}.log(p)[:, 0]   # two steps", "softmax_ce_two_steps")
        self.cell("loss(x, y)   # fused", "softmax_ce_fused")

        self.section(
            6,
            "Binary classification: sigmoid binary cross-entropy",
            "For two classes, SigmoidBinaryCrossEntropyLoss (alias SigmoidBCELoss) fuses the sigmoid",
            "with the binary cross-entropy, -[z log sigmoid(x) + (1 - z) log(1 - sigmoid(x))].",
        )
        self.make("SigmoidBinaryCrossEntropyLoss")
        self.cell(f"x = {m}.asarray([-2.0, 0.0, 3.0]{f32}); z = {m}.asarray([0.0, 1.0, 1.0]{f32})")
        self.cell("loss(x, z)", "sigmoid_bce")
        sigmoid = f"p = 1 / (1 + {m}.exp(-x))   # sigmoid(x)"
        two_steps = f"-(z * {m}.log(p) + (1 - z) * {m}.log(1 - p))"
        self.cell(sigmoid)
        self.cell(two_steps)
        self.say("   The same numbers; but a confident wrong logit, 100 for label 0, breaks the two-step form:")
        self.cell(f"x = {m}.asarray([100.0]{f32}); z = {m}.asarray([0.0]{f32})")
        self.cell(sigmoid)
        self.cell(f"{two_steps}   # two steps", "sigmoid_bce_two_steps")
        self.cell("loss(x, z)   # fused", "sigmoid_bce_fused")

        self.say()
        self.say(_RULE)
        if self.result.files:
            self.say(f"Figures (PNG and SVG) are in {self.out}:")
            for path in self.result.files:
                self.say(f"  {path}")
        else:
            self.say(f"No figures were written ({self.figures_skipped}).")
        self.say(_next_steps())
        return self.result

    def gradient_section(self) -> None:
        m = self.m
        self.section(
            3,
            "Gradients through a network",
            "Put a one-layer dense network (Gluon's nn.Dense(1)) in front of the loss, then differentiate",
            "the summed loss w.r.t. its weight. The inputs are fixed (seed 0) so that the numbers repeat.",
        )
        self.cell("rng = np.random.default_rng(0)")
        self.cell(f"X = {m}.asarray(rng.uniform(size=(2, 4)){self.f32})")
        self.cell(f"W = {m}.asarray(rng.uniform(-0.07, 0.07, size=(1, 4)){self.f32})   # Gluon's init")
        self.result.values.update({k: self.numpy(self.ns[k]) for k in ("X", "W", "y")})
        if self.backend == "torch":
            self.cell("net = torch.nn.Linear(4, 1)")
            self.say("   It starts from Gluon's initialisation (W above, bias 0) instead of torch's own:")
            self.cell(f"net.weight = torch.nn.Parameter(W); net.bias = torch.nn.Parameter(torch.zeros(1{self.f32}))")
            self.cell("l = loss(net(X), y); l", "dense_loss")
            self.cell("l.sum().backward()   # Gluon's l.backward() also sums")
            self.cell("net.weight.grad", "weight_grad")
        elif self.backend == "jax":
            self.cell(f"b = jnp.zeros(1{self.f32}); net = lambda W, b: X @ W.T + b   # a dense layer is a linear map")
            self.cell("l = loss(net(W, b), y); l", "dense_loss")
            self.cell("jax.grad(lambda W: loss(net(W, b), y).sum())(W)", "weight_grad")
        if self.backend != "numpy":
            self.say("   The chain rule by hand: d loss / d out = out - y (the L2 loss's 1/2 cancels the square's 2),")
            self.say("   and d out / d W = X, summed over the batch:")
            self.cell("(X @ W.T - y[:, None]).T @ X", "weight_grad_by_hand")
        else:
            self.cell("l = loss(X @ W.T, y); l", "dense_loss")
            self.say("   NumPy has no autograd: it cannot record this forward pass and run it backwards.")
            self.say("   With PyTorch (--backend torch) the step is")
            self.say("       l = loss(net(X), y); l.sum().backward(); net.weight.grad")
            self.say("   and with JAX (--backend jax)")
            self.say("       jax.grad(lambda W: loss(X @ W.T, y).sum())(W)")
            self.say("   For one linear layer the chain rule gives the same numbers by hand:")
            self.cell("(X @ W.T - y[:, None]).T @ X", "weight_grad")

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
        assert self.out is not None  # made by run() before its first cell
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
    """``backend``, or the default one: ``ValueError`` when it is unknown, ``ImportError`` when not installed."""
    backend = backend or default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if backend not in installed_backends():
        raise ImportError(
            f"backend {backend!r} is not installed; installed: {', '.join(installed_backends())}; "
            f"pip install 'losskit[{backend}]'"
        )
    return backend


def run_tour(
    backend: str | None = None,
    out: str | Path | None = DEFAULT_OUT,
    plots: bool = True,
    stream: TextIO | None = None,
) -> TourResult:
    """Run the tour on ``backend`` (default: :func:`default_backend`), printing to ``stream``.

    Figures go to ``out`` as PNG and SVG unless ``plots`` is false. Raises ``ValueError`` for an
    unknown backend, ``ImportError`` for one that is not installed.
    """
    backend = check_backend(backend)
    if plots and out is None:
        raise ValueError("plots need an output folder: pass out=...")
    tour = _Tour(backend, Path(out) if out is not None else None, stream or sys.stdout)
    return tour.run(plots)


def _next_steps() -> str:
    """The closing hint: commands that run here, and the extra that the others need."""
    can_plot = plot.importable("matplotlib")
    can_grad = any(plot.importable(name) for name in plot.AUTOGRAD_BACKENDS)
    if can_plot and can_grad:
        return "Next: `losskit plot HuberLoss L1Loss --grad`, `losskit list`, `losskit gallery --out gallery`."
    if can_plot:
        return (
            "Next: `losskit plot HuberLoss L1Loss`, `losskit list`, `losskit gallery --out gallery`"
            " (gradients: pip install 'losskit[torch]')."
        )
    return "Next: `losskit list`; to plot losses and their gradients: pip install 'losskit[all]'."
