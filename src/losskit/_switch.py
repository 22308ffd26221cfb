"""An on/off setting with a process-wide default and ``with`` blocks of a context's own: each
thread, and each asyncio task, sees only its own blocks (a block in one changes nothing in
another), as ``decimal``'s contexts and NumPy's ``errstate`` do; a task started inside a block
(which copies the context) shares that block, and sees it end when it ends. A module global saved and
restored by each block was shared: a block in one thread turned the setting off in every other,
and two that overlapped left it as the one that closed last had found it, off for good.

Read under ``torch.compile``, the setting is a constant of the graph: the readers
(:func:`losskit._core.value_checks_on`, :func:`losskit._fast.fast_paths_on`) are marked for
Dynamo to run, not trace, and the functions of :mod:`losskit.functional` are graph nodes that
AOTAutograd traces once; a graph keeps the setting it was compiled with."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator


class _Block:
    """An open ``with`` block's setting, and the block it was opened inside (``outer``)."""

    __slots__ = ("enabled", "outer", "open")

    def __init__(self, enabled: bool, outer: _Block | None) -> None:
        self.enabled, self.outer, self.open = enabled, outer, True


class Switch:
    """``on()``: the innermost open block's setting in this context, else the default."""

    def __init__(self, name: str, default: bool) -> None:
        self.default = default
        self._innermost: contextvars.ContextVar[_Block | None] = contextvars.ContextVar(name, default=None)

    def _innermost_open(self) -> _Block | None:
        block = self._innermost.get()
        # a block closed in another context (a generator finalised in another thread) cannot
        # reset this one: it is marked closed, and passed over (and never chained on)
        while block is not None and not block.open:
            block = block.outer
        return block

    def on(self) -> bool:
        block = self._innermost_open()
        return self.default if block is None else block.enabled

    @contextlib.contextmanager
    def block(self, enabled: bool) -> Iterator[None]:
        block = _Block(enabled, self._innermost_open())
        token = self._innermost.set(block)
        try:
            yield
        finally:
            block.open = False
            # reset only if it is still the innermost: a block inside it that is still open (closed
            # out of order) stays in force; on() passes over this one once that one is reset
            if self._innermost.get() is block:
                try:
                    self._innermost.reset(token)
                except ValueError:  # closed in another context: passed over there by on()
                    pass
