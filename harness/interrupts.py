"""Stopping on a signal: SIGTERM and SIGHUP do what Ctrl-C (SIGINT) does, and the exit code says which came.

CI runners and Kubernetes cancel with SIGTERM, a closed terminal sends SIGHUP. Left to their
default, either kills the process on the spot: no results flushed, run.json left "running",
forked workers orphaned. Within ``signals_as_ctrl_c`` each is passed to whatever handles SIGINT
at that moment (asyncio's cancellation of a run, a worker's stop-once handler, a handler that
holds the signal until a message is sent whole), so every path that is safe for Ctrl-C is safe
for them, a second signal included; the KeyboardInterrupt that results leaves the block as an
``Interrupted`` naming the first signal, for the CLI's exit code (128 + its number). A process
started with Ctrl-C ignored (a script's background job) takes Ctrl-C's handling within the block.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """Stopped by ``signum`` (SIGINT, SIGTERM or SIGHUP); ``directory`` is the run folder it leaves to resume."""

    def __init__(self, signum: int, directory: Path | None = None):
        super().__init__(signum)
        self.signum = signum
        self.directory = directory

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


@contextlib.contextmanager
def signals_as_ctrl_c(directory: Path | None = None) -> Iterator[None]:
    """SIGTERM and SIGHUP act as Ctrl-C in the block (and in processes forked in it); a KeyboardInterrupt leaving
    it becomes ``Interrupted(first signal, directory)``. Off the main thread, where Python takes no signals, only
    the latter."""
    received: list[int] = []

    def as_ctrl_c(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):  # else SIG_IGN: the process is stopping already, and ignores further signals
            handler(signal.SIGINT, frame)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, as_ctrl_c) for signum in STOP_SIGNALS}
        if not callable(signal.getsignal(signal.SIGINT)):
            # Started with Ctrl-C ignored (a script's background job): the signals above need Ctrl-C's handling.
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(received[0] if received else signal.SIGINT, directory) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
