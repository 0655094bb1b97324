"""Errors the paper exchange answers with, in Binance's ``{"code", "msg"}`` shape.

Every refusal inside the server is a :class:`PaperError`; the dispatcher in ``_app`` turns it into
an HTTP response with Binance's status and JSON body. Nothing else escapes to aiohttp: an
unexpected exception becomes ``-1000`` with HTTP 500 and the server keeps serving.
"""

from __future__ import annotations

__all__ = [
    "PaperError",
    "bad_param",
    "illegal_chars",
    "mandatory",
]


class PaperError(Exception):
    """A Binance-style refusal: ``code``/``msg`` go on the wire; ``status`` is the HTTP status."""

    __slots__ = ("code", "headers", "msg", "status")

    def __init__(
        self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers

    def body(self) -> dict[str, object]:
        """The JSON body Binance sends for this error."""
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> PaperError:
    """``-1102``: a required parameter is missing or empty."""
    return PaperError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def illegal_chars(name: str, legal: str) -> PaperError:
    """``-1100``: a parameter does not match its pattern."""
    return PaperError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def bad_param(name: str) -> PaperError:
    """``-1130``: a parameter's value is not valid (e.g. unparseable JSON)."""
    return PaperError(-1130, f"Data sent for parameter '{name}' is not valid.")
