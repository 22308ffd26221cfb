"""``torch.compile`` integration: each public loss function is one node of Dynamo's graph.

Traced through, a losskit call costs Dynamo a guard for every global, attribute, default and
builtin that its Python touches (the namespace lookup, the argument checks, ``finish``,
array-api-compat's wrappers): 200-300 guard entries per loss against ~30 for a
``torch.nn.functional`` call, all checked before *every* call of the compiled function. That
fixed cost made compiled losskit 1.06-1.26x compiled ``torch.nn.functional`` (H200), though the
ATen graphs were op for op the same. ``torch.nn.functional``'s losses avoid it by being graph
nodes that Dynamo does not introspect; :func:`register_with_dynamo` gives losskit's functions
the same standing with ``torch.compiler.allow_in_graph``. AOTAutograd still traces *inside*
them, so the forward and backward graphs, and inductor's kernels, do not change.

``allow_in_graph``'s contract, which every function of :mod:`losskit.functional` keeps (and
``tests/test_compile.py`` checks for every case): the inputs are tensors, Python numbers,
strings, bools or None; no tensor is captured from outside; nothing depends on tensor *values*
while compiling (the value checks, class indices in range say, are skipped then, as before).
A number Dynamo makes dynamic arrives as a ``torch.SymFloat``/``SymInt``
(:func:`is_symbolic_number`); the checks accept it, and the formula carries it symbolically,
so a loss weight that changes on every call does not recompile every time. A bad argument
still raises losskit's error, inside Dynamo's ``TorchRuntimeError`` as a
``torch.nn.functional`` call's would.

Registering imports ``torch._dynamo`` (1-2 s), which a torch user who never compiles should
not pay for, and losskit never imports torch itself. So it runs once Dynamo is loaded, at the
first of: importing losskit, constructing a loss, a losskit call on tensors, calling a loss
object inside a trace (before its function is reached, so that its first graph has it as a
node). The one case left: if the first losskit call inside ``torch.compile`` is a function of
:mod:`losskit.functional` not preceded by any of these, that call is traced through in that
one graph (the same result, more guards); later graphs have the node.
"""

from __future__ import annotations

import sys
from typing import Any

_registered = False


def torch_compiling() -> bool:
    """True while Dynamo traces (without importing torch when it is not loaded): where reading a
    global (a cache) would put a guard on it into the graph. See also :func:`torch_tracing`."""
    torch = sys.modules.get("torch")  # never imports torch
    return torch is not None and bool(torch.compiler.is_compiling())


def torch_tracing() -> bool:
    """True while torch traces rather than computes, so that values cannot be read: any pass of
    ``torch.compile`` (Dynamo's, and the passes after it that run Python on fake tensors:
    AOTAutograd runs a function of :mod:`losskit.functional`, a graph node, to trace it), and
    ``make_fx`` / ``torch.export`` or a ``FakeTensorMode`` outside it.

    ``torch.compiler.is_compiling()`` says so in AOTAutograd only in recent torch (pytorch#184614,
    2026); before, the value checks read a fake tensor there and failed the compile. A fake
    tensor mode is active in every pass after Dynamo's, in every torch that losskit supports, and
    make_fx's proxy mode in its tracing: both show as torch dispatch modes.
    """
    if torch_compiling():
        return True
    if _fake_or_proxy_mode is None and not _bind_mode_test():
        return False
    return _fake_or_proxy_mode()


_fake_or_proxy_mode: Any = None


def _bind_mode_test() -> bool:
    """Bind :func:`torch_tracing`'s dispatch-mode test once (~0.25 us a call then); False while
    torch is not loaded."""
    global _fake_or_proxy_mode
    torch = sys.modules.get("torch")  # never imports torch
    if torch is None:
        return False
    get_mode = torch._C._get_dispatch_mode
    fake, proxy = torch._C._TorchDispatchModeKey.FAKE, torch._C._TorchDispatchModeKey.PROXY

    def fake_or_proxy_mode() -> bool:
        return get_mode(fake) is not None or get_mode(proxy) is not None

    _fake_or_proxy_mode = fake_or_proxy_mode
    return True


def is_symbolic_number(x: Any) -> bool:
    """True for ``torch.SymInt`` / ``torch.SymFloat``: what a Python number argument becomes inside
    a compiled graph when Dynamo makes it dynamic (a loss weight that changes between calls, say)."""
    kind = type(x)
    return kind.__name__ in ("SymInt", "SymFloat") and kind.__module__ == "torch"  # without importing torch


def register_with_dynamo() -> bool:
    """Mark every function of :mod:`losskit.functional` ``allow_in_graph`` (once, once Dynamo is loaded).

    Returns whether it is done. Cheap to call again: one global read.
    """
    global _registered
    if not _registered and sys.modules.get("torch._dynamo") is not None:  # never imports torch or Dynamo
        import torch

        from . import functional

        torch.compiler.allow_in_graph([getattr(functional, name) for name in functional.__all__])
        _registered = True
    return _registered


# What torch.compiler.assume_constant_result(fn) sets, set by hand to keep torch out of losskit's
# import: met inside a trace (a loss called or constructed in a compiled function), Dynamo *runs*
# these functions instead of tracing them (and trace-rule internals), and leaves nothing in the
# graph, nor guards on the globals they read.
register_with_dynamo._dynamo_marked_constant = True  # type: ignore[attr-defined]
