"""A clusters file whose clusters' API never answers (a dead local port): what the bot's Slack surface
tests and the ack benchmark run against. Commands are parsed, recorded and answered as usual; a status
or diagnosis run reports the API unreachable, and procedures fail at their first API call.

Two clusters: ``lab`` (the default of ``#etcd-lab``, approvals expire after 30 min) and ``prod-east``
(the default of ``#prod``, approvals expire after 3 s).
"""

from __future__ import annotations

from pathlib import Path

import yaml

CHANNEL = "#etcd-lab"
DEAD_API = "https://127.0.0.1:9"  # the discard port: connection refused at once


def write_clusters_file(folder: Path) -> Path:
    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "dead", "cluster": {"server": DEAD_API, "insecure-skip-tls-verify": True}}
                ],
                "users": [{"name": "admin", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "admin"}}],
                "current-context": "dead",
            }
        )
    )
    ssh = {"user": "core", "key": str(folder / "id_ed25519"), "known_hosts": str(folder / "known_hosts")}
    clusters = [
        {
            "name": name,
            "kubeconfig": str(kubeconfig),
            "ssh": ssh,
            "backup_store": {"type": "local", "path": str(folder / "backups")},
            "default_channel": channel,
            "approvals": {"member_removal": {"approvers": 2, "group": "etcd-approvers", "expiry": expiry}},
        }
        for name, channel, expiry in (("lab", CHANNEL, "30m"), ("prod-east", "#prod", "3s"))
    ]
    path = folder / "clusters.yaml"
    path.write_text(yaml.safe_dump({"clusters": clusters}))
    return path
