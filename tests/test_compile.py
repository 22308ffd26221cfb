"""Every loss under ``torch.compile(fullgraph=True)`` and ``jax.jit``: one graph, no graph break,
the eager result, and no recompilation (or retrace) on a second call with inputs of the same
shapes. Iterates over ``CASES``, so a new loss is covered as soon as it has a recipe.

The PyTorch tests compile with a counting backend (``CompileCounter``: Dynamo's graph, run
eagerly) and with ``aot_eager`` (forward and backward graphs traced by AOTAutograd, run
eagerly): they prove the graph is whole without paying for inductor's code generation.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from backends import to_backend, to_numpy
from cases import CASES

# Losses that break the graph today, with the reason; strict, so the test fails once fixed.
KNOWN_GRAPH_BREAKS: dict[str, str] = {}

pytestmark = pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`")


def _inputs(case, backend: str, seed: int, dtype: str = "float32") -> list:
    raw = case.make(np.random.default_rng(seed))
    return [to_backend(x, backend, dtype if i in case.float_args else None) for i, x in enumerate(raw)]


def _param(case):
    reason = KNOWN_GRAPH_BREAKS.get(case.id)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(case, id=case.id, marks=marks)


PARAMS = [_param(case) for case in CASES]


def _close(a, b, tol: float = 1e-5) -> None:
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=tol, atol=tol)


# --------------------------------------------------------------------------------------------
# torch.compile
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", PARAMS)
def test_torch_compile_fullgraph_no_recompile(case):
    torch = pytest.importorskip("torch")
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    loss = losskit.get_loss(case.loss, **case.init)
    counter = CompileCounter()
    compiled = torch.compile(lambda *a: loss(*a, **case.call_kwargs), backend=counter, fullgraph=True)
    first, second = _inputs(case, "torch", 0), _inputs(case, "torch", 1)
    _close(compiled(*first), loss(*first, **case.call_kwargs))
    assert counter.frame_count == 1, f"{counter.frame_count} graphs for one call"
    _close(compiled(*second), loss(*second, **case.call_kwargs))
    assert counter.frame_count == 1, "recompiled for inputs of the same shapes"


@pytest.mark.parametrize("case", PARAMS)
def test_torch_compile_backward_aot(case):
    """Forward and backward traced whole by AOTAutograd; gradients equal eager ones."""
    torch = pytest.importorskip("torch")

    torch._dynamo.reset()
    loss = losskit.get_loss(case.loss, **case.init)
    compiled = torch.compile(lambda *a: loss(*a, **case.call_kwargs), backend="aot_eager", fullgraph=True)
    grads = {}
    for name, fn in (("compiled", compiled), ("eager", lambda *a: loss(*a, **case.call_kwargs))):
        args = _inputs(case, "torch", 0, "float64")
        leaves = [args[i].requires_grad_(True) for i in case.float_args]
        out = fn(*args)
        grads[name] = torch.autograd.grad(out.sum(), leaves)
    for got, want in zip(grads["compiled"], grads["eager"]):
        _close(got, want, 1e-10)


@pytest.mark.parametrize("case", PARAMS)
def test_torch_compile_graph_is_one_losskit_call(case):
    """Dynamo writes the loss into its graph as one call of its :mod:`losskit.functional` function
    (``allow_in_graph``, see ``losskit/_compile.py``), as it does a ``torch.nn.functional`` loss:
    it does not trace losskit's Python, so it does not guard what that Python touches."""
    torch = pytest.importorskip("torch")

    torch._dynamo.reset()
    loss = losskit.get_loss(case.loss, **case.init)
    graphs = []

    def capture(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    compiled = torch.compile(lambda *a: loss(*a, **case.call_kwargs), backend=capture, fullgraph=True)
    compiled(*_inputs(case, "torch", 0))
    (graph,) = graphs
    calls = [node.target for node in graph.graph.nodes if node.op == "call_function"]
    public = {getattr(losskit.functional, name) for name in losskit.functional.__all__}
    assert len(calls) == 1 and calls[0] in public, calls


@pytest.mark.parametrize("case", PARAMS)
def test_torch_compile_dynamic_true(case):
    """``dynamic=True``: the loss object's number options and the shapes are symbolic
    (``SymFloat``/``SymInt``) inside the graph node; the result and gradients are eager's."""
    torch = pytest.importorskip("torch")

    torch._dynamo.reset()
    loss = losskit.get_loss(case.loss, **case.init)
    compiled = torch.compile(lambda *a: loss(*a, **case.call_kwargs), backend="aot_eager", fullgraph=True, dynamic=True)
    for seed in (0, 1):
        grads = {}
        for name, fn in (("compiled", compiled), ("eager", lambda *a: loss(*a, **case.call_kwargs))):
            args = _inputs(case, "torch", seed, "float64")
            leaves = [args[i].requires_grad_(True) for i in case.float_args]
            out = fn(*args)
            grads[name] = (out, *torch.autograd.grad(out.sum(), leaves))
        for got, want in zip(grads["compiled"], grads["eager"]):
            _close(got, want, 1e-10)


# three values of an option whose valid range does not hold its recipe's value v, v / 2 and v / 4
# (a power in (1, 2), say), by "LossClass.option"
_OPTION_VALUES: dict[str, tuple[float, float, float]] = {}


def _number_options(case):
    """The number options of a case's function (``weight`` always), each with three values."""
    loss = losskit.get_loss(case.loss, **case.init)
    options = {**loss._options(), **case.call_kwargs}
    options["weight"] = 1.5 if options.get("weight") is None else options["weight"]
    for name, value in options.items():
        if isinstance(value, float):
            yield name, _OPTION_VALUES.get(f"{type(loss).__name__}.{name}", (value, value * 0.5, value * 0.25))


# options whose value the formula needs as a Python float (recompiled per value, as before)
_SPECIALIZED = {"beta"}  # JSD: log(beta) and log(1 - beta) are Python constants of the graph

_VARIED = [
    pytest.param(case, name, values, id=f"{case.id}-{name}")
    for case in CASES
    if getattr(losskit, case.loss)._function is not None
    for name, values in _number_options(case)
]


@pytest.mark.parametrize(("case", "option", "values"), _VARIED)
def test_torch_compile_number_option_changing_between_calls(case, option, values):
    """A float option passed anew on each call (a loss weight or a label smoothing on a schedule):
    Dynamo recompiles once, with the number symbolic, and every result equals eager's."""
    torch = pytest.importorskip("torch")
    from torch._dynamo.testing import CompileCounterWithBackend

    torch._dynamo.reset()
    loss = losskit.get_loss(case.loss, **case.init)
    function, options = type(loss)._function, {**loss._options(), **case.call_kwargs}
    counter = CompileCounterWithBackend("aot_eager")  # AOTAutograd too: it can fix a number's value
    compiled = torch.compile(
        lambda a, value: function(*a, **{**options, option: value}), backend=counter, fullgraph=True
    )
    args = _inputs(case, "torch", 0)
    for value in values:
        _close(compiled(args, value), function(*args, **{**options, option: value}))
    if option not in _SPECIALIZED:
        assert counter.frame_count <= 2, f"{counter.frame_count} compilations for three values of {option}"


@pytest.mark.parametrize("case", PARAMS)
def test_torch_compile_where_is_compiling_is_false_in_aot(case, monkeypatch):
    """Before pytorch#184614 (2026) torch.compiler.is_compiling() was False while AOTAutograd ran
    a graph node's Python on fake tensors: losskit's value checks then read a fake tensor and
    the compile failed (cross-entropy, NLL, Gaussian NLL, CTC). Simulated here by taking that
    change out; losskit also asks whether a fake tensor mode is active, so every loss still
    compiles whole, forward and backward, and equals eager."""
    torch = pytest.importorskip("torch")
    import contextlib

    monkeypatch.setattr(torch.compiler, "_compile_session_context", contextlib.nullcontext)
    torch._dynamo.reset()
    loss = losskit.get_loss(case.loss, **case.init)
    args = _inputs(case, "torch", 0, "float64")
    for i in case.float_args:
        args[i].requires_grad_(True)
    leaves = [args[i] for i in case.float_args]
    got = torch.compile(lambda *a: loss(*a, **case.call_kwargs), backend="aot_eager", fullgraph=True)(*args)
    want = loss(*args, **case.call_kwargs)
    _close(got, want, 1e-10)
    for g, w in zip(torch.autograd.grad(got.sum(), leaves), torch.autograd.grad(want.sum(), leaves)):
        _close(g, w, 1e-10)
    torch._dynamo.reset()


@pytest.mark.parametrize("mode", ["real", "fake"])
@pytest.mark.parametrize("case", PARAMS)
def test_make_fx_traces_every_loss(case, mode):
    """make_fx (torch.export's tracer) and a FakeTensorMode outside torch.compile: the value checks
    see the proxy / fake mode and are skipped (they read a tracing tensor and failed before), and
    the traced graph run on real inputs equals eager."""
    pytest.importorskip("torch")
    from torch.fx.experimental.proxy_tensor import make_fx

    loss = losskit.get_loss(case.loss, **case.init)
    args = _inputs(case, "torch", 0, "float64")
    graph = make_fx(lambda *a: loss(*a, **case.call_kwargs), tracing_mode=mode)(*args)
    _close(graph(*args), loss(*args, **case.call_kwargs), 1e-10)


_BEFORE_DYNAMO = """
import sys
import losskit
assert "torch" not in sys.modules  # losskit never imports torch itself
import torch
from losskit import _compile
loss = losskit.L2Loss()
losskit.functional.l2_loss(torch.ones(2, 3), torch.zeros(2, 3))
# torch without torch.compile: nothing imports Dynamo (1-2 s), nothing is registered
assert "torch._dynamo" not in sys.modules and not _compile._registered
"""

_ONE_NODE = """
graphs = []
def capture(gm, example_inputs):
    graphs.append(gm)
    return gm.forward
torch.compile(lambda a, b: {call}, backend=capture, fullgraph=True)(torch.ones(2, 3), torch.zeros(2, 3))
calls = [node.target for node in graphs[0].graph.nodes if node.op == "call_function"]
assert calls == [losskit.functional.l2_loss], calls  # the first graph already
"""


@pytest.mark.parametrize(
    "script",
    [
        "import torch, torch._dynamo\nimport losskit\nfrom losskit import _compile",  # importing losskit
        _BEFORE_DYNAMO + "import torch._dynamo\nlosskit.L1Loss()",  # constructing a loss
        _BEFORE_DYNAMO + "import torch._dynamo\nlosskit.functional.l1_loss(torch.ones(2), torch.ones(2))",  # a call
        _BEFORE_DYNAMO + _ONE_NODE.format(call="loss(a, b)"),  # a loss object called inside a trace
        _BEFORE_DYNAMO + _ONE_NODE.format(call="losskit.L2Loss()(a, b)"),  # constructed inside a trace
    ],
    ids=["import", "construct", "eager-call", "call-inside-compile", "construct-inside-compile"],
)
def test_registration_with_dynamo(script):
    """The functions are registered with Dynamo by the first of the triggers ``_compile`` lists,
    and only once Dynamo is loaded (a torch user who never compiles does not pay its import)."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    code = script + "\nassert _compile._registered\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


# --------------------------------------------------------------------------------------------
# jax.jit
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_jax_jit_traces_once(case):
    """``jit`` equals eager is ``test_jax.py``'s test; here: one trace for two calls of the same shapes."""
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")

    loss = losskit.get_loss(case.loss, **case.init)
    traces = []

    def f(*a):
        traces.append(1)  # runs once per trace, never when the compiled function is reused
        return loss(*a, **case.call_kwargs)

    jitted = jax.jit(f)
    first, second = _inputs(case, "jax", 0), _inputs(case, "jax", 1)
    for args in (first, second):
        assert bool(jnp.all(jnp.isfinite(jitted(*args))))
    assert len(traces) == 1, f"traced {len(traces)} times for inputs of the same shapes"
    assert jitted._cache_size() == 1

    def total(*a):
        return loss(*a, **case.call_kwargs).sum()

    grad = jax.jit(jax.grad(total, argnums=tuple(case.float_args)))
    for args in (first, second):
        grad(*args)
    assert grad._cache_size() == 1


_FIRST_CALL_TRACED = """
import torch, losskit, losskit.functional as F
from losskit import _compile
assert not _compile._registered
x, y = torch.randn(4, 3), torch.randn(4, 3)
calls = {call}
for fn in calls:  # the first call of each is traced through (nothing registered before)
    compiled = torch.compile(fn, fullgraph=True, dynamic=True)
    for option in (0.5, 0.75):
        torch.testing.assert_close(compiled(x, y, option), fn(x, y, option))
"""


def test_options_traced_through_with_dynamic_numbers():
    """A loss traced through (the first functional call of a process, before any registration)
    with a number Dynamo makes dynamic: the option checks must not call math.isfinite on it
    (Dynamo refuses it under fullgraph). Fresh process: registration is process-wide."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    calls = (
        "[lambda a, b, m: F.hinge_loss(a, b, margin=m), lambda a, b, m: F.triplet_loss(a, b, -b, margin=m),"
        " lambda a, b, r: F.huber_loss(a, b, rho=r),"
        " lambda a, b, m: F.cosine_embedding_loss(a, b, b[:, 0].sign(), margin=m),"
        " lambda a, b, m: losskit.HingeLoss(margin=m)(a, b)]"
    )
    code = _FIRST_CALL_TRACED.format(call=calls)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("call", ["F.softmax_cross_entropy(a, y)", "F.nll_loss(a.log_softmax(1), y)",
                                  "F.multi_margin_loss(a, y)", "F.triplet_margin_loss(a, b, -b)"])  # fmt: skip
def test_a_first_functional_call_inside_torch_compile_registers_the_node(call):
    """A program whose only losskit calls are functional ones inside torch.compile (no Loss built,
    no eager call: Dynamo loaded by the compile itself): the first graph traces through the call
    and registers the functions, and the next graph has the function as one node. (The plain-call
    lanes ran under Dynamo without reaching the registration.) Fresh process: registration is
    process-wide."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    code = f"""
import torch
import losskit.functional as F
from losskit import _compile
a, b = torch.randn(6, 5, requires_grad=True), torch.randn(6, 5)
y = torch.tensor([0, 4, 1, 2, 3, 1])
def nodes():
    graphs = []
    def backend(gm, example):
        graphs.append(gm)
        return gm.forward
    torch._dynamo.reset()
    torch.compile(lambda a, b, y: ({call}).sum(), backend=backend, fullgraph=True)(a, b, y)
    return [str(node.target) for gm in graphs for node in gm.graph.nodes]
nodes()
assert _compile._registered
name = "{call}".split("(")[0].split(".")[1]
assert any(name in target for target in nodes()), name
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_ctc_custom_op_registered_once_by_threads_that_trace_their_first_call_at_once():
    """Eight threads, each tracing its first CTC call (a fake tensor mode of its own) at once, in a
    fresh process: the op is registered once, and every call succeeds (without a lock, torch.library
    refused the second registration, or found the first's library destroyed)."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    code = """
import sys, threading, torch, losskit
from torch._subclasses.fake_tensor import FakeTensorMode
sys.setswitchinterval(1e-6)
ctc, errors, start = losskit.CTCLoss(), [], threading.Barrier(8)
def first_call():
    try:
        with FakeTensorMode():
            pred, label = torch.randn(2, 10, 5), torch.randint(0, 4, (2, 3))
            start.wait()
            assert ctc(pred, label).shape == (2,)
    except Exception as error:
        errors.append(repr(error))
threads = [threading.Thread(target=first_call) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
assert not errors, errors
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_fused_linear_cross_entropy_with_a_dynamic_z_loss():
    """losskit.fused is traced through (not a graph node): a z_loss argument made dynamic by
    dynamic=True must not meet math.isfinite in its check."""
    torch = pytest.importorskip("torch")
    from losskit.fused import linear_cross_entropy

    g = torch.Generator().manual_seed(0)
    h, w = torch.randn(6, 4, generator=g), torch.randn(9, 4, generator=g)
    y = torch.tensor([0, 3, 8, -100, 2, 5])
    compiled = torch.compile(lambda h, w, y, z: linear_cross_entropy(h, w, y, z_loss=z), fullgraph=True, dynamic=True)
    for z in (1e-4, 2e-4):
        torch.testing.assert_close(compiled(h, w, y, z), linear_cross_entropy(h, w, y, z_loss=z))


def test_fused_linear_cross_entropy_compiled_first_compiles_once():
    """In a fresh process whose first fused call is compiled: one graph for every call of the same
    shapes. The traced path read a module global that the first eager-free call left None (a guard
    on it), and the next call, after the backward had set it, recompiled."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    code = """
import torch
from torch._dynamo.utils import counters
from losskit.fused import linear_cross_entropy
weight = torch.randn(7, 4, requires_grad=True)
step = torch.compile(lambda x, y: linear_cross_entropy(x, weight, y), fullgraph=True)
for _ in range(4):
    step(torch.randn(6, 4), torch.randint(0, 7, (6,))).backward()
assert counters["stats"]["unique_graphs"] == 1, dict(counters["stats"])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_logistic_compiles_its_formula_not_the_fused_bce():
    """Eager LogisticLoss takes torch's fused binary_cross_entropy_with_logits; a compiled graph
    gets the formula (softplus(x) - x z'), which inductor fuses into less (benchmarks/RESULTS.md):
    the AOT forward graph holds a softplus and no BCE op, and equals eager."""
    torch = pytest.importorskip("torch")
    from torch._dynamo.testing import AotEagerAndRecordGraphs

    torch._dynamo.reset()
    backend = AotEagerAndRecordGraphs()
    loss = losskit.LogisticLoss()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1.0, -1.0, 1.0]] * 4, dtype=torch.float64)
    got = torch.compile(lambda a, b: loss(a, b), backend=backend, fullgraph=True)(x, y)
    code = backend.fw_graphs[0].code
    assert "softplus" in code and "binary_cross_entropy" not in code
    torch.testing.assert_close(got, loss(x, y), rtol=1e-12, atol=0)


def test_a_loss_constructed_in_the_compiled_function_with_a_changing_weight():
    """Its constructor's weight check is traced: a weight that changes between calls reaches it as
    a plain float, whose math.isfinite Dynamo refuses under fullgraph (it did, from the second call
    on); so does _apply_weighting in a loss written Gluon's way."""
    torch = pytest.importorskip("torch")

    torch._dynamo.reset()
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    built_in = torch.compile(lambda a, b, w: losskit.L1Loss(weight=w)(a, b), fullgraph=True, backend="aot_eager")
    helpers = torch.compile(
        lambda a, b, w: losskit._apply_weighting(None, (a - b).abs(), w, None), fullgraph=True, backend="aot_eager"
    )
    for w in (1.5, 0.75, 0.375):
        _close(built_in(a, b, w), losskit.L1Loss(weight=w)(a, b))
        _close(helpers(a, b, w), w * (a - b).abs())


def _dynamic_batch_cases():
    """(id, loss, inputs for a batch of n): the losses that gathered with ``torch.take_along_dim``,
    which fixed every size in a symbolic trace (one graph per batch size under dynamic=True, and
    FailOnRecompileLimitHit with fullgraph=True at the ninth)."""
    torch = pytest.importorskip("torch")

    def classes(n: int, c: int = 5) -> tuple:
        g = torch.Generator().manual_seed(n)
        return torch.randn(n, c, generator=g), torch.randint(0, c, (n,), generator=g)

    def cosines(n: int) -> tuple:
        x, y = classes(n)
        return torch.tanh(x), y

    def maps(n: int) -> tuple:
        g = torch.Generator().manual_seed(n)
        return torch.randn(n, 3, 5, 5, generator=g), torch.randint(0, 3, (n, 5, 5), generator=g)

    def binary_maps(n: int) -> tuple:
        g = torch.Generator().manual_seed(n)
        return torch.randn(n, 5, 5, generator=g), torch.randint(0, 2, (n, 5, 5), generator=g).float()

    def multilabel(n: int) -> tuple:
        g = torch.Generator().manual_seed(n)
        y = torch.randint(0, 64, (n, 64), generator=g)
        y[:, 5:] = -1
        return torch.randn(n, 64, generator=g), y

    return [
        ("ce", losskit.SoftmaxCrossEntropyLoss(), classes),
        ("ce_label_smoothing", losskit.SoftmaxCrossEntropyLoss(label_smoothing=0.1), classes),
        ("softmax_focal", losskit.SoftmaxFocalLoss(), classes),
        ("poly", losskit.PolyLoss(), classes),
        ("gce", losskit.GeneralizedCrossEntropyLoss(), classes),
        ("multiclass_hinge", losskit.MulticlassHingeLoss(), classes),
        ("sparsemax", losskit.SparsemaxLoss(), classes),
        ("multi_margin_class_weight", losskit.MultiMarginLoss(class_weight=[1.0, 2.0, 0.5, 1.0, 1.5]), classes),
        ("arcface", losskit.ArcFaceLoss(), cosines),
        ("cosface", losskit.CosFaceLoss(), cosines),
        ("lovasz_softmax", losskit.LovaszSoftmaxLoss(), maps),
        ("lovasz_hinge", losskit.LovaszHingeLoss(), binary_maps),
        ("multilabel_margin_64", losskit.MultiLabelMarginLoss(), multilabel),
    ]


@pytest.mark.parametrize("index", range(13), ids=lambda i: _dynamic_batch_cases()[i][0])
def test_torch_compile_dynamic_batch_sizes_compile_once(index):
    """Batches of 2, 4, 6 and 9 under ``torch.compile(dynamic=True, fullgraph=True)``: one graph,
    and eager's values (no batch size equals another size of the inputs, which duck sizing would
    tie to it)."""
    torch = pytest.importorskip("torch")
    from torch._dynamo.testing import CompileCounter

    _, loss, make = _dynamic_batch_cases()[index]
    torch._dynamo.reset()
    counter = CompileCounter()
    compiled = torch.compile(lambda *a: loss(*a), backend=counter, fullgraph=True, dynamic=True)
    for n in (2, 4, 6, 9):
        args = make(n)
        _close(compiled(*args), loss(*args))
    assert counter.frame_count == 1, f"{counter.frame_count} graphs for 4 batch sizes"


@pytest.mark.parametrize("index", range(13), ids=lambda i: _dynamic_batch_cases()[i][0])
def test_torch_export_with_a_dynamic_batch(index):
    """``torch.export`` of a module computing the loss, its batch axis a ``Dim``: it exports (the
    CPU cross-entropy's size threshold, compared before its tracing check, specialised the batch:
    an internal AssertionError), and the exported program gives eager's values at another batch."""
    torch = pytest.importorskip("torch")
    from torch.export import Dim, export

    _, loss, make = _dynamic_batch_cases()[index]

    class WithLoss(torch.nn.Module):
        def forward(self, pred, label):
            return loss(pred, label)

    batch = Dim("batch")
    program = export(WithLoss(), make(6), dynamic_shapes=({0: batch}, {0: batch}))
    args = make(9)
    _close(program.module()(*args), loss(*args))
