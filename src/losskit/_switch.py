"""An on/off setting with a process-wide default and per-thread ``with`` blocks, as
``torch.no_grad`` is per thread: a block in one thread changes nothing in another, and blocks
that overlap in two threads restore each their own thread's setting (a module global saved and
restored by each block left it as the block that closed last had found it: off for good)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class Switch:
    """``on()`` is the innermost open block's setting in this thread, else the default. While no
    block is open anywhere, it reads one attribute (no thread-local lookup); ``torch.compile``
    guards on that count and on the default, and traces the thread-local read while a block is
    open."""

    def __init__(self, default: bool) -> None:
        self.default = default
        self._blocks = 0  # blocks open in any thread
        self._local = threading.local()
        self._lock = threading.Lock()

    def on(self) -> bool:
        if self._blocks:
            return getattr(self._local, "setting", self.default)
        return self.default

    @contextlib.contextmanager
    def block(self, enabled: bool) -> Iterator[None]:
        previous = getattr(self._local, "setting", None)
        with self._lock:
            self._blocks += 1
        self._local.setting = enabled
        try:
            yield
        finally:
            if previous is None:
                del self._local.setting
            else:
                self._local.setting = previous
            with self._lock:
                self._blocks -= 1
