"""The audit log: one JSON line per served request (``--audit-log``).

It records who did what to which object and how it ended, and nothing else: no request or response
bodies, no headers, so tokens and secret data never reach the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from lab.kube.objects import format_time
from lab.kube.requestinfo import RequestInfo

__all__ = ["AuditLog", "AuditRecord"]


@dataclass(frozen=True)
class AuditRecord:
    time: datetime
    user: str
    info: RequestInfo
    code: int

    def to_json(self) -> str:
        info = self.info
        record = {
            "time": format_time(self.time),
            "user": self.user,
            "verb": info.verb,
            "apiGroup": info.api_group,
            "apiVersion": info.api_version,
            "resource": info.resource,
            "subresource": info.subresource,
            "namespace": info.namespace,
            "name": info.name,
            "code": self.code,
        }
        if not info.is_resource_request:
            record["path"] = info.path
        return json.dumps(record, separators=(",", ":"))


class AuditLog:
    """Appends records to a file, one flushed line each, so a crash loses at most the current one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, record: AuditRecord) -> None:
        if self._file is None:
            self.open()
        assert self._file is not None
        self._file.write(record.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
