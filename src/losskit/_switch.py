"""An on/off setting with a process-wide default and ``with`` blocks of a context's own: each
thread, and each asyncio task, sees only its own blocks (a block in one changes nothing in
another), as ``decimal``'s contexts and NumPy's ``errstate`` do. A module global saved and
restored by each block was shared: a block in one thread turned the setting off in every other,
and two that overlapped left it as the one that closed last had found it, off for good.

Read under ``torch.compile``, the setting is a constant of the graph: the readers
(:func:`losskit._core.value_checks_on`, :func:`losskit._fast.fast_paths_on`) are marked for
Dynamo to run, not trace, and the functions of :mod:`losskit.functional` are graph nodes that
AOTAutograd traces once; a graph keeps the setting it was compiled with."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator


class Switch:
    """``on()``: the innermost open block's setting in this context, else the default. While no
    block is open anywhere, it reads one attribute (no context lookup)."""

    def __init__(self, name: str, default: bool) -> None:
        self.default = default
        self._blocks = 0  # blocks open in any context
        self._setting: contextvars.ContextVar[bool | None] = contextvars.ContextVar(name, default=None)
        self._lock = threading.Lock()

    def on(self) -> bool:
        if self._blocks:
            setting = self._setting.get()
            return self.default if setting is None else setting
        return self.default

    @contextlib.contextmanager
    def block(self, enabled: bool) -> Iterator[None]:
        token = self._setting.set(enabled)
        with self._lock:
            self._blocks += 1
        try:
            yield
        finally:
            with self._lock:
                self._blocks -= 1
            try:
                self._setting.reset(token)
            except ValueError:  # closed in another context (a generator finalised in another thread)
                pass
