"""Bearer-token authentication from kube-apiserver's static token file (``--token-file``).

The file is CSV: ``token,user,uid,"group1,group2"`` (groups optional). The lab mints one token per
persona (cluster-admin, the bot) so the audit log can say who did what.
"""

from __future__ import annotations

import csv
import hmac
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lab.kube.objects import UserInfo

__all__ = ["TokenAuthenticator", "parse_token_file"]


def parse_token_file(text: str) -> dict[str, UserInfo]:
    """Token → user; blank lines and ``#`` comments are skipped, short lines rejected."""
    users: dict[str, UserInfo] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 3:
            raise ValueError(f"token file line {number}: need at least token,user,uid")
        token, user, uid = (field.strip() for field in row[:3])
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
        if not token or not user:
            raise ValueError(f"token file line {number}: empty token or user")
        users[token] = UserInfo(name=user, uid=uid, groups=(*groups, "system:authenticated"))
    return users


@dataclass(frozen=True)
class TokenAuthenticator:
    """Maps ``Authorization: Bearer <token>`` to a user; no token file means everyone is admin."""

    tokens: Mapping[str, UserInfo] | None = None

    @classmethod
    def from_file(cls, path: str | Path | None) -> TokenAuthenticator:
        if path is None:
            return cls(None)
        return cls(parse_token_file(Path(path).read_text()))

    @property
    def enabled(self) -> bool:
        return self.tokens is not None

    def authenticate(self, authorization: str | None) -> UserInfo | None:
        """The user for an Authorization header, or None when it is missing or wrong."""
        if self.tokens is None:
            return UserInfo("system:admin", groups=("system:masters", "system:authenticated"))
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        for known, user in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None
