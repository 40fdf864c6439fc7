"""Patch application for the PATCH verb (pure).

JSON merge patch (RFC 7386) is a few lines, so it is written here; JSON patch (RFC 6902) comes from the
``jsonpatch`` library. Strategic merge patch needs per-field merge keys from Go types; the lab treats it
as a merge patch after dropping its ``$``-directives, which is what kubectl sends for the fields it
changes in the lab's procedures (``kubectl patch``/``apply`` of scalar fields and maps).
"""

from __future__ import annotations

import copy
import enum
from typing import Any

import jsonpatch

__all__ = ["PatchError", "PatchType", "apply_patch", "merge_patch", "patch_type_for"]


class PatchError(ValueError):
    """The patch is malformed or cannot be applied to the object."""


class PatchType(enum.Enum):
    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"


def patch_type_for(content_type: str) -> PatchType | None:
    """The patch type named by a request's Content-Type, or None when it names none."""
    media = content_type.split(";", 1)[0].strip().lower()
    for kind in PatchType:
        if kind.value == media:
            return kind
    return None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strip_directives(patch: Any) -> Any:
    if isinstance(patch, dict):
        return {k: _strip_directives(v) for k, v in patch.items() if not str(k).startswith("$")}
    if isinstance(patch, list):
        return [_strip_directives(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    return patch


def apply_patch(obj: dict[str, Any], patch: Any, kind: PatchType) -> dict[str, Any]:
    """Return a patched copy of ``obj``; raises :class:`PatchError` when the patch does not apply."""
    if kind is PatchType.JSON:
        if not isinstance(patch, list):
            raise PatchError("a JSON patch must be a list of operations")
        try:
            result = jsonpatch.apply_patch(obj, patch, in_place=False)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
            raise PatchError(f"the JSON patch could not be applied: {exc}") from exc
    elif kind in (PatchType.MERGE, PatchType.STRATEGIC):
        if not isinstance(patch, dict):
            raise PatchError("a merge patch must be a JSON object")
        if kind is PatchType.STRATEGIC:
            patch = _strip_directives(patch)
        result = merge_patch(copy.deepcopy(obj), patch)
    else:
        raise PatchError(f"patch type {kind.value} is not supported")
    if not isinstance(result, dict):
        raise PatchError("the patched object is not a JSON object")
    return result
