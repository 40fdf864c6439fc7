"""Typed API errors and the ``Status`` objects they become on the wire.

The in-process :class:`~lab.kube.store.Store` raises these, and the HTTP layer turns any of them into
the ``meta/v1 Status`` a real kube-apiserver would send, so kubectl and the official Python client
print the messages their users know (``machines.machine.openshift.io "x" not found``).
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "InternalError",
    "Invalid",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "status_object",
]


class ApiError(Exception):
    """An error with the HTTP code and ``Status.reason`` a kube-apiserver would give it."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        return status_object(self.code, self.reason, self.message, self.details)


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    code = 404
    reason = "NotFound"

    @classmethod
    def object(cls, group_resource: str, name: str, *, group: str = "", kind: str = "") -> NotFound:
        return cls(
            f'{group_resource} "{name}" not found',
            {"name": name, "group": group, "kind": kind or group_resource.split(".", 1)[0]},
        )


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class NotAcceptable(ApiError):
    code = 406
    reason = "NotAcceptable"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"

    @classmethod
    def object(cls, group_resource: str, name: str, *, group: str = "", kind: str = "") -> AlreadyExists:
        return cls(
            f'{group_resource} "{name}" already exists',
            {"name": name, "group": group, "kind": kind or group_resource.split(".", 1)[0]},
        )


class Conflict(ApiError):
    code = 409
    reason = "Conflict"

    @classmethod
    def modified(cls, group_resource: str, name: str, *, group: str = "", kind: str = "") -> Conflict:
        return cls(
            f'Operation cannot be fulfilled on {group_resource} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            {"name": name, "group": group, "kind": kind or group_resource.split(".", 1)[0]},
        )


class Gone(ApiError):
    code = 410
    reason = "Expired"


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(ApiError):
    code = 422
    reason = "Invalid"


class InternalError(ApiError):
    code = 500
    reason = "InternalError"


class Unavailable(ApiError):
    """etcd cannot answer (no quorum, every endpoint down): the server must not guess."""

    code = 503
    reason = "ServiceUnavailable"


def status_object(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        status["details"] = details
    return status
