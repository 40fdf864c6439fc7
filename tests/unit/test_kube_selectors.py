from __future__ import annotations

import pytest

from lab.kube.selectors import (
    LabelRequirement,
    SelectorError,
    field_value,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "etcd", "node-role.kubernetes.io/master": "", "tier": "db"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app=etcd", True),
        ("app==etcd", True),
        ("app!=etcd", False),
        ("app!=other", True),
        ("missing!=x", True),
        ("node-role.kubernetes.io/master", True),
        ("node-role.kubernetes.io/worker", False),
        ("!node-role.kubernetes.io/worker", True),
        ("!app", False),
        ("tier in (db,cache)", True),
        ("tier in (web)", False),
        ("tier notin (web, cache)", True),
        ("tier notin (db)", False),
        ("missing notin (db)", True),
        ("missing in (db)", False),
        ("app=etcd,tier in (db),!gone", True),
        ("app=etcd,tier=web", False),
        ("node-role.kubernetes.io/master=", True),
    ],
)
def test_label_selector_matches(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


def test_label_selector_parses_requirements() -> None:
    selector = parse_label_selector(" a = b , c in ( x , y ), !d, e")
    assert selector.requirements == (
        LabelRequirement("a", "=", frozenset({"b"})),
        LabelRequirement("c", "in", frozenset({"x", "y"})),
        LabelRequirement("d", "!"),
        LabelRequirement("e", "exists"),
    )
    assert parse_label_selector(None).empty
    assert parse_label_selector("a").matches(None) is False


@pytest.mark.parametrize("text", ["a in (b", "a in ()", "=b", "a=b,,c", "bad key=x", "a=" + "x" * 64, "a)"])
def test_label_selector_rejects_garbage(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(text)


POD = {
    "metadata": {"name": "etcd-m0", "namespace": "openshift-etcd"},
    "spec": {"nodeName": "m0", "hostNetwork": True, "priority": 2000001000},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metadata.name=etcd-m0", True),
        ("metadata.name==etcd-m0", True),
        ("metadata.name!=etcd-m0", False),
        ("metadata.namespace=openshift-etcd,spec.nodeName=m0", True),
        ("spec.nodeName=m1", False),
        ("status.phase!=Pending", True),
        ("spec.hostNetwork=true", True),
        ("spec.priority=2000001000", True),
        ("spec.missing=", True),
        ("involvedObject.namespace=", True),
        ("status=Running", False),  # a map is not a comparable field
    ],
)
def test_field_selector_matches(text: str, expected: bool) -> None:
    assert parse_field_selector(text).matches(POD) is expected


def test_field_selector_details() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b,spec.nodeName=n")
    assert selector.exact("metadata.name") == "a,b"
    assert selector.exact("status.phase") is None
    assert parse_field_selector("").empty
    assert field_value(POD, "metadata.name") == "etcd-m0"
    assert field_value(POD, "spec.nodeName.deeper") == ""
    for bad in ("metadata.name", "=x", "a=b,"):
        with pytest.raises(SelectorError):
            parse_field_selector(bad)
