"""Label and field selectors: parsing and matching, as Kubernetes defines them (pure).

Label selectors accept the equality forms (``k=v``, ``k==v``, ``k!=v``), the set forms
(``k in (a,b)``, ``k notin (a,b)``) and existence (``k``, ``!k``), comma-separated and AND-ed.
Field selectors accept ``path=v``, ``path==v`` and ``path!=v`` where ``path`` is a dotted path into the
object (``metadata.name``, ``spec.nodeName``, ``involvedObject.kind``); a missing field reads as the
empty string, so ``involvedObject.namespace=`` matches cluster-scoped objects, as on a real server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelRequirement",
    "LabelSelector",
    "SelectorError",
    "field_value",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """The selector text cannot be parsed."""


_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
        raise AssertionError(self.operator)


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[LabelRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced parenthesis in {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise SelectorError(f"unbalanced parenthesis in {text!r}")
    parts.append("".join(current))
    return parts


def _check_key(key: str, text: str) -> str:
    if not _KEY_RE.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise SelectorError(f"invalid label key {key!r} in selector {text!r}")
    return key


def _check_value(value: str, text: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise SelectorError(f"invalid label value {value!r} in selector {text!r}")
    return value


_SET_RE = re.compile(r"^(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")


def _parse_label_requirement(part: str, text: str) -> LabelRequirement:
    part = part.strip()
    if not part:
        raise SelectorError(f"empty requirement in selector {text!r}")
    set_match = _SET_RE.match(part)
    if set_match:
        values = [v.strip() for v in set_match["values"].split(",")]
        if values == [""]:
            raise SelectorError(f"for 'in', 'notin' operators, values set can't be empty: {text!r}")
        return LabelRequirement(
            _check_key(set_match["key"], text),
            set_match["op"],
            frozenset(_check_value(v, text) for v in values),
        )
    for op in ("==", "!=", "="):
        if op in part:
            key, _, value = part.partition(op)
            norm = "=" if op == "==" else op
            return LabelRequirement(
                _check_key(key.strip(), text), norm, frozenset({_check_value(value.strip(), text)})
            )
    if part.startswith("!"):
        return LabelRequirement(_check_key(part[1:].strip(), text), "!")
    return LabelRequirement(_check_key(part, text), "exists")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse ``labelSelector`` query text; empty or None selects everything."""
    if text is None or not text.strip():
        return LabelSelector()
    return LabelSelector(tuple(_parse_label_requirement(p, text) for p in _split_top_level(text)))


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    operator: str  # "=" or "!="
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        equal = field_value(obj, self.path) == self.value
        return equal if self.operator == "=" else not equal


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact(self, path: str) -> str | None:
        """The value required by a ``path=value`` term, if there is one (lets the store narrow reads)."""
        for req in self.requirements:
            if req.path == path and req.operator == "=":
                return req.value
        return None


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The field at a dotted path as the string a field selector compares against ("" if missing)."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return ""
        current = current[part]
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    if isinstance(current, str | int | float):
        return str(current)
    return ""


def _unescape(value: str) -> str:
    return value.replace(r"\,", ",").replace(r"\=", "=").replace("\\\\", "\\")


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse ``fieldSelector`` query text; empty or None selects everything."""
    if text is None or not text.strip():
        return FieldSelector()
    requirements = []
    for part in re.split(r"(?<!\\),", text):
        part = part.strip()
        if not part:
            raise SelectorError(f"invalid field selector {text!r}")
        for op in ("!=", "==", "="):
            if op in part:
                path, _, value = part.partition(op)
                path = path.strip()
                if not path:
                    raise SelectorError(f"invalid field selector {text!r}")
                requirements.append(FieldRequirement(path, "!=" if op == "!=" else "=", _unescape(value)))
                break
        else:
            raise SelectorError(f"invalid field selector: {part!r}: no operator (=, ==, !=)")
    return FieldSelector(tuple(requirements))
