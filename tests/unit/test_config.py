"""Settings and the clusters file: the lab's profile loads unchanged, mistakes name their line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.clusters import ClustersFileError, load_clusters, parse_duration
from bot.settings import DEFAULT_DATABASE_URL, Settings
from lab.bootstrap import bot_kubeconfig, cluster_profile
from lab.paths import LabPaths


def test_the_labs_cluster_profile_loads_unchanged(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path / ".lab")
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(cluster_profile(paths), sort_keys=False))
    clusters = load_clusters(path)
    lab = clusters.get("lab")
    assert lab.kubeconfig == bot_kubeconfig(paths) and lab.ssh.user == "core"
    assert lab.ssh.known_hosts == paths.known_hosts
    assert lab.policy("restore").approvers == 2 and lab.policy("restore").expiry_seconds == 1800
    assert lab.backup_store.type == "local"
    with pytest.raises(KeyError, match="known clusters: lab"):
        clusters.get("prod")


GOOD = """\
clusters:
  - name: prod-east
    kubeconfig: /etc/etcdops/prod.kubeconfig
    ssh:
      key: /etc/etcdops/id_ed25519
      known_hosts: /etc/etcdops/known_hosts
    backup_store:
      type: local
      path: /var/backups/etcd
    approvals:
      restore:
        approvers: 3
        users: [U1, U2, U3]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clusters.yaml"
    path.write_text(text)
    return path


def test_a_good_file_and_the_default_policy(tmp_path: Path) -> None:
    cluster = load_clusters(_write(tmp_path, GOOD)).get("prod-east")
    assert cluster.policy("restore").users == ("U1", "U2", "U3")
    default = cluster.policy("member_removal")
    assert (default.approvers, default.group) == (2, "etcd-approvers")


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (("approvers: 3", "approvers: zero"), 12, "valid integer"),
        (("type: local", "type: tape"), 7, "tape"),
        (("    ssh:\n      key: /etc/etcdops/id_ed25519\n", "    ssh:\n"), 4, "key"),
        (("        users: [U1, U2, U3]", "        users: []"), 11, "who may approve"),
        (("name: prod-east", "name: Prod_East"), 2, "pattern"),
        (("    kubeconfig: /etc/etcdops/prod.kubeconfig\n", ""), 2, "exactly one of kubeconfig"),
        (("    approvals:", "    approvals:\n      reboot: {users: [U1]}"), 11, "reboot"),
    ],
)
def test_mistakes_name_their_line(tmp_path: Path, change: tuple[str, str], line: int, words: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(ClustersFileError) as caught:
        load_clusters(_write(tmp_path, text))
    message = str(caught.value)
    assert f"line {line}:" in message and words in message, message


def test_broken_yaml_and_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ClustersFileError, match=r"line 3: not valid YAML"):
        load_clusters(_write(tmp_path, "clusters:\n  - name: a\n   bad: [\n"))
    with pytest.raises(ClustersFileError, match="cannot read the clusters file"):
        load_clusters(tmp_path / "missing.yaml")
    with pytest.raises(ClustersFileError, match="clusters"):
        load_clusters(_write(tmp_path, ""))


def test_durations() -> None:
    assert parse_duration("30m") == 1800 and parse_duration("24h") == 86400 and parse_duration("7d") == 604800
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_settings_come_from_the_environment_and_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert Settings(_env_file=None).database_url == DEFAULT_DATABASE_URL  # type: ignore[call-arg]
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    monkeypatch.setenv("ETCDOPS_CLUSTERS", "/tmp/c.yaml")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-very-secret"
    assert "very-secret" not in repr(settings) and "very-secret" not in str(settings.model_dump())
    assert settings.etcdops_clusters == Path("/tmp/c.yaml")


def test_env_example_lists_every_setting_with_a_comment() -> None:
    lines = (Path(__file__).resolve().parents[2] / ".env.example").read_text().splitlines()
    listed = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    assert listed == {name.upper() for name in Settings.model_fields}
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[i - 1].startswith("#"), f"{line} has no comment above it"
