"""What /metrics reports, recorded where it happens: approval waits, member health, the backup catalog
read at scrape time, and the Slack client's errors and retries."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prometheus_client import REGISTRY
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from bot.slack_client import api_method, slack_client
from runner.health import HealthFacts, HealthReport, Level, classify
from runner.procedures.health import member_health
from runner.procedures.status import ClusterStatus, MemberStatus
from storage import approvals, backups, metrics, runs
from storage.db import SessionFactory, make_engine, make_session_factory
from storage.migrate import migrate
from storage.models import VoteDecision

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[SessionFactory]:
    url = f"sqlite:///{tmp_path / 'etcdops.db'}"
    migrate(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def _waiting_approval(session: Session, action: str, *, now: dt.datetime | None = NOW) -> int:
    run = runs.create_run(session=session, procedure="replace", cluster="lab", requested_by="U0ALICE")
    approval = approvals.request_approval(
        session=session,
        run_id=run.id,
        seq=3,
        action=action,
        plan_hash="0" * 64,
        required=2,
        expires_in=dt.timedelta(minutes=30),
        now=now,
    )
    assert approval.id is not None
    return approval.id


def test_the_wait_for_an_approval_is_timed_from_request_to_decision(sessions: SessionFactory) -> None:
    count = "etcdops_approval_wait_seconds_count"
    total = "etcdops_approval_wait_seconds_sum"
    before = {
        o: value(count, action="member_removal", outcome=o) for o in ("approved", "rejected", "expired")
    }
    before_sum = value(total, action="member_removal", outcome="approved")
    with sessions() as session:
        granted = _waiting_approval(session, "member_removal")
        approvals.record_vote(granted, "U0BOB", VoteDecision.APPROVE, session=session, now=NOW)
        assert value(count, action="member_removal", outcome="approved") == before["approved"]
        later = NOW + dt.timedelta(minutes=4)
        approvals.record_vote(granted, "U0CAROL", VoteDecision.APPROVE, session=session, now=later)
        rejected = _waiting_approval(session, "member_removal")
        approvals.record_vote(rejected, "U0BOB", VoteDecision.REJECT, session=session, now=later)
        expired = _waiting_approval(session, "member_removal")
        assert approvals.record_expiry(expired, session=session, now=NOW + dt.timedelta(hours=1))
        assert not approvals.record_expiry(expired, session=session, now=NOW + dt.timedelta(hours=2))
    after = {o: value(count, action="member_removal", outcome=o) for o in before}
    assert after == {o: n + 1 for o, n in before.items()}, "each request ends once, counted once"
    assert value(total, action="member_removal", outcome="approved") - before_sum == pytest.approx(240)


def test_voiding_times_only_the_requests_still_waiting(sessions: SessionFactory) -> None:
    voided = "etcdops_approval_wait_seconds_count"
    before = value(voided, action="restore", outcome="voided")
    with sessions() as session:
        waiting = _waiting_approval(session, "restore", now=None)  # voiding happens now
        run_id = approvals.get_approval(waiting, session=session).run_id
        approvals.void_approvals(run_id, "the plan changed", session=session)
        approvals.void_approvals(run_id, "again: nothing left to void", session=session)
    assert value(voided, action="restore", outcome="voided") == before + 1


def _report(members: tuple[MemberStatus, ...], *, api_error: str = "", message: str = "") -> HealthReport:
    status = ClusterStatus(
        "metrics-lab", NOW, api_error=api_error, members=members, quorate=True, members_message=message
    )
    return classify(HealthFacts(status), NOW)


def test_member_health_follows_each_check_and_forgets_what_it_cannot_see() -> None:
    def member(name: str, healthy: bool) -> MemberStatus:
        return MemberStatus(name, name, "https://10.0.0.1:2380", "https://10.0.0.1:2379", healthy)

    def gauge(name: str) -> float | None:
        return REGISTRY.get_sample_value(
            "etcdops_etcd_member_healthy", {"cluster": "metrics-lab", "member": name}
        )

    report = _report((member("master-0", True), member("master-1", False), member("master-2", True)))
    metrics.member_health(report.cluster, report.reachable, member_health(report))
    assert (gauge("master-0"), gauge("master-1"), gauge("master-2")) == (1, 0, 1)
    assert value("etcdops_cluster_reachable", cluster="metrics-lab") == 1

    # master-2 replaced by master-3; the operator names master-0 unhealthy though etcdctl did not.
    replaced = _report(
        (member("master-0", True), member("master-1", True), member("master-3", True)),
        message="2 of 3 members are available, master-0 is unhealthy",
    )
    metrics.member_health(replaced.cluster, replaced.reachable, member_health(replaced))
    assert (gauge("master-0"), gauge("master-1"), gauge("master-2"), gauge("master-3")) == (0, 1, None, 1)

    down = _report((), api_error="connection refused")
    assert down.level is Level.RED and member_health(down) is None
    metrics.member_health(down.cluster, down.reachable, member_health(down))
    assert gauge("master-0") is None and gauge("master-3") is None
    assert REGISTRY.get_sample_value("etcdops_cluster_reachable", {"cluster": "metrics-lab"}) == 0


def test_the_backup_gauges_are_read_from_the_catalog_at_scrape_time(sessions: SessionFactory) -> None:
    clock = {"now": NOW}
    collector = metrics.BackupCatalogCollector(sessions, lambda: ["lab", "prod-east"], lambda: clock["now"])

    def scrape() -> dict[tuple[str, str], float]:
        return {
            (s.name, s.labels["cluster"]): s.value for family in collector.collect() for s in family.samples
        }

    empty = scrape()
    assert math.isinf(empty[("etcdops_backup_last_good_age_seconds", "lab")])
    assert ("etcdops_backup_last_good_size_bytes", "lab") not in empty
    with sessions() as session:
        taken = NOW - dt.timedelta(hours=2)
        entry = backups.record_backup(
            session=session,
            cluster="lab",
            host="127.0.0.11",
            openshift_version="4.14.12",
            snapshot_size=3_000_000,
            snapshot_sha256="ab" * 32,
            location="/backups/lab/r-abcde",
            snapshot_name="snapshot_2026-12-01_100000.db",
            resources_name="static_kuberesources_2026-12-01_100000.tar.gz",
            resources_size=70_000,
            taken_at=taken,
        )
        assert entry.id is not None
        assert math.isinf(scrape()[("etcdops_backup_last_good_age_seconds", "lab")]), "not verified yet"
        backups.record_verification(entry.id, session=session, ok=True, now=NOW)
    clock["now"] = NOW + dt.timedelta(minutes=30)
    found = scrape()
    assert found[("etcdops_backup_last_good_age_seconds", "lab")] == 2.5 * 3600
    assert found[("etcdops_backup_last_good_size_bytes", "lab")] == 3_070_000
    assert math.isinf(found[("etcdops_backup_last_good_age_seconds", "prod-east")])


def test_a_catalog_that_cannot_be_read_reports_nothing_and_does_not_fail_the_scrape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> Session:
        raise RuntimeError("database unavailable")

    assert list(metrics.BackupCatalogCollector(broken, lambda: ["lab"]).collect()) == []
    assert "cannot read the backup catalog: database unavailable" in caplog.text


class _FakeSlack(BaseHTTPRequestHandler):
    """Answers 429 (Retry-After: 0) to the first chat.update, then ok; chat.postMessage is refused."""

    rate_limited: ClassVar[set[str]] = set()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        method = self.path.rsplit("/", 1)[-1]
        if method == "chat.update" and method not in self.rate_limited:
            self.rate_limited.add(method)
            self._answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"})
        elif method == "chat.postMessage":
            self._answer(200, {"ok": False, "error": "channel_not_found"})
        else:
            self._answer(200, {"ok": True, "ts": "1.000001", "channel": "C0ETCDLAB"})

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        for key, val in (headers or {}).items():
            self.send_header(key, val)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def fake_slack() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeSlack)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()
    server.server_close()


def test_the_slack_client_counts_errors_by_method_and_retries(fake_slack: str) -> None:
    errors = "etcdops_slack_api_errors_total"
    retries = "etcdops_slack_api_retries_total"
    before = (
        value(retries, method="chat.update"),
        value(errors, method="chat.postMessage", error="channel_not_found"),
        value(errors, method="chat.update", error="ratelimited"),
    )
    client = slack_client("xoxb-test", fake_slack)
    assert client.chat_update(channel="C0ETCDLAB", ts="1.000001", text="edited")["ok"]
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0NOWHERE", text="hello")
    after = (
        value(retries, method="chat.update"),
        value(errors, method="chat.postMessage", error="channel_not_found"),
        value(errors, method="chat.update", error="ratelimited"),
    )
    assert after == (before[0] + 1, before[1] + 1, before[2]), "a retried call that then worked is no error"


def test_a_slack_that_cannot_be_reached_is_counted_by_what_went_wrong() -> None:
    before = value("etcdops_slack_api_errors_total", method="auth.test", error="URLError")
    retried = value("etcdops_slack_api_retries_total", method="auth.test")
    with pytest.raises(OSError):
        slack_client("xoxb-test", "http://127.0.0.1:9/api/").auth_test()
    assert value("etcdops_slack_api_errors_total", method="auth.test", error="URLError") == before + 1
    assert value("etcdops_slack_api_retries_total", method="auth.test") == retried + 1, "tried twice"
    assert api_method("https://slack.com/api/chat.update?x=1") == "chat.update"
