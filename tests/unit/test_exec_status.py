"""An exec's closing status, as the API server sends it on the error channel: the exit code, or why the
command never ran (the client's own ``returncode`` raises KeyError on the latter)."""

from __future__ import annotations

import json

import pytest

from runner.adapters.kube import exit_status


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"metadata": {}, "status": "Success"}, (0, "")),
        (
            {
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
            },
            (3, ""),
        ),
        (
            {"status": "Failure", "message": "container etcdctl is not running", "reason": "InternalError"},
            (-1, "container etcdctl is not running"),
        ),
        ({"status": "Failure", "reason": "InternalError"}, (-1, "InternalError")),
        (
            {"status": "Failure", "details": {"causes": [{"reason": "ExitCode", "message": "x"}]}},
            (-1, "the exec failed"),
        ),
    ],
)
def test_exit_status(status: dict[str, object], expected: tuple[int, str]) -> None:
    assert exit_status(json.dumps(status)) == expected


def test_no_status_means_the_exec_did_not_finish() -> None:
    assert exit_status("") == (-1, "the exec did not finish in time")
    assert exit_status("not json")[0] == -1
