"""In-order delivery of events to user handlers.

Handlers may be plain functions or coroutine functions. They never run inside
the core's input processing (a handler may call back into the agent): each
call is queued and run from the event loop, in the order the events happened.
A coroutine handler holds back the later calls until it finishes. Exceptions
from handlers are logged, never propagated.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Notifier"]

logger = logging.getLogger(__name__)

#: The notifier whose coroutine handler runs in this context. Tasks created by
#: the handler (``asyncio.gather``, ``asyncio.wait_for`` on 3.11) copy it, so a
#: close() they run knows not to wait for the handler that awaits them.
_RUNNING_HANDLER: contextvars.ContextVar[Notifier | None] = contextvars.ContextVar(
    "icekit_running_handler", default=None
)


class Notifier:
    """A queue of handler calls run in order on one event loop."""

    __slots__ = ("_get_loop", "_pending", "_scheduled", "_task")

    def __init__(self, get_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self._get_loop = get_loop
        # A list, not a deque: an agent sees a handful of events, and an
        # empty deque costs ten times the memory.
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._scheduled = False
        self._task: asyncio.Task[None] | None = None

    def notify(self, handler: Callable[..., Any] | None, *args: Any) -> None:
        """Queue ``handler(*args)``; nothing happens when ``handler`` is None."""
        if handler is None:
            return
        self._pending.append((handler, args))
        if not self._scheduled and self._task is None:
            self._scheduled = True
            self._get_loop().call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        pending = self._pending
        while pending and self._task is None:
            handler, args = pending.pop(0)
            try:
                result = handler(*args)
            except Exception:
                logger.exception("event handler %r raised", handler)
                continue
            if inspect.isawaitable(result):
                self._task = self._get_loop().create_task(self._await(result))

    async def _await(self, awaitable: Awaitable[Any]) -> None:
        _RUNNING_HANDLER.set(self)  # this task's own context copy
        try:
            await awaitable
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("event handler raised")
        finally:
            self._task = None
        self._run()

    async def flush(self) -> None:
        """Run every queued call now; returns at once when called from a handler."""
        if _RUNNING_HANDLER.get() is self:
            return  # waiting for the handler would wait for ourselves
        while True:
            task = self._task
            if task is not None:
                await asyncio.wait({task})
                continue
            if not self._pending:
                return
            self._run()
