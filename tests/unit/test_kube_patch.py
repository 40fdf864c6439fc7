from __future__ import annotations

from typing import Any

import pytest

from lab.kube.patch import PatchError, PatchType, apply_patch, merge_patch, patch_type_for


# The examples of RFC 7386, appendix A.
@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc_examples(target: Any, patch: Any, result: Any) -> None:
    assert merge_patch(target, patch) == result


def test_merge_patch_does_not_mutate() -> None:
    target = {"spec": {"a": 1, "nested": {"x": [1]}}}
    patch = {"spec": {"nested": {"y": 2}}}
    out = apply_patch(target, patch, PatchType.MERGE)
    assert out == {"spec": {"a": 1, "nested": {"x": [1], "y": 2}}}
    assert target == {"spec": {"a": 1, "nested": {"x": [1]}}}
    out["spec"]["nested"]["x"].append(2)
    assert target["spec"]["nested"]["x"] == [1]


def test_json_patch() -> None:
    obj = {"metadata": {"labels": {"a": "b"}}, "spec": {"list": [1, 2]}}
    ops = [
        {"op": "add", "path": "/metadata/labels/c", "value": "d"},
        {"op": "remove", "path": "/spec/list/0"},
        {"op": "test", "path": "/metadata/labels/a", "value": "b"},
    ]
    assert apply_patch(obj, ops, PatchType.JSON) == {
        "metadata": {"labels": {"a": "b", "c": "d"}},
        "spec": {"list": [2]},
    }
    assert obj["spec"]["list"] == [1, 2]
    with pytest.raises(PatchError):
        apply_patch(obj, [{"op": "test", "path": "/metadata/labels/a", "value": "x"}], PatchType.JSON)
    with pytest.raises(PatchError):
        apply_patch(obj, [{"op": "remove", "path": "/nope"}], PatchType.JSON)
    with pytest.raises(PatchError):
        apply_patch(obj, {"op": "add"}, PatchType.JSON)


def test_strategic_merge_is_merge_without_directives() -> None:
    obj = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "1"}]}}
    patch = {
        "$setElementOrder/containers": [{"name": "c"}],
        "metadata": {"labels": {"x": "y"}, "$retainKeys": ["labels"]},
        "spec": {"containers": [{"name": "c", "image": "2"}, {"$patch": "delete", "name": "gone"}]},
    }
    assert apply_patch(obj, patch, PatchType.STRATEGIC) == {
        "metadata": {"labels": {"a": "b", "x": "y"}},
        "spec": {"containers": [{"name": "c", "image": "2"}]},
    }


def test_patch_types() -> None:
    assert patch_type_for("application/merge-patch+json; charset=utf-8") is PatchType.MERGE
    assert patch_type_for("application/json-patch+json") is PatchType.JSON
    assert patch_type_for("application/strategic-merge-patch+json") is PatchType.STRATEGIC
    assert patch_type_for("application/apply-patch+yaml") is PatchType.APPLY
    assert patch_type_for("application/json") is None
    with pytest.raises(PatchError):
        apply_patch({}, {"a": 1}, PatchType.APPLY)
    with pytest.raises(PatchError):
        apply_patch({}, ["x"], PatchType.MERGE)
