"""Test helpers: the installed array backends, conversion to and from NumPy, result checks."""

from __future__ import annotations

import importlib.util
from typing import Any

import array_api_compat
import numpy as np

BACKENDS = [
    name
    for name, module in (("numpy", "numpy"), ("torch", "torch"), ("jax", "jax"), ("strict", "array_api_strict"))
    if importlib.util.find_spec(module) is not None
]
AUTOGRAD_BACKENDS = [b for b in BACKENDS if b in ("torch", "jax")]

if "jax" in BACKENDS:
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 tests; int64 labels stay int64


def float_dtype(backend: str, name: str) -> Any:
    if backend == "numpy":
        return np.dtype(name) if name != "bfloat16" else None
    if backend == "torch":
        import torch

        return getattr(torch, name)
    if backend == "jax":
        import jax.numpy as jnp

        return getattr(jnp, name)
    import array_api_strict as xp

    return getattr(xp, name, None)


def dtypes_for(backend: str) -> list[str]:
    names = ["float32", "float64"]
    if backend == "strict":  # array_api_strict has the standard's float32 and float64 only
        return names
    return names + ["float16", "bfloat16"] if backend in ("torch", "jax") else names + ["float16"]


def to_backend(x: Any, backend: str, dtype: str | None = None) -> Any:
    """A NumPy array (or scalar) as an array of ``backend``; floats cast to ``dtype`` if given."""
    if x is None or isinstance(x, (int, float)):
        return x
    x = np.asarray(x)
    is_float = np.issubdtype(x.dtype, np.floating)
    if backend == "numpy":
        return x.astype(dtype) if (dtype and is_float) else x.copy()
    if backend == "torch":
        import torch

        t = torch.from_numpy(x.copy())
        return t.to(float_dtype("torch", dtype)) if (dtype and is_float) else t
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.asarray(x, dtype=float_dtype("jax", dtype) if (dtype and is_float) else None)
    import array_api_strict as xp

    if dtype and is_float and float_dtype("strict", dtype) is None:  # not a silent float64 instead
        raise ValueError(f"array_api_strict has no {dtype}")
    return xp.asarray(x, dtype=float_dtype("strict", dtype) if (dtype and is_float) else None)


def to_numpy(x: Any) -> np.ndarray:
    if array_api_compat.is_torch_array(x):
        x = x.detach().cpu()
        if x.dtype.is_floating_point and x.element_size() < 4:
            x = x.float()
        return x.numpy()
    if array_api_compat.is_jax_array(x):
        return np.asarray(x.astype("float32") if x.dtype.itemsize < 4 and x.dtype.kind in "fV" else x)
    if isinstance(x, (np.ndarray, np.generic, int, float)):
        return np.asarray(x)
    return np.asarray(np.from_dlpack(x))


def assert_result(out: Any, pred: Any, shape: tuple[int, ...]) -> None:
    """The result is an array of ``pred``'s library, dtype and device, with ``shape``."""
    assert array_api_compat.array_namespace(out) is array_api_compat.array_namespace(pred)
    assert out.dtype == pred.dtype, (out.dtype, pred.dtype)
    assert tuple(out.shape) == shape, (tuple(out.shape), shape)
    assert array_api_compat.device(out) == array_api_compat.device(pred)


def autograd_grads(
    fn: Any, args: list[Any], float_args: tuple[int, ...], lib: str, jit: bool = False
) -> list[np.ndarray]:
    """Gradients of ``sum(fn(*args))`` with respect to ``args[i]`` for ``i`` in ``float_args``, by
    autograd in ``lib`` ("torch" or "jax"; ``args`` already that library's arrays)."""
    if lib == "torch":
        import torch

        leaves = [args[i].requires_grad_(True) for i in float_args]
        return [g.detach().numpy() for g in torch.autograd.grad(fn(*args).sum(), leaves)]
    import jax

    def total(*xs: Any) -> Any:
        call = list(args)
        for i, x in zip(float_args, xs):
            call[i] = x
        return fn(*call).sum()

    grad = jax.grad(total, argnums=tuple(range(len(float_args))))
    grads = (jax.jit(grad) if jit else grad)(*[args[i] for i in float_args])
    return [np.asarray(to_numpy(g)) for g in grads]


def check_values_and_gradients(loss, args, want, want_grads=(), float_args=(0,), rtol=1e-10, atol=1e-12) -> None:
    """``loss(*args)`` (NumPy arguments) equals ``want`` on every backend, the ``float_args`` in
    float64, and the gradients of its sum with respect to them equal ``want_grads`` on PyTorch and
    JAX (none compared when ``want_grads`` is empty)."""
    for backend in BACKENDS:
        full = [to_backend(a, backend, "float64" if i in float_args else None) for i, a in enumerate(args)]
        np.testing.assert_allclose(to_numpy(loss(*full)), want, rtol=rtol, atol=atol, err_msg=backend)
    for backend in AUTOGRAD_BACKENDS if len(want_grads) else ():
        full = [to_backend(a, backend, "float64" if i in float_args else None) for i, a in enumerate(args)]
        for i, (got, ref) in enumerate(zip(autograd_grads(loss, full, float_args, backend), want_grads)):
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=f"{backend} d/d arg {float_args[i]}")


def torch_reference(fn, args, float_args=(0,)):
    """``fn`` (written with torch ops) on NumPy ``args``, the ``float_args`` as float64 leaves: its
    value and the gradients of its sum with respect to them, as NumPy arrays."""
    import torch

    t = [
        torch.tensor(a, dtype=torch.float64 if i in float_args else None, requires_grad=i in float_args)
        for i, a in enumerate(args)
    ]
    out = fn(*t)
    grads = torch.autograd.grad(out.sum(), [t[i] for i in float_args])
    return out.detach().numpy(), [g.numpy() for g in grads]
