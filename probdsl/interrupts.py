"""Ctrl-C and SIGTERM during a fit: stop at once, write nothing.

A compiled sampling loop (NumPyro runs warmup and sampling as one XLA computation)
does not return to Python until it ends, possibly minutes later, and Python only
handles a signal between bytecodes of the main thread.  So the CLI runs the fit in
a worker thread and the main thread waits on it, free to take the signal at once;
the CLI then exits without waiting for the abandoned computation.  SIGTERM is
turned into :class:`Terminated`, a ``KeyboardInterrupt``, so every cleanup that
runs on Ctrl-C (the atomic writes' temporary files) runs on it too.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable, TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.1


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread."""


def raise_on_sigterm() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread (call from the main thread)."""
    def terminate(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)


_unfinished: list[threading.Event] = []


def run_interruptibly(work: Callable[[], T]) -> T:
    """``work()`` in a worker thread, the caller waiting on it; a ``KeyboardInterrupt`` in the
    caller leaves the worker running (see :func:`abandoned_work`).  The caller waits on an event,
    not on ``Thread.join``: an interrupted ``join`` can mark a running thread stopped (Python 3.11)."""
    outcome: dict[str, object] = {}
    done = threading.Event()

    def target():
        try:
            outcome["value"] = work()
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread below
            outcome["error"] = error
        finally:
            done.set()

    _unfinished.append(done)
    threading.Thread(target=target, name="probdsl-work", daemon=True).start()
    while not done.wait(POLL_SECONDS):
        pass
    _unfinished.remove(done)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def abandoned_work() -> bool:
    """Whether an interrupted :func:`run_interruptibly` left its worker running: the process must then
    end with ``os._exit``, as a normal exit would wait for the computation to finish."""
    return any(not done.is_set() for done in _unfinished)
