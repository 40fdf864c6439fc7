"""The runner's SSH adapter against the lab's real sshd: verified host keys, quoted argv, hashed copies."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from runner.adapters.ssh import SshHosts
from runner.ports import HostError, HostKeyRejected, HostUnreachable
from tests.lab.helpers import Lab, etcdops


def _hosts(lab: Lab, known_hosts: Path | None = None) -> SshHosts:
    return SshHosts(
        user="core",
        key_path=lab.root / "ssh/id_ed25519",
        known_hosts=known_hosts or lab.root / "ssh/known_hosts",
    )


def test_commands_files_and_refusals(lab: Lab, tmp_path: Path) -> None:
    hosts = _hosts(lab)
    try:
        assert hosts.run("127.0.0.12", ["hostname"]).stdout.strip() == "ip-127-0-0-12.ec2.internal"
        hostile = "x; touch /tmp/pwned $(id)"
        echoed = hosts.run("127.0.0.12", ["echo", hostile])
        assert echoed.stdout.strip() == hostile and echoed.ok
        assert "No such file" in hosts.run("127.0.0.12", ["ls", "/tmp/pwned"]).stderr
        failed = hosts.run("127.0.0.12", ["ls", "/nonexistent"], sudo=True)
        assert failed.exit_code != 0 and not failed.ok

        backup = hosts.run(
            "127.0.0.12", ["/usr/local/bin/cluster-backup.sh", "/home/core/assets/backup"], sudo=True
        )
        assert backup.ok, backup.stderr
        name = hosts.run("127.0.0.12", ["ls", "/home/core/assets/backup"]).stdout.split()[0]
        remote = f"/home/core/assets/backup/{name}"
        copied = hosts.fetch("127.0.0.12", remote, tmp_path / name)
        expected = hosts.run("127.0.0.12", ["sha256sum", remote]).stdout.split()[0]
        assert copied.sha256 == expected == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert copied.size == (tmp_path / name).stat().st_size > 0
        with pytest.raises(FileNotFoundError, match="does not exist"):
            hosts.fetch("127.0.0.12", "/home/core/nothing-here", tmp_path / "nothing")
        assert not (tmp_path / "nothing.partial").exists()
    finally:
        hosts.close()

    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    stranger = _hosts(lab, empty)
    with pytest.raises(HostKeyRejected, match="not in known_hosts"):
        stranger.run("127.0.0.11", ["true"])
    swapped = tmp_path / "swapped_known_hosts"
    lines = (lab.root / "ssh/known_hosts").read_text().splitlines()
    keys = {line.split()[0]: line.split(None, 1)[1] for line in lines}
    swapped.write_text(f"127.0.0.11 {keys['127.0.0.12']}\n")
    with pytest.raises(HostKeyRejected, match="differs"):
        _hosts(lab, swapped).run("127.0.0.11", ["true"])

    etcdops("lab", "fault", "stop-machine", "127.0.0.13")
    down = _hosts(lab)
    started = time.monotonic()
    with pytest.raises(HostUnreachable, match=r"127\.0\.0\.13"):
        down.run("127.0.0.13", ["true"])
    assert time.monotonic() - started < 10
    down.close()


def test_put_checks_the_hosts_hash_and_never_leaves_a_partial_name(lab: Lab, tmp_path: Path) -> None:
    hosts = _hosts(lab)
    try:
        local = tmp_path / "payload.bin"
        local.write_bytes(bytes(range(256)) * 4096 + b"tail")  # 1 MiB and a bit: several send pieces
        remote = "/home/core/put test/payload.bin"  # a space: the path reaches the host quoted
        hosts.run("127.0.0.13", ["mkdir", "-p", "/home/core/put test"], sudo=True)
        sent = hosts.put("127.0.0.13", local, remote, sudo=True)
        assert sent == hashlib.sha256(local.read_bytes()).hexdigest()
        assert hosts.run("127.0.0.13", ["sha256sum", remote], sudo=True).stdout.split()[0] == sent
        listed = hosts.run("127.0.0.13", ["ls", "/home/core/put test"]).stdout.split()
        assert listed == ["payload.bin"], "no .partial left behind"
        with pytest.raises(HostError, match="cannot write"):
            hosts.put("127.0.0.13", local, "/home/core/no such folder/payload.bin", sudo=True)
    finally:
        hosts.close()
