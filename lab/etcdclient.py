"""Async etcd v3 client that speaks etcd's JSON gRPC-gateway (``/v3/...``) with aiohttp.

Why the gateway rather than gRPC: the lab needs nothing beyond aiohttp, which every lab part already
uses, and the gateway is served by every etcd 3.4/3.5 on its client port. Keys and values travel
base64-encoded and int64 fields as decimal strings; fields equal to their default are omitted, so every
read of a response field supplies its default.

Why the fail-over and the deadline: the lab's API server must never answer from stale data and must
fail fast when etcd cannot answer. A linearizable read sent to a member that lost quorum does not fail,
it hangs; so every call has one overall deadline, split across the endpoints still to try, and ends
in :class:`EtcdUnavailable` when no endpoint answered in time. Gateway answers that mean "this member
cannot serve now" (gRPC Unavailable, DeadlineExceeded, no leader) move on to the next endpoint too.

Retrying a write on another endpoint after a timeout can apply it twice (the first member may have
committed it after all); the callers here use compare-and-swap transactions, so a duplicate shows up
as a failed comparison rather than as silent corruption.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import aiohttp

__all__ = [
    "EndpointStatus",
    "EtcdClient",
    "EtcdCompacted",
    "EtcdError",
    "EtcdUnavailable",
    "KeyValue",
    "Member",
    "RangeResult",
    "WatchEvent",
    "WatchResponse",
    "prefix_range_end",
]

_GRPC_DEADLINE_EXCEEDED = 4
_GRPC_UNAVAILABLE = 14
_MEMBERSHIP_SPACING = 0.3  # seconds between membership changes sent through one client
# Messages that mean "this member cannot serve right now; another one might".
_RETRYABLE_MESSAGES = (
    "no leader",
    "leader changed",
    "request timed out",
    "timed out",
    "not capable",
    "too many requests",
    "server stopped",
    "unhealthy cluster",
)


class EtcdError(Exception):
    """etcd answered, but with an error (bad request, member not found, ...)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class EtcdUnavailable(EtcdError):
    """No endpoint answered within the deadline, or every endpoint said it cannot serve (no quorum)."""


class EtcdCompacted(EtcdError):
    """A watch asked for a revision that etcd has already compacted away."""

    def __init__(self, message: str, compact_revision: int) -> None:
        super().__init__(message)
        self.compact_revision = compact_revision


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@dataclass(frozen=True)
class RangeResult:
    kvs: tuple[KeyValue, ...]
    revision: int  # the store's revision when the read was served
    count: int
    more: bool


@dataclass(frozen=True)
class Member:
    id: int
    name: str  # empty until an added member has started
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool

    @property
    def hex_id(self) -> str:
        """The ID as etcdctl prints it in tables."""
        return f"{self.id:x}"


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: str
    member_id: int
    leader: int
    revision: int
    raft_term: int
    raft_index: int
    db_size: int
    db_size_in_use: int
    version: str
    is_learner: bool
    errors: tuple[str, ...]


@dataclass(frozen=True)
class WatchEvent:
    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None


@dataclass(frozen=True)
class WatchResponse:
    revision: int  # header revision of this batch
    events: tuple[WatchEvent, ...]


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def prefix_range_end(prefix: str | bytes) -> bytes:
    """The exclusive end key covering every key that starts with ``prefix`` (etcdctl --prefix)."""
    raw = bytearray(prefix.encode() if isinstance(prefix, str) else prefix)
    while raw:
        if raw[-1] < 0xFF:
            raw[-1] += 1
            return bytes(raw)
        raw.pop()
    return b"\0"  # every key


def _int(data: Mapping[str, Any], field: str) -> int:
    value = data.get(field, 0)
    return int(value) if value not in (None, "") else 0


def _kv(data: Mapping[str, Any]) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(data.get("key", "")).decode("utf-8", errors="surrogateescape"),
        value=base64.b64decode(data.get("value", "")),
        create_revision=_int(data, "create_revision"),
        mod_revision=_int(data, "mod_revision"),
        version=_int(data, "version"),
    )


def _member(data: Mapping[str, Any]) -> Member:
    return Member(
        id=_int(data, "ID"),
        name=str(data.get("name", "")),
        peer_urls=tuple(data.get("peerURLs", ())),
        client_urls=tuple(data.get("clientURLs", ())),
        is_learner=bool(data.get("isLearner", False)),
    )


def _range_result(data: Mapping[str, Any]) -> RangeResult:
    header = data.get("header", {})
    return RangeResult(
        kvs=tuple(_kv(item) for item in data.get("kvs", ())),
        revision=_int(header, "revision"),
        count=_int(data, "count"),
        more=bool(data.get("more", False)),
    )


def _retryable(code: int | None, message: str) -> bool:
    if code in (_GRPC_UNAVAILABLE, _GRPC_DEADLINE_EXCEEDED):
        return True
    lowered = message.lower()
    return any(fragment in lowered for fragment in _RETRYABLE_MESSAGES)


class EtcdClient:
    """A small etcd v3 client over the JSON gateway, with endpoint fail-over and a per-call deadline.

    Use it as an async context manager (or call :meth:`close`); the HTTP session is opened lazily on
    first use, inside the running event loop. ``endpoints`` are base URLs such as
    ``https://127.0.0.11:2379``; ``ssl_context`` carries the CA and client certificate for TLS
    endpoints. ``timeout`` (seconds) bounds each call, across all the endpoints it tries.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 2.5,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self.endpoints: tuple[str, ...] = tuple(e.rstrip("/") for e in endpoints)
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._preferred = 0  # index of the endpoint that answered last
        self._membership_lock: asyncio.Lock | None = None
        self._last_membership_change = 0.0

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl_context if self._ssl_context is not None else True,
                limit=64,
                keepalive_timeout=30,
            )
            self._session = aiohttp.ClientSession(connector=connector, json_serialize=json.dumps)
        return self._session

    def _ordered(self, endpoints: Iterable[str] | None) -> list[str]:
        if endpoints is not None:
            return [e.rstrip("/") for e in endpoints]
        n = len(self.endpoints)
        return [self.endpoints[(self._preferred + i) % n] for i in range(n)]

    async def _call(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        endpoints: Iterable[str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline shared across fail-over tries
    ) -> dict[str, Any]:
        """POST ``body`` to ``path`` on the first endpoint that answers within the deadline."""
        loop = asyncio.get_running_loop()
        budget = self.timeout if timeout is None else timeout
        deadline = loop.time() + budget
        order = self._ordered(endpoints)
        failures: list[str] = []
        for index, endpoint in enumerate(order):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            per_try = remaining / (len(order) - index)
            try:
                async with self._http().post(
                    endpoint + path,
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=per_try),
                ) as resp:
                    text = await resp.text()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                failures.append(f"{endpoint}: {type(exc).__name__}: {exc}".rstrip(": "))
                continue
            try:
                data = json.loads(text) if text else {}
            except ValueError:
                failures.append(f"{endpoint}: HTTP {status}: {text[:200]!r}")
                continue
            if not isinstance(data, dict):
                raise EtcdError(f"unexpected answer from {endpoint}{path}: {text[:200]!r}")
            if status != 200 or "error" in data:
                message = str(data.get("message") or data.get("error") or f"HTTP {status}")
                code = data.get("code")
                code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
                if _retryable(code, message) or status in (502, 503, 504):
                    failures.append(f"{endpoint}: {message}")
                    continue
                raise EtcdError(message, code)
            if endpoints is None:
                self._preferred = self.endpoints.index(endpoint)
            return data
        detail = "; ".join(failures) if failures else "deadline exceeded"
        raise EtcdUnavailable(f"etcd did not answer within {budget:g}s ({detail})")

    # --- key-value -------------------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        """Linearizable read of one key."""
        result = await self._range({"key": _b64(key)})
        return result.kvs[0] if result.kvs else None

    async def range_prefix(self, prefix: str, limit: int = 0) -> tuple[tuple[KeyValue, ...], int]:
        """Linearizable read of every key under ``prefix``, sorted by key; returns (kvs, revision)."""
        body: dict[str, Any] = {"key": _b64(prefix), "range_end": _b64(prefix_range_end(prefix))}
        if limit:
            body["limit"] = str(limit)
        result = await self._range(body)
        return result.kvs, result.revision

    async def range_page(
        self, start: str | bytes, range_end: bytes, *, limit: int, revision: int = 0
    ) -> RangeResult:
        """One page of ``[start, range_end)``, at ``revision`` (0 = now) so that the pages of one list
        all read the same snapshot; ``more`` says whether keys remain after this page."""
        body: dict[str, Any] = {"key": _b64(start), "range_end": _b64(range_end), "limit": str(limit)}
        if revision:
            body["revision"] = str(revision)
        return await self._range(body)

    async def count_prefix(self, prefix: str) -> int:
        body = {"key": _b64(prefix), "range_end": _b64(prefix_range_end(prefix)), "count_only": True}
        return (await self._range(body)).count

    async def revision(self) -> int:
        """The store's current revision, read linearizably (a cheap quorum check)."""
        body = {"key": _b64("\0"), "count_only": True}
        return (await self._range(body)).revision

    async def _range(self, body: Mapping[str, Any], **kwargs: Any) -> RangeResult:
        return _range_result(await self._call("/v3/kv/range", body, **kwargs))

    async def put(self, key: str, value: bytes) -> int:
        """Unconditional write; returns the new revision."""
        data = await self._call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})
        return _int(data.get("header", {}), "revision")

    async def create(self, key: str, value: bytes) -> int | None:
        """Write ``key`` only if it does not exist; the new revision, or None when it exists."""
        compare = [{"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}]
        success = [{"request_put": {"key": _b64(key), "value": _b64(value)}}]
        data = await self._txn(compare, success)
        if not data.get("succeeded", False):
            return None
        return _int(data.get("header", {}), "revision")

    async def update_if(self, key: str, value: bytes, mod_revision: int) -> int | None:
        """Compare-and-swap on the key's mod revision; the new revision, or None when it changed."""
        compare = [{"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}]
        success = [{"request_put": {"key": _b64(key), "value": _b64(value)}}]
        data = await self._txn(compare, success)
        if not data.get("succeeded", False):
            return None
        return _int(data.get("header", {}), "revision")

    async def delete(self, key: str) -> KeyValue | None:
        """Delete one key; the deleted pair, or None when it did not exist."""
        data = await self._call("/v3/kv/deleterange", {"key": _b64(key), "prev_kv": True})
        prev = data.get("prev_kvs", ())
        return _kv(prev[0]) if prev else None

    async def delete_if(self, key: str, mod_revision: int) -> int | None:
        """Delete ``key`` only if its mod revision still matches; the new revision, or None."""
        compare = [{"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}]
        success = [{"request_delete_range": {"key": _b64(key)}}]
        data = await self._txn(compare, success)
        if not data.get("succeeded", False):
            return None
        return _int(data.get("header", {}), "revision")

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; how many were deleted."""
        body = {"key": _b64(prefix), "range_end": _b64(prefix_range_end(prefix))}
        return _int(await self._call("/v3/kv/deleterange", body), "deleted")

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        """Write all pairs in one transaction (bulk preload); returns the new revision.

        etcd caps the operations of one transaction (``--max-txn-ops``, 128 by default), so callers
        loading more than that split the work themselves.
        """
        success = [{"request_put": {"key": _b64(k), "value": _b64(v)}} for k, v in items]
        data = await self._txn([], success)
        return _int(data.get("header", {}), "revision")

    async def _txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]]) -> dict[str, Any]:
        return await self._call("/v3/kv/txn", {"compare": compare, "success": success, "failure": []})

    # --- cluster membership -----------------------------------------------------------------------

    async def _membership_change(
        self, path: str, body: Mapping[str, Any], budget: float | None
    ) -> dict[str, Any]:
        """One membership change at a time, spaced out.

        etcd's raft silently drops a configuration change proposed before the previous one is
        applied, and the request then hangs until its deadline; etcdctl users never notice because
        humans are slow. Changes made through this client wait for each other, plus a short pause.
        """
        if self._membership_lock is None:
            self._membership_lock = asyncio.Lock()
        async with self._membership_lock:
            loop = asyncio.get_running_loop()
            pause = self._last_membership_change + _MEMBERSHIP_SPACING - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            try:
                return await self._call(path, body, timeout=budget)
            finally:
                self._last_membership_change = loop.time()

    async def member_list(self) -> tuple[Member, ...]:
        data = await self._call("/v3/cluster/member/list", {"linearizable": True})
        return tuple(_member(m) for m in data.get("members", ()))

    async def member_add(
        self,
        peer_urls: Sequence[str],
        is_learner: bool = False,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the call's deadline, as for every call
    ) -> Member:
        """Add a member (``unstarted``, without a name, until it starts and joins).

        etcd drops a membership change proposed while the previous one is not yet applied (the
        request then hangs until its deadline); this client spaces its own changes out, but
        changes made by other clients at the same moment can still collide.
        """
        body = {"peerURLs": list(peer_urls), "isLearner": is_learner}
        data = await self._membership_change("/v3/cluster/member/add", body, timeout)
        return _member(data.get("member", {}))

    async def member_remove(
        self,
        member_id: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> tuple[Member, ...]:
        """Remove a member; the members that remain."""
        data = await self._membership_change("/v3/cluster/member/remove", {"ID": str(member_id)}, timeout)
        return tuple(_member(m) for m in data.get("members", ()))

    async def member_promote(
        self,
        member_id: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> tuple[Member, ...]:
        """Promote a learner (refused until it has caught up with the leader)."""
        data = await self._membership_change("/v3/cluster/member/promote", {"ID": str(member_id)}, timeout)
        return tuple(_member(m) for m in data.get("members", ()))

    # --- one endpoint -------------------------------------------------------------------------------

    async def status(self, endpoint: str, timeout: float | None = None) -> EndpointStatus:  # noqa: ASYNC109
        """``etcdctl endpoint status`` for one endpoint (served locally by that member)."""
        data = await self._call("/v3/maintenance/status", {}, endpoints=[endpoint], timeout=timeout)
        header = data.get("header", {})
        return EndpointStatus(
            endpoint=endpoint,
            member_id=_int(header, "member_id"),
            leader=_int(data, "leader"),
            revision=_int(header, "revision"),
            raft_term=_int(data, "raftTerm") or _int(header, "raft_term"),
            raft_index=_int(data, "raftIndex"),
            db_size=_int(data, "dbSize"),
            db_size_in_use=_int(data, "dbSizeInUse"),
            version=str(data.get("version", "")),
            is_learner=bool(data.get("isLearner", False)),
            errors=tuple(str(e) for e in data.get("errors", ())),
        )

    async def is_healthy(self, endpoint: str, timeout: float = 2.0) -> bool:  # noqa: ASYNC109
        """``etcdctl endpoint health``: a linearizable read of key "health" against that endpoint only."""
        try:
            await self._range({"key": _b64("health")}, endpoints=[endpoint], timeout=timeout)
        except EtcdError:
            return False
        return True

    # --- watch ----------------------------------------------------------------------------------------

    async def watch_prefix(
        self, prefix: str, start_revision: int, *, connect_timeout: float | None = None
    ) -> AsyncIterator[WatchResponse]:
        """Stream changes under ``prefix`` from ``start_revision`` on, with previous values.

        The stream lives as long as the member serving it: it ends (raising :class:`EtcdUnavailable`)
        when that member goes away, and the caller decides whether to resume from the last revision.
        Raises :class:`EtcdCompacted` when ``start_revision`` is no longer available.
        """
        body = {
            "create_request": {
                "key": _b64(prefix),
                "range_end": _b64(prefix_range_end(prefix)),
                "start_revision": str(start_revision),
                "prev_kv": True,
            }
        }
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if connect_timeout is None else connect_timeout)
        order = self._ordered(None)
        resp: aiohttp.ClientResponse | None = None
        failures: list[str] = []
        for index, endpoint in enumerate(order):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                resp = await self._http().post(
                    endpoint + "/v3/watch",
                    json=body,
                    timeout=aiohttp.ClientTimeout(
                        total=None, connect=remaining / (len(order) - index), sock_read=None
                    ),
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                failures.append(f"{endpoint}: {type(exc).__name__}: {exc}")
                continue
            if resp.status != 200:
                failures.append(f"{endpoint}: HTTP {resp.status}")
                resp.release()
                resp = None
                continue
            break
        if resp is None:
            raise EtcdUnavailable("etcd watch could not be opened: " + "; ".join(failures))
        try:
            buffer = b""
            try:
                async for chunk in resp.content.iter_any():
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if line.strip():
                            batch = self._watch_message(line)
                            if batch is not None:
                                yield batch
            except (aiohttp.ClientError, OSError) as exc:
                raise EtcdUnavailable(f"etcd watch stream broke: {exc}") from exc
            if buffer.strip():
                batch = self._watch_message(buffer)
                if batch is not None:
                    yield batch
            raise EtcdUnavailable("etcd watch stream ended")
        finally:
            # Abort rather than close: a graceful TLS shutdown of an abandoned stream may not finish
            # before the event loop does, and would leave the socket to the garbage collector.
            connection = resp.connection
            if connection is not None and connection.transport is not None:
                connection.transport.abort()
            resp.close()

    @staticmethod
    def _watch_message(line: bytes) -> WatchResponse | None:
        message = json.loads(line)
        if "error" in message:
            error = message["error"]
            text = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            raise EtcdUnavailable(f"etcd watch failed: {text}")
        result = message.get("result", {})
        compact = _int(result, "compact_revision")
        if compact:
            raise EtcdCompacted(f"required revision has been compacted (now {compact})", compact)
        if result.get("canceled"):
            raise EtcdError(f"etcd canceled the watch: {result.get('cancel_reason', '')}")
        if result.get("created") and not result.get("events"):
            return None
        events = tuple(
            WatchEvent(
                type="DELETE" if ev.get("type") == "DELETE" else "PUT",
                kv=_kv(ev.get("kv", {})),
                prev_kv=_kv(ev["prev_kv"]) if ev.get("prev_kv") else None,
            )
            for ev in result.get("events", ())
        )
        return WatchResponse(revision=_int(result.get("header", {}), "revision"), events=events)
