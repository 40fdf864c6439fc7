"""Kubernetes objects in etcd: the lab API server's storage, also usable in-process.

Usage (the lab's controllers call this directly, without HTTP)::

    async with EtcdClient(["https://127.0.0.11:2379"], ssl_context=ctx) as etcd:
        store = Store(etcd)                       # default_registry() of lab resource types
        ns = await store.create("namespaces", None, {"metadata": {"name": "openshift-etcd"}})
        pod = await store.create("pods", "openshift-etcd", {"metadata": {"name": "etcd-m0"}, "spec": {...}})
        pod["status"] = {...}
        pod = await store.update_status("pods", "openshift-etcd", "etcd-m0", pod)
        etcd_cr = await store.patch("etcds", None, "cluster", {"spec": {"forceRedeploymentReason": "x"}})
        pods = await store.list("pods", "openshift-etcd", label_selector="app=etcd")
        async for event in store.watch("pods", "openshift-etcd", resource_version=pods.resource_version):
            ...

A resource is addressed by a :class:`ResourceType` or any name kubectl accepts for it (plural,
singular, kind, short name, ``plural.group``); ``namespace`` is ignored for cluster-scoped types.
Objects are plain JSON dicts; ``metadata.resourceVersion`` is the etcd mod revision of the key.

Why no cache: every read is a linearizable etcd read, so the lab never shows state that etcd has lost
(after a restore) and fails with :class:`Unavailable` the moment etcd loses quorum, which is exactly
what the procedures rehearsed against the lab must notice.

Errors are those of :mod:`lab.kube.errors`: :class:`NotFound`, :class:`AlreadyExists`,
:class:`Conflict` (stale resourceVersion or failed precondition), :class:`Invalid`,
:class:`BadRequest`, :class:`Gone` (watch from a compacted revision), :class:`Unavailable` (etcd cannot
answer in time).

Methods:
    ``get(resource, namespace, name)`` → object
    ``list(resource, namespace=None, *, label_selector=None, field_selector=None)`` → :class:`ObjectList`
    ``create(resource, namespace, obj, *, keep_status=False, user=None, dry_run=False)`` → object;
        ``metadata.generateName`` is honoured; namespaced objects need their namespace to exist;
        ``keep_status=True`` stores the given status too (seeding; a real server drops it).
    ``update(resource, namespace, name, obj, *, subresource=None, dry_run=False)`` → object; a
        ``metadata.resourceVersion`` in ``obj`` is a precondition (stale → Conflict).
    ``update_status(resource, namespace, name, obj, *, dry_run=False)`` → object (status only).
    ``patch(resource, namespace, name, patch, *, patch_type=PatchType.MERGE, subresource=None,
        dry_run=False)`` → object; retried internally when a concurrent write wins.
    ``modify(resource, namespace, name, fn, *, subresource=None)`` → object: read, ``fn(copy)`` returns
        the new object, compare-and-swap, retry on races.
    ``delete(resource, namespace, name, *, preconditions=None, dry_run=False)`` → the deleted object
        (objects with finalizers get a deletionTimestamp and stay until the last finalizer goes).
    ``watch(resource, namespace=None, *, resource_version=None, label_selector=None,
        field_selector=None)`` → async iterator of :class:`WatchEvent` (ADDED/MODIFIED/DELETED);
        without a resource_version it starts with ADDED events for the current objects.
    ``ping()`` → None, or Unavailable when etcd cannot serve a linearizable read.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from lab.etcdclient import (
    EtcdClient,
    EtcdCompacted,
    EtcdError,
    EtcdUnavailable,
    KeyValue,
    prefix_range_end,
)
from lab.kube.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    InternalError,
    Invalid,
    NotFound,
    Unavailable,
)
from lab.kube.keys import DEFAULT_PREFIX, collection_prefix, object_key
from lab.kube.objects import (
    KubeObject,
    UserInfo,
    decode,
    encode,
    generate_name,
    mark_deleting,
    prepare_create,
    prepare_update,
    same_object,
    with_resource_version,
)
from lab.kube.patch import PatchError, PatchType, apply_patch
from lab.kube.resources import Registry, ResourceType, default_registry
from lab.kube.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)

__all__ = ["ObjectList", "Preconditions", "ResourceRef", "Store", "WatchEvent"]

ResourceRef = ResourceType | str
_T = TypeVar("_T")
_MAX_CAS_ATTEMPTS = 32
_GENERATE_NAME_ATTEMPTS = 8


@dataclass(frozen=True)
class ObjectList:
    resource: ResourceType
    items: list[KubeObject]
    resource_version: str
    continue_token: str = ""

    @property
    def list_metadata(self) -> KubeObject:
        meta: KubeObject = {"resourceVersion": self.resource_version}
        if self.continue_token:
            meta["continue"] = self.continue_token
        return meta

    def to_dict(self) -> KubeObject:
        """The ``<Kind>List`` object a list request returns."""
        items = []
        for item in self.items:
            items.append({"apiVersion": self.resource.group_version, "kind": self.resource.kind} | item)
        return {
            "apiVersion": self.resource.group_version,
            "kind": self.resource.list_kind,
            "metadata": self.list_metadata,
            "items": items,
        }


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED
    object: KubeObject


@dataclass(frozen=True)
class Preconditions:
    """DeleteOptions.preconditions: delete only this incarnation / this version of the object."""

    uid: str | None = None
    resource_version: str | None = None


def encode_continue(revision: int, start_key: str) -> str:
    """The opaque ``continue`` token: the snapshot revision and the first key of the next page."""
    raw = json.dumps({"v": 1, "rv": revision, "start": start_key}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    """Undo :func:`encode_continue`, refusing tokens that do not belong to this list."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        revision, start = int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"continue key is not valid: {exc}") from exc
    if not start.startswith(prefix) or revision <= 0:
        raise BadRequest("continue key is not valid: it belongs to another list")
    return revision, start


async def _reraise(exc: Exception) -> None:
    """Let :meth:`Store._etcd` translate an etcd error it did not see raised."""
    raise exc


def _utc_now() -> datetime:
    return datetime.now(UTC)


Selector = str | LabelSelector | None
FieldSel = str | FieldSelector | None


class Store:
    """Kubernetes-style CRUD, patch and watch over etcd; see the module docstring for the API."""

    def __init__(
        self,
        etcd: EtcdClient,
        registry: Registry | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.etcd = etcd
        self.registry = registry if registry is not None else default_registry()
        self.prefix = prefix
        self._clock = clock

    # --- helpers ---------------------------------------------------------------------------------------

    def resource(self, ref: ResourceRef) -> ResourceType:
        if isinstance(ref, ResourceType):
            return ref
        try:
            return self.registry.find(ref)
        except KeyError as exc:
            raise NotFound(f'the server doesn\'t have a resource type "{ref}"') from exc

    def key(self, res: ResourceRef, namespace: str | None, name: str) -> str:
        resolved = self.resource(res)
        if resolved.namespaced and not namespace:
            raise BadRequest(f"{resolved.plural} are namespaced: a namespace is required")
        return object_key(resolved, namespace, name, self.prefix)

    @staticmethod
    async def _etcd(call: Awaitable[_T]) -> _T:
        try:
            return await call
        except EtcdUnavailable as exc:
            raise Unavailable(f"etcdserver: request timed out ({exc})") from exc
        except EtcdError as exc:
            raise InternalError(f"etcd: {exc}") from exc

    async def _read(self, res: ResourceType, namespace: str | None, name: str) -> tuple[KubeObject, KeyValue]:
        kv = await self._etcd(self.etcd.get(self.key(res, namespace, name)))
        if kv is None:
            raise NotFound.object(res.group_resource, name, group=res.group, kind=res.plural)
        return decode(kv.value, kv.mod_revision), kv

    @staticmethod
    def _selectors(label_selector: Selector, field_selector: FieldSel) -> tuple[LabelSelector, FieldSelector]:
        try:
            labels = (
                label_selector
                if isinstance(label_selector, LabelSelector)
                else parse_label_selector(label_selector)
            )
            fields = (
                field_selector
                if isinstance(field_selector, FieldSelector)
                else parse_field_selector(field_selector)
            )
        except SelectorError as exc:
            raise BadRequest(str(exc)) from exc
        return labels, fields

    @staticmethod
    def _matches(obj: KubeObject, labels: LabelSelector, fields: FieldSelector) -> bool:
        return labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)

    # --- reads ----------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise :class:`Unavailable` unless etcd serves a linearizable read."""
        await self._etcd(self.etcd.revision())

    async def get(self, resource: ResourceRef, namespace: str | None, name: str) -> KubeObject:
        obj, _ = await self._read(self.resource(resource), namespace, name)
        return obj

    async def list(
        self,
        resource: ResourceRef,
        namespace: str | None = None,
        *,
        label_selector: Selector = None,
        field_selector: FieldSel = None,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> ObjectList:
        """Every matching object, or with ``limit`` one page of them and a ``continue`` token for the
        next page; all pages of one list read the snapshot of the first (as kube-apiserver's do)."""
        res = self.resource(resource)
        labels, fields = self._selectors(label_selector, field_selector)
        prefix = collection_prefix(res, namespace, self.prefix)
        exact_name = fields.exact("metadata.name")
        if exact_name and (namespace or not res.namespaced):
            prefix = object_key(res, namespace, exact_name, self.prefix)  # narrows the read
        if not limit and not continue_token:
            kvs, revision = await self._etcd(self.etcd.range_prefix(prefix))
            items = [decode(kv.value, kv.mod_revision) for kv in kvs]
            return ObjectList(
                res, [obj for obj in items if self._matches(obj, labels, fields)], str(revision)
            )
        snapshot, start = decode_continue(continue_token, prefix) if continue_token else (0, prefix)
        try:
            page = await self.etcd.range_page(
                start, prefix_range_end(prefix), limit=limit or 500, revision=snapshot
            )
        except EtcdError as exc:
            if "compacted" in str(exc):
                raise Gone(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                ) from exc
            await self._etcd(_reraise(exc))
            raise
        revision = snapshot or page.revision
        items = [decode(kv.value, kv.mod_revision) for kv in page.kvs]
        token = encode_continue(revision, page.kvs[-1].key + "\0") if page.more and page.kvs else ""
        return ObjectList(
            res, [obj for obj in items if self._matches(obj, labels, fields)], str(revision), token
        )

    # --- writes ---------------------------------------------------------------------------------------

    async def create(
        self,
        resource: ResourceRef,
        namespace: str | None,
        obj: KubeObject,
        *,
        keep_status: bool = False,
        user: UserInfo | None = None,
        dry_run: bool = False,
    ) -> KubeObject:
        res = self.resource(resource)
        if not isinstance(obj, dict):
            raise BadRequest("the request body must be a JSON object")
        meta = obj.get("metadata") or {}
        if not isinstance(meta, dict):
            raise BadRequest("metadata must be a JSON object")
        if res.namespaced:
            namespace = namespace or meta.get("namespace")
            if not namespace:
                raise BadRequest("the namespace of the object is required")
            await self._require_namespace(namespace)
        name = str(meta.get("name") or "")
        prefix = str(meta.get("generateName") or "")
        if not name and not prefix:
            raise Invalid(
                f"{res.kind} in version {res.version!r} cannot be handled as a {res.kind}: "
                "metadata.name: Required value: name or generateName is required",
                {"kind": res.kind, "causes": [{"reason": "FieldValueRequired", "field": "metadata.name"}]},
            )
        attempts = 1 if name else _GENERATE_NAME_ATTEMPTS
        for _ in range(attempts):
            chosen = name or generate_name(prefix)
            stored = prepare_create(
                res,
                namespace,
                obj,
                name=chosen,
                now=self._clock(),
                uid=str(uuid.uuid4()),
                keep_status=keep_status,
                user=user,
            )
            key = object_key(res, namespace, chosen, self.prefix)
            if dry_run:
                if await self._etcd(self.etcd.get(key)) is not None:
                    raise AlreadyExists.object(res.group_resource, chosen, group=res.group, kind=res.plural)
                return stored
            revision = await self._etcd(self.etcd.create(key, encode(stored)))
            if revision is not None:
                return with_resource_version(stored, revision)
            if name:
                break
        raise AlreadyExists.object(res.group_resource, name or prefix, group=res.group, kind=res.plural)

    async def _require_namespace(self, namespace: str) -> None:
        ns_res = self.registry.find("namespaces")
        kv = await self._etcd(self.etcd.get(object_key(ns_res, None, namespace, self.prefix)))
        if kv is None:
            raise NotFound.object("namespaces", namespace, kind="namespaces")
        ns = decode(kv.value, kv.mod_revision)
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            raise Forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated"
            )

    async def _write(
        self, res: ResourceType, key: str, old: KubeObject, kv: KeyValue, new: KubeObject, dry_run: bool
    ) -> KubeObject | None:
        """Store ``new`` over ``old`` if the key has not changed since ``kv``; None when it has."""
        if same_object(new, old):
            return old
        meta = new.get("metadata") or {}
        if dry_run:
            return with_resource_version(new, kv.mod_revision)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            revision = await self._etcd(self.etcd.delete_if(key, kv.mod_revision))
            return None if revision is None else with_resource_version(new, revision)
        revision = await self._etcd(self.etcd.update_if(key, encode(new), kv.mod_revision))
        return None if revision is None else with_resource_version(new, revision)

    def _check_identity(self, res: ResourceType, namespace: str | None, name: str, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise BadRequest("the request body must be a JSON object")
        meta = obj.get("metadata") or {}
        if not isinstance(meta, dict):
            raise BadRequest("metadata must be a JSON object")
        body_name = meta.get("name")
        if body_name and body_name != name:
            raise BadRequest(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        body_ns = meta.get("namespace")
        if res.namespaced and body_ns and body_ns != namespace:
            raise BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request"
            )

    async def update(
        self,
        resource: ResourceRef,
        namespace: str | None,
        name: str,
        obj: KubeObject,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> KubeObject:
        res = self.resource(resource)
        self._check_identity(res, namespace, name, obj)
        wanted_rv = str(obj["metadata"].get("resourceVersion") or "") if obj.get("metadata") else ""
        key = self.key(res, namespace, name)
        for _ in range(_MAX_CAS_ATTEMPTS):
            old, kv = await self._read(res, namespace, name)
            if wanted_rv and wanted_rv != str(kv.mod_revision):
                raise Conflict.modified(res.group_resource, name, group=res.group, kind=res.plural)
            new = prepare_update(res, old, obj, subresource=subresource)
            written = await self._write(res, key, old, kv, new, dry_run)
            if written is not None:
                return written
            if wanted_rv:
                raise Conflict.modified(res.group_resource, name, group=res.group, kind=res.plural)
        raise Conflict.modified(res.group_resource, name, group=res.group, kind=res.plural)

    async def update_status(
        self,
        resource: ResourceRef,
        namespace: str | None,
        name: str,
        obj: KubeObject,
        *,
        dry_run: bool = False,
    ) -> KubeObject:
        return await self.update(resource, namespace, name, obj, subresource="status", dry_run=dry_run)

    async def modify(
        self,
        resource: ResourceRef,
        namespace: str | None,
        name: str,
        fn: Callable[[KubeObject], KubeObject],
        *,
        subresource: str | None = None,
    ) -> KubeObject:
        """Read-modify-write with compare-and-swap, retried when another writer got there first."""
        res = self.resource(resource)
        key = self.key(res, namespace, name)
        for _ in range(_MAX_CAS_ATTEMPTS):
            old, kv = await self._read(res, namespace, name)
            changed = fn(copy.deepcopy(old))
            new = prepare_update(res, old, changed, subresource=subresource)
            written = await self._write(res, key, old, kv, new, False)
            if written is not None:
                return written
        raise Conflict.modified(res.group_resource, name, group=res.group, kind=res.plural)

    async def patch(
        self,
        resource: ResourceRef,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> KubeObject:
        res = self.resource(resource)
        key = self.key(res, namespace, name)
        for _ in range(_MAX_CAS_ATTEMPTS):
            old, kv = await self._read(res, namespace, name)
            try:
                patched = apply_patch(old, patch, patch_type)
            except PatchError as exc:
                raise Invalid(str(exc)) from exc
            patched_rv = str((patched.get("metadata") or {}).get("resourceVersion") or "")
            if patched_rv and patched_rv != str(kv.mod_revision):
                raise Conflict.modified(res.group_resource, name, group=res.group, kind=res.plural)
            self._check_identity(res, namespace, name, patched)
            new = prepare_update(res, old, patched, subresource=subresource)
            written = await self._write(res, key, old, kv, new, dry_run)
            if written is not None:
                return written
        raise Conflict.modified(res.group_resource, name, group=res.group, kind=res.plural)

    async def delete(
        self,
        resource: ResourceRef,
        namespace: str | None,
        name: str,
        *,
        preconditions: Preconditions | None = None,
        dry_run: bool = False,
    ) -> KubeObject:
        res = self.resource(resource)
        key = self.key(res, namespace, name)
        for _ in range(_MAX_CAS_ATTEMPTS):
            old, kv = await self._read(res, namespace, name)
            self._check_preconditions(res, name, old, preconditions)
            if (old.get("metadata") or {}).get("finalizers"):
                marked = mark_deleting(old, self._clock())
                written = await self._write(res, key, old, kv, marked, dry_run)
                if written is not None:
                    return written
                continue
            if dry_run:
                return old
            revision = await self._etcd(self.etcd.delete_if(key, kv.mod_revision))
            if revision is None:
                continue
            if res.group == "" and res.plural == "namespaces":
                await self._delete_namespace_contents(name)
            return old
        raise Conflict.modified(res.group_resource, name, group=res.group, kind=res.plural)

    @staticmethod
    def _check_preconditions(
        res: ResourceType, name: str, obj: KubeObject, preconditions: Preconditions | None
    ) -> None:
        if preconditions is None:
            return
        meta = obj.get("metadata") or {}
        if preconditions.uid and preconditions.uid != meta.get("uid"):
            raise Conflict(
                f"Precondition failed: UID in precondition: {preconditions.uid}, UID in object meta: "
                f"{meta.get('uid')}",
                {"name": name, "group": res.group, "kind": res.plural},
            )
        if preconditions.resource_version and preconditions.resource_version != meta.get("resourceVersion"):
            raise Conflict(
                "Precondition failed: ResourceVersion in precondition: "
                f"{preconditions.resource_version}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
                {"name": name, "group": res.group, "kind": res.plural},
            )

    async def _delete_namespace_contents(self, namespace: str) -> None:
        """What the namespace controller would do, done at once: the lab has no namespace controller."""
        for res in self.registry.namespaced():
            await self._etcd(self.etcd.delete_prefix(collection_prefix(res, namespace, self.prefix)))

    # --- watch ----------------------------------------------------------------------------------------

    async def watch(
        self,
        resource: ResourceRef,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: Selector = None,
        field_selector: FieldSel = None,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Changes to matching objects after ``resource_version`` (or the current objects, then changes).

        Objects entering or leaving the selection arrive as ADDED or DELETED, as from kube-apiserver.
        The iterator ends with :class:`Unavailable` when the etcd member serving it goes away.
        """
        res = self.resource(resource)
        labels, fields = self._selectors(label_selector, field_selector)
        if not resource_version or resource_version == "0":
            current = await self.list(res, namespace, label_selector=labels, field_selector=fields)
            for item in current.items:
                yield WatchEvent("ADDED", item)
            start = int(current.resource_version) + 1
        else:
            try:
                start = int(resource_version) + 1
            except ValueError as exc:
                raise BadRequest(f"invalid resourceVersion {resource_version!r}") from exc
        prefix = collection_prefix(res, namespace, self.prefix)
        try:
            async for batch in self.etcd.watch_prefix(prefix, start):
                for event in batch.events:
                    translated = self._translate(event.type, event.kv, event.prev_kv, labels, fields)
                    if translated is not None:
                        yield translated
        except EtcdCompacted as exc:
            raise Gone(
                f"too old resource version: {start - 1} ({exc.compact_revision})",
            ) from exc
        except EtcdUnavailable as exc:
            raise Unavailable(f"watch ended: {exc}") from exc
        except EtcdError as exc:
            raise InternalError(f"watch failed: {exc}") from exc

    def _translate(
        self,
        kind: str,
        kv: KeyValue,
        prev: KeyValue | None,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> WatchEvent | None:
        if kind == "DELETE":
            if prev is None:
                return None
            gone = decode(prev.value, kv.mod_revision)
            return WatchEvent("DELETED", gone) if self._matches(gone, labels, fields) else None
        new = decode(kv.value, kv.mod_revision)
        now_in = self._matches(new, labels, fields)
        if prev is None:
            if kv.version > 1:
                return WatchEvent("MODIFIED", new) if now_in else None
            return WatchEvent("ADDED", new) if now_in else None
        was_in = self._matches(decode(prev.value, prev.mod_revision), labels, fields)
        if now_in and was_in:
            return WatchEvent("MODIFIED", new)
        if now_in:
            return WatchEvent("ADDED", new)
        if was_in:
            return WatchEvent("DELETED", new)
        return None
