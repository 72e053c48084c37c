"""Why a command was refused. Services raise these; the API turns them into JSON errors."""

from __future__ import annotations


class GameError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, detail: str, fields: dict[str, str] | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or {}
        if code:
            self.code = code


class Invalid(GameError):
    """Malformed or out of range: the request can never succeed as written (400)."""


class NotFound(GameError):
    """The object does not exist, or is not the player's (404: both look the same)."""

    status = 404
    code = "not_found"


class Conflict(GameError):
    """Well formed but impossible now: not enough ships, deuterium, stock or cargo room (409)."""

    status = 409
    code = "conflict"
