"""The error reply for an exception escaping a request: an `InstyleError` answers with its own code, message and
hint; anything else is a bug in the engine, answered as code "internal" with a short hint, its traceback logged
here on the engine's side only."""

from __future__ import annotations

import logging

from .wire import InstyleError

log = logging.getLogger("instyle")

INTERNAL_HINT = "this is a bug in the engine: its log has the details; please report it"


def failure_reply(exc: BaseException, request_id: int | None = None) -> dict:
    """The `error` reply for `exc`, answering request `request_id` (when there is one)."""
    if isinstance(exc, InstyleError):
        return exc.reply(request_id)
    log.error("request %s failed", request_id, exc_info=exc)
    message = f"engine error: {type(exc).__name__}: {exc}"
    return InstyleError("internal", message[:500], INTERNAL_HINT, getattr(exc, "instyle_stage", "")).reply(request_id)
