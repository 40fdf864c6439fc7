"""The verdict on a scratch restore, and the z-stream flag, from facts written out by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from runner.verification import (
    CatalogFacts,
    FileFacts,
    ScratchFacts,
    SnapshotStatus,
    Verdict,
    judge,
    zstream_flag,
)

SHA = "ab" * 32
CATALOG = CatalogFacts(sha256=SHA, size=24_608, revision=29, key_count=34)
FILE = FileFacts(sha256=SHA, size=24_608)
STATUS = SnapshotStatus(revision=29, total_keys=34, total_size=24_576)
SCRATCH = ScratchFacts(status=STATUS, revision=29, live_keys=17, etcd_version="3.5.1", seconds=0.4)


def test_matching_facts_are_ok_and_say_what_was_checked() -> None:
    verdict = judge(CATALOG, FILE, SCRATCH)
    assert verdict.ok and str(verdict) == "ok"
    assert verdict.reason == (
        "size and SHA-256 match the catalog; restored into a scratch etcd 3.5.1 in 0.4 s, which served "
        "17 keys at revision 29; the file holds 34 database entries and its revision and entry count "
        "match the catalog"
    )


def test_a_catalog_without_counts_still_verifies_and_says_so() -> None:
    verdict = judge(replace(CATALOG, revision=None, key_count=None), FILE, SCRATCH)
    assert verdict.ok
    assert verdict.reason.endswith("the catalog has no revision or key count to compare")


def test_a_different_size_is_reported_without_the_checksum_it_implies() -> None:
    verdict = judge(CATALOG, FileFacts("cd" * 32, 24_000), SCRATCH)
    assert str(verdict) == (
        "failed: the stored snapshot is 24,000 bytes but the catalog recorded 24,608: it was truncated or "
        "replaced in the backup store"
    )


def test_a_different_checksum_is_reported_shortened() -> None:
    verdict = judge(CATALOG, FileFacts("cd" * 32, 24_608), SCRATCH)
    assert str(verdict) == (
        "failed: the stored snapshot's SHA-256 is cdcdcdcdcdcd… but the catalog recorded abababababab…: the "
        "file changed in the backup store since it was taken"
    )


def test_checksums_compare_whatever_their_case() -> None:
    assert judge(CATALOG, FileFacts(SHA.upper(), 24_608), SCRATCH).ok


def test_a_failed_restore_comes_after_the_file_problem_and_hides_the_scratch_checks() -> None:
    refused = ScratchFacts(error="etcd refused to restore it: the file is damaged")
    verdict = judge(CATALOG, FileFacts("cd" * 32, 24_608), refused)
    assert not verdict.ok
    problems = verdict.reason.split("; ")
    assert problems[0].startswith("the stored snapshot's SHA-256 is cdcdcdcdcdcd…")
    assert problems[1] == "a scratch restore failed: etcd refused to restore it: the file is damaged"
    assert len(problems) == 2


def test_a_failure_after_the_status_still_compares_the_status_with_the_catalog() -> None:
    stopped = ScratchFacts(
        status=replace(STATUS, total_keys=35), error="etcd stopped while starting (exit 1)"
    )
    reason = judge(CATALOG, FILE, stopped).reason
    assert reason == (
        "a scratch restore failed: etcd stopped while starting (exit 1); the file holds 35 database entries "
        "(etcdutl's totalKey), but the catalog recorded 34"
    )


@pytest.mark.parametrize(
    ("catalog", "expected"),
    [
        (
            replace(CATALOG, key_count=1_034),
            "the file holds 34 database entries (etcdutl's totalKey), but the catalog recorded 1,034",
        ),
        (
            replace(CATALOG, revision=30),
            "etcdutl reads revision 29 from the file, but the catalog recorded 30",
        ),
    ],
)
def test_a_catalogued_count_or_revision_that_differs_from_the_file_fails(
    catalog: CatalogFacts, expected: str
) -> None:
    assert str(judge(catalog, FILE, SCRATCH)) == f"failed: {expected}"


def test_the_restored_etcd_must_serve_the_snapshots_revision() -> None:
    verdict = judge(CATALOG, FILE, replace(SCRATCH, revision=31))
    assert str(verdict) == (
        "failed: the restored etcd serves revision 31, but the snapshot's newest revision is 29: it did not "
        "come back at the point in time the backup holds"
    )
    assert not judge(CATALOG, FILE, replace(SCRATCH, revision=28, compacted_past_snapshot=True)).ok


def test_a_later_revision_is_fine_when_compaction_explains_it() -> None:
    assert judge(CATALOG, FILE, replace(SCRATCH, revision=31, compacted_past_snapshot=True)).ok


@pytest.mark.parametrize(
    ("scratch", "expected"),
    [
        (
            replace(SCRATCH, live_keys=0),
            "the restored etcd holds no keys at all: this is a snapshot of an empty etcd",
        ),
        (
            replace(SCRATCH, live_keys=35),
            "the restored etcd serves 35 keys, more than the 34 entries in the file: the restore did not "
            "read this file",
        ),
        (replace(SCRATCH, live_keys=None), "the scratch etcd never reported how many keys it serves"),
        (replace(SCRATCH, revision=None), "the scratch etcd never reported its revision"),
        (ScratchFacts(), "etcdutl snapshot status gave nothing to compare"),
    ],
)
def test_impossible_or_missing_scratch_facts_fail(scratch: ScratchFacts, expected: str) -> None:
    assert str(judge(CATALOG, FILE, scratch)) == f"failed: {expected}"


def test_a_verdict_prints_as_the_catalog_stores_it() -> None:
    assert str(Verdict(True, "details")) == "ok"
    assert str(Verdict(False, "why")) == "failed: why"


@pytest.mark.parametrize(
    ("backup", "cluster"),
    [("4.14.10", "4.14.10"), ("v4.14.10", "4.14.10"), (" 4.14.10\n", "4.14.10")],
)
def test_a_backup_from_the_clusters_z_stream_is_not_flagged(backup: str, cluster: str) -> None:
    assert zstream_flag(backup, cluster) is None


@pytest.mark.parametrize(
    ("backup", "cluster", "why"),
    [
        ("4.14.10", "4.14.12", "the cluster has been updated since"),
        ("4.13.30", "4.14.1", "the cluster has been updated since"),
        ("4.14.12", "4.14.10", "it is from a newer release than the cluster runs"),
        ("4.14.0-rc.1", "4.14.0", "a different build"),
    ],
)
def test_a_backup_from_another_z_stream_is_flagged_with_both_versions(
    backup: str, cluster: str, why: str
) -> None:
    assert zstream_flag(backup, cluster) == (
        f"not restorable on the current z-stream: taken on OpenShift {backup}, the cluster runs {cluster} "
        f"({why}); a restore needs a backup from the same z-stream"
    )


@pytest.mark.parametrize(
    ("backup", "cluster", "missing"),
    [
        ("4.14.10", None, "the cluster's OpenShift version is unknown"),
        ("4.14.10", "unknown", "the cluster's OpenShift version is unknown"),
        ("unknown", "4.14.10", "its OpenShift version was not recorded"),
        ("", "4.14.10", "its OpenShift version was not recorded"),
    ],
)
def test_an_unknown_version_is_flagged_as_cannot_tell(backup: str, cluster: str | None, missing: str) -> None:
    assert zstream_flag(backup, cluster) == f"cannot tell whether it restores on this cluster: {missing}"
