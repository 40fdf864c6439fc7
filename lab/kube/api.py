"""The resource endpoints (``/api/v1/...``, ``/apis/<g>/<v>/...``): HTTP in, Store calls, JSON out.

Everything protocol-shaped lives here — query parameters, DeleteOptions, Tables for kubectl, the
chunked watch stream — while the storage rules live in :mod:`lab.kube.store`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import yaml
from aiohttp import web

from lab.kube.errors import ApiError, BadRequest, MethodNotAllowed, NotFound, UnsupportedMediaType
from lab.kube.exec_proxy import ExecRelay
from lab.kube.negotiation import Representation, negotiate
from lab.kube.objects import KubeObject, UserInfo
from lab.kube.patch import PatchType, patch_type_for
from lab.kube.protobuf import PROTOBUF, ProtobufError, decode_object
from lab.kube.requestinfo import RequestInfo
from lab.kube.resources import ResourceType
from lab.kube.store import ObjectList, Preconditions, Store, WatchEvent
from lab.kube.tables import build_table

__all__ = ["ResourceEndpoints"]

_NOT_FOUND = "the server could not find the requested resource"
_DEFAULT_WATCH_SECONDS = 1800


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


async def _read_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return None
    if request.content_type == PROTOBUF:
        try:
            return decode_object(raw)
        except ProtobufError as exc:
            raise UnsupportedMediaType(str(exc)) from exc
    try:
        if "yaml" in request.content_type:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise BadRequest(f"the request body could not be decoded: {exc}") from exc


def _limit(request: web.Request) -> int:
    """``?limit=N`` of a list (kubectl asks for 500 at a time); 0 means everything."""
    raw = request.query.get("limit", "0") or "0"
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"limit must be a whole number, not {raw!r}") from exc
    if value < 0:
        raise BadRequest(f"limit must not be negative, not {value}")
    return value


def _dry_run(request: web.Request, body: Any = None) -> bool:
    values = request.query.getall("dryRun", [])
    if isinstance(body, dict) and isinstance(body.get("dryRun"), list):
        values = [*values, *body["dryRun"]]
    for value in values:
        if value != "All":
            raise BadRequest(f"unsupported dryRun value {value!r}: only All is supported")
    return bool(values)


class ResourceEndpoints:
    """Serves the resource requests of one app: CRUD, patch, watch, tables, and pod exec."""

    def __init__(self, store: Store, exec_relay: ExecRelay, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.registry = store.registry
        self.exec_relay = exec_relay
        self.clock = clock

    def resolve(self, info: RequestInfo) -> tuple[ResourceType, str | None]:
        res = self.registry.lookup(info.api_group, info.api_version, info.resource)
        if res is None:
            raise NotFound(_NOT_FOUND)
        if info.namespace and not res.namespaced:
            raise NotFound(_NOT_FOUND)
        if res.namespaced and info.name and not info.namespace:
            raise NotFound(_NOT_FOUND)
        if info.subresource and info.subresource not in res.subresources:
            raise NotFound(_NOT_FOUND)
        return res, (info.namespace or None) if res.namespaced else None

    async def handle(
        self, request: web.Request, info: RequestInfo, user: UserInfo | None
    ) -> web.StreamResponse:
        res, namespace = self.resolve(info)
        if info.subresource == "exec":
            pod = await self.store.get(res, namespace, info.name)
            node_name = (pod.get("spec") or {}).get("nodeName")
            node = None
            if node_name:
                with contextlib.suppress(NotFound):
                    node = await self.store.get("nodes", None, str(node_name))
            return await self.exec_relay.serve(request, pod, node)
        representation = negotiate(request.headers.get("Accept"))
        if info.verb in ("update", "patch") and not info.name:
            raise MethodNotAllowed(f"{info.verb} needs an object name: {info.path}")
        match info.verb:
            case "get":
                obj = await self.store.get(res, namespace, info.name)
                return _json(self.render_object(res, obj, representation, request))
            case "list":
                listed = await self.store.list(
                    res,
                    namespace,
                    label_selector=request.query.get("labelSelector"),
                    field_selector=request.query.get("fieldSelector"),
                    limit=_limit(request),
                    continue_token=request.query.get("continue") or None,
                )
                return _json(self.render_list(listed, representation, request))
            case "watch":
                return await self.watch(request, res, namespace, representation)
            case "create":
                if info.subresource or info.name:
                    raise MethodNotAllowed(f"create is not supported on {info.path}")
                body = await _read_body(request)
                created = await self.store.create(res, namespace, body, user=user, dry_run=_dry_run(request))
                return _json(self.render_object(res, created, representation, request), status=201)
            case "update":
                body = await _read_body(request)
                updated = await self.store.update(
                    res,
                    namespace,
                    info.name,
                    body,
                    subresource=info.subresource or None,
                    dry_run=_dry_run(request),
                )
                return _json(self.render_object(res, updated, representation, request))
            case "patch":
                patch_type = patch_type_for(request.content_type)
                if patch_type is None or patch_type is PatchType.APPLY:
                    raise UnsupportedMediaType(
                        f"the body of the request was in an unknown format - accepted media types include: "
                        f"{', '.join(t.value for t in PatchType if t is not PatchType.APPLY)}"
                    )
                body = await _read_body(request)
                patched = await self.store.patch(
                    res,
                    namespace,
                    info.name,
                    body,
                    patch_type=patch_type,
                    subresource=info.subresource or None,
                    dry_run=_dry_run(request),
                )
                return _json(self.render_object(res, patched, representation, request))
            case "delete":
                if info.subresource:
                    raise MethodNotAllowed(f"delete is not supported on {info.path}")
                body = await _read_body(request)
                options = body if isinstance(body, dict) else {}
                pre = options.get("preconditions") or {}
                preconditions = Preconditions(pre.get("uid"), pre.get("resourceVersion")) if pre else None
                deleted = await self.store.delete(
                    res, namespace, info.name, preconditions=preconditions, dry_run=_dry_run(request, options)
                )
                return _json(self.render_object(res, deleted, representation, request))
        raise MethodNotAllowed(f"{info.verb} is not supported on {info.path}")

    # --- rendering ---------------------------------------------------------------------------------

    @staticmethod
    def _typed(res: ResourceType, obj: KubeObject) -> KubeObject:
        return {"apiVersion": res.group_version, "kind": res.kind} | obj

    def render_object(
        self, res: ResourceType, obj: KubeObject, rep: Representation, request: web.Request
    ) -> KubeObject:
        if rep.table:
            return build_table(
                res,
                [obj],
                self.clock(),
                include_object=request.query.get("includeObject", "Metadata"),
                resource_version=None,
                api_version=rep.meta_api_version,
            )
        if rep.metadata_only:
            return {
                "kind": "PartialObjectMetadata",
                "apiVersion": rep.meta_api_version,
                "metadata": obj["metadata"],
            }
        return self._typed(res, obj)

    def render_list(self, listed: ObjectList, rep: Representation, request: web.Request) -> KubeObject:
        if rep.table:
            return build_table(
                listed.resource,
                listed.items,
                self.clock(),
                include_object=request.query.get("includeObject", "Metadata"),
                resource_version=listed.resource_version,
                api_version=rep.meta_api_version,
                continue_token=listed.continue_token,
            )
        if rep.metadata_only:
            items = [
                {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": rep.meta_api_version,
                    "metadata": obj["metadata"],
                }
                for obj in listed.items
            ]
            return {
                "kind": "PartialObjectMetadataList",
                "apiVersion": rep.meta_api_version,
                "metadata": listed.list_metadata,
                "items": items,
            }
        return listed.to_dict()

    # --- watch ---------------------------------------------------------------------------------------

    async def watch(
        self, request: web.Request, res: ResourceType, namespace: str | None, rep: Representation
    ) -> web.StreamResponse:
        """Stream ``{"type", "object"}`` lines until the timeout, the client leaving, or etcd failing."""
        query = request.query
        try:
            timeout = float(query.get("timeoutSeconds") or _DEFAULT_WATCH_SECONDS)
        except ValueError as exc:
            raise BadRequest("timeoutSeconds must be a number") from exc
        rv = query.get("resourceVersion")
        if rv and rv != "0" and not rv.isdigit():
            raise BadRequest(f"invalid resourceVersion {rv!r}")
        await self.store.ping()  # fail with a proper 503 before the stream starts
        events = self.store.watch(
            res,
            namespace,
            resource_version=rv,
            label_selector=query.get("labelSelector"),
            field_selector=query.get("fieldSelector"),
        )
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        first = True
        include = query.get("includeObject", "Metadata")

        def encode(event: WatchEvent) -> bytes:
            nonlocal first
            if rep.table:
                rendered = build_table(
                    res,
                    [event.object],
                    self.clock(),
                    include_object=include,
                    with_columns=first,
                    api_version=rep.meta_api_version,
                )
                first = False
            else:
                rendered = self.render_object(res, event.object, rep, request)
            return (
                json.dumps({"type": event.type, "object": rendered}, separators=(",", ":")).encode() + b"\n"
            )

        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                async for event in events:
                    await response.write(encode(event))
        except TimeoutError:
            pass
        except ApiError as exc:
            if exc.code != 503:  # a vanished etcd member just ends the stream; clients re-watch
                error = {"type": "ERROR", "object": exc.status()}
                await response.write(json.dumps(error).encode() + b"\n")
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            await events.aclose()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response
