"""Which representation a client asked for in its Accept header (pure).

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` to get server-side printing, and
metadata-only clients ask for ``as=PartialObjectMetadata``; everybody else gets plain JSON objects.
Protobuf is never served: clients that offer it also offer JSON and decode by Content-Type.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Representation", "negotiate"]


@dataclass(frozen=True)
class Representation:
    as_kind: str = ""  # "", "Table", "PartialObjectMetadata" or "PartialObjectMetadataList"
    version: str = "v1"  # of meta.k8s.io for Table / PartialObjectMetadata

    @property
    def table(self) -> bool:
        return self.as_kind == "Table"

    @property
    def metadata_only(self) -> bool:
        return self.as_kind.startswith("PartialObjectMetadata")

    @property
    def meta_api_version(self) -> str:
        return f"meta.k8s.io/{self.version}"


def _params(media_range: str) -> tuple[str, dict[str, str]]:
    media, *raw = (part.strip() for part in media_range.split(";"))
    params = {}
    for item in raw:
        key, _, value = item.partition("=")
        params[key.strip()] = value.strip().strip('"')
    return media.lower(), params


def negotiate(accept: str | None) -> Representation:
    """The first acceptable representation in the client's order of preference."""
    if not accept:
        return Representation()
    for media_range in accept.split(","):
        media, params = _params(media_range)
        if media not in ("application/json", "application/*", "*/*", "application/yaml"):
            continue
        as_kind = params.get("as", "")
        if not as_kind:
            return Representation()
        if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
            continue
        if as_kind in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
            return Representation(as_kind, params["v"])
    return Representation()
