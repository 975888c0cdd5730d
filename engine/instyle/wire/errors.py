"""The one error type of the engine and its clients: a stable machine-readable `code`, a `message` saying what went
wrong and a `hint` saying what to do about it; for a request at fault, the pipeline `stage` and its `param`.

An error reply is such an error's fields (`reply`), and a client raises the error a reply describes (`from_reply`).
Every failure a client can cause is an `InstyleError` (or one of its kinds, which give a default hint); anything
else escaping a request is a bug in the engine, answered as code "internal".
"""

from __future__ import annotations


class InstyleError(Exception):
    """A failure with a `code` (a short word, stable across versions), a `message` and a `hint` (the kind's
    default `HINT` when not given); `stage` and `param` name the pipeline stage and parameter at fault, when known."""

    HINT = ""

    def __init__(self, code: str, message: str, hint: str | None = None, stage: str = "", param: str = ""):
        super().__init__(message)
        self.code, self.message = code, message
        self.hint = self.HINT if hint is None else hint
        self.stage, self.param = stage, param

    def __str__(self) -> str:
        return self.message

    def at_stage(self, stage: str) -> InstyleError:
        """This error, marked as raised by pipeline stage `stage` unless it names one already."""
        self.stage = self.stage or stage
        return self

    def reply(self, request_id: int | None = None) -> dict:
        """This error as an `error` reply (answering request `request_id`, when there is one)."""
        header = {"type": "error", "code": self.code, "message": self.message, "hint": self.hint}
        header.update({k: v for k, v in (("stage", self.stage), ("param", self.param)) if v})
        if request_id is not None:
            header["id"] = request_id
        return header

    @classmethod
    def from_reply(cls, reply: dict) -> InstyleError:
        """The error an `error` reply describes."""
        return cls(reply["code"], reply["message"], reply.get("hint", ""), reply.get("stage", ""),
                   reply.get("param", ""))
