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


_AFTER_LOSSKIT = """
import sys
import losskit
assert "torch" not in sys.modules  # losskit never imports torch itself
import torch
from losskit import _compile
assert not _compile._registered
"""


@pytest.mark.parametrize(
    "script",
    [
        "import torch\nimport losskit\nfrom losskit import _compile",  # importing losskit after torch
        _AFTER_LOSSKIT + "losskit.L2Loss()",  # constructing a loss
        _AFTER_LOSSKIT + "losskit.functional.l2_loss(torch.ones(2, 3), torch.zeros(2, 3))",  # an eager call
        _AFTER_LOSSKIT
        + "torch.compile(lambda a: losskit.L2Loss()(a, a), backend='eager', fullgraph=True)(torch.ones(2, 3))",
    ],
    ids=["import-after-torch", "construct", "eager-call", "construct-inside-compile"],
)
def test_registration_with_dynamo(script):
    """The functions are registered with Dynamo by the first of the triggers ``_compile`` lists."""
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
