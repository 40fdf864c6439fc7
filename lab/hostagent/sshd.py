"""The host's own sshd: key-only, its own host key, listening on the host's address only."""

from __future__ import annotations

from pathlib import Path

from lab.topology import SSH_PORT

SSHD_BINARY_CANDIDATES = ("/usr/sbin/sshd", "/usr/bin/sshd")


def sshd_binary() -> str | None:
    for candidate in SSHD_BINARY_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return None


def sshd_config(ip: str, host_key: Path, authorized_keys: Path) -> str:
    """sshd settings for a lab host; no PAM or systemd, and never a password."""
    return "\n".join(
        [
            f"ListenAddress {ip}:{SSH_PORT}",
            f"HostKey {host_key}",
            "PidFile none",
            f"AuthorizedKeysFile {authorized_keys}",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "MaxStartups 50:30:100",
            "MaxSessions 50",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )
