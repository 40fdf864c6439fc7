"""Health reports in Slack: the colour and the reasons first, the member table, what changed, and no
secret or raw markup from the cluster on the way."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from bot.health_blocks import (
    BLOCK_LIMIT,
    SECTION_LIMIT,
    TEXT_LIMIT,
    change_headline,
    render_change,
    render_report,
    render_reports,
)
from runner.health import HealthReport, Level, PendingCsr, classify, failed_report, health_signature
from tests.unit.test_health import NOW, certs, facts, member, members_with

MASTER_1_DOWN = members_with("master-1", healthy=False, error="context deadline exceeded")


def report(cluster: str = "prod", **changes: Any) -> HealthReport:
    return dataclasses.replace(classify(facts(**changes), NOW), cluster=cluster)


def everything(text: str, blocks: list[dict[str, Any]]) -> str:
    return text + json.dumps(blocks, ensure_ascii=False)


def test_a_red_report_leads_with_its_colour_and_every_reason() -> None:
    red = report(
        members=MASTER_1_DOWN,
        last_backup_at=NOW - dt.timedelta(hours=30),
        cert_expiry=certs(20),
        pending_csrs=(PendingCsr("csr-x", NOW - dt.timedelta(hours=1)),),
    )
    text, blocks = render_report(red)
    assert text.startswith(":red_circle: *prod* is RED")
    assert blocks[0]["text"]["text"] == ":red_circle: *prod* is RED"
    for reason in red.reasons:
        assert reason in text and reason in json.dumps(blocks, ensure_ascii=False)
    assert ":x: member master-1 (1f2e3d4c5b6a7980) is unhealthy: context deadline exceeded" in text
    assert text.index(":x:") < text.index(":warning:")  # worst first
    table = blocks[2]["text"]["text"]
    assert table.startswith("```MEMBER") and "master-1  1f2e3d4c5b6a7980  UNHEALTHY" in table
    assert "leader" in table.splitlines()[1]  # master-0's row
    footer = blocks[-1]["elements"][0]["text"]
    assert "last good backup 30 h ago" in footer and "1 pending CSR" in footer and "quota 8.0 GiB" in footer


def test_a_green_report_says_so_in_one_line() -> None:
    text, blocks = render_report(report())
    assert text.startswith(":large_green_circle: *prod* is GREEN: all 3 members healthy")
    assert [b["type"] for b in blocks] == ["section", "section", "context"]  # headline, table, footer


def test_an_amber_report_uses_the_orange_circle() -> None:
    text, _ = render_report(report(last_backup_at=None))
    assert text.startswith(":large_orange_circle: *prod* is AMBER")
    assert ":warning: no verified backup of prod is recorded" in text


def test_an_unreachable_cluster_has_no_member_table() -> None:
    text, blocks = render_report(report(api_error="connection refused", members=(), nodes=(), pods=()))
    assert "the Kubernetes API does not answer: connection refused" in text
    assert "```" not in everything(text, blocks)
    failed_text, _ = render_report(failed_report("edge", NOW, "could not gather: boom"))
    assert failed_text.startswith(":red_circle: *edge* is RED") and "could not gather: boom" in failed_text


def test_no_secret_and_no_raw_markup_reaches_slack() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    api = f"Unauthorized: Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload, token=sha256~Xy12 {pem}"
    leaky = report(api_error=api, members=(), nodes=(), pods=())
    odd = report(members=members_with("master-1", healthy=False, error="<nil> & <!channel>"))
    for rendered in (
        render_report(leaky),
        render_report(odd),
        render_reports([leaky, odd]),
        render_change(leaky, "green"),
    ):
        seen = everything(*rendered)
        for secret in ("eyJhbGciOiJSUzI1NiJ9", "Xy12", "MIIEpAIBAAKCAQEA", "PRIVATE KEY-----", "<!channel>"):
            assert secret not in seen
    assert "&lt;nil&gt; &amp; &lt;!channel&gt;" in render_report(odd)[0]


def test_many_clusters_worst_first_with_greens_on_one_line() -> None:
    reports = [
        report("a"),
        report("b", last_backup_at=None),
        report("c", members=MASTER_1_DOWN),
        report("d"),
        failed_report("e", NOW, "could not gather: no answer within 30 s"),
    ]
    text, blocks = render_reports(reports)
    lines = text.splitlines()
    assert lines[0] == ":red_circle: *etcd health* — 5 clusters: 2 red, 1 amber, 2 green"
    titles = [line for line in lines[1:] if line.startswith((":red_circle: *", ":large_orange_circle: *"))]
    assert titles == [
        ":red_circle: *c* is RED",
        ":red_circle: *e* is RED",
        ":large_orange_circle: *b* is AMBER",
    ]
    assert lines[-1] == ":large_green_circle: green: a, d"
    assert "could not gather: no answer within 30 s" in json.dumps(blocks, ensure_ascii=False)


def test_all_green_is_a_short_message() -> None:
    text, blocks = render_reports([report("a"), report("b")])
    assert text == (
        ":large_green_circle: *etcd health* — 2 clusters: 0 red, 0 amber, 2 green\n"
        ":large_green_circle: green: a, b"
    )
    assert len(blocks) == 2


def test_a_big_fleet_stays_inside_slacks_limits() -> None:
    many_reasons = facts(
        members=MASTER_1_DOWN,
        pods=(),
        nodes=tuple(dataclasses.replace(n, ready=False, reason="x" * 250) for n in facts().status.nodes),
    )
    reports = [dataclasses.replace(classify(many_reasons, NOW), cluster=f"c{i}") for i in range(80)]
    text, blocks = render_reports(reports)
    assert len(blocks) <= BLOCK_LIMIT
    overflow = blocks[-1]["elements"][0]["text"]
    assert overflow.startswith("…and 33 more clusters not shown in detail: c47 (red), c48 (red)")
    assert overflow.endswith("c79 (red)")  # every cluster is named somewhere
    assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in blocks if b["type"] == "section")
    assert len(text) <= TEXT_LIMIT
    assert "…and" in render_reports(reports[:1])[0]  # at most 5 reasons per cluster in a fleet report


def test_turning_red_names_the_member() -> None:
    red = report(members=MASTER_1_DOWN)
    assert change_headline(red, "green") == ":red_circle: *prod* turned RED: member master-1 is unhealthy"
    text, blocks = render_change(red, "amber")
    assert text.startswith(":red_circle: *prod* turned RED: member master-1 is unhealthy")
    assert "context deadline exceeded" in text and blocks[0]["text"]["text"] == text.splitlines()[0]


def test_recovering_says_all_members_are_healthy() -> None:
    down = health_signature(report(members=MASTER_1_DOWN))
    assert change_headline(report(), down) == ":large_green_circle: *prod* recovered: all 3 members healthy"


def test_changes_within_and_between_problem_levels() -> None:
    one_down = report(members=MASTER_1_DOWN)
    two_down = report(members=(member("master-0"), *MASTER_1_DOWN[1:2], member("master-2", healthy=False)))
    assert change_headline(two_down, health_signature(one_down)) == (
        ":red_circle: *prod* still RED, and now member master-2 is unhealthy"
    )
    back = change_headline(one_down, health_signature(two_down))
    assert back.startswith(":red_circle: *prod* still RED: member master-2 recovered, but member master-1")
    amber = report(last_backup_at=None)
    assert change_headline(amber, health_signature(one_down)) == (
        ":large_orange_circle: *prod* improved to AMBER: member master-1 recovered; still no verified backup "
        "of prod is recorded: take one with `/etcd backup prod`"
    )
    api_down = report(api_error="connection refused", members=(), nodes=(), pods=())
    assert change_headline(api_down, health_signature(one_down)).startswith(
        ":red_circle: *prod* still RED: the Kubernetes API does not answer"  # unseen is not "recovered"
    )


def test_a_first_or_unreadable_previous_state_says_the_current_one() -> None:
    red = report(members=MASTER_1_DOWN)
    assert change_headline(red, None) == ":red_circle: *prod* is RED: member master-1 is unhealthy"
    assert change_headline(red, "not a signature") == change_headline(red, None)
    assert report(last_backup_at=None).level is Level.AMBER
    assert change_headline(report(last_backup_at=None), "green").startswith(
        ":large_orange_circle: *prod* turned AMBER: no verified backup"
    )
