"""The supervisor's own record of the lab: which hosts exist, which are powered on, active faults.

It is what the "cloud provider" knows — independent of etcd — so machines survive a lost quorum and a
restart of the supervisor. Written atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.topology import HostSpec


@dataclass
class HostRecord:
    index: int
    ip: str
    powered: bool = True
    instance_id: str = ""
    machine: str = ""

    @property
    def spec(self) -> HostSpec:
        return HostSpec(index=self.index, ip=self.ip)

    @property
    def machine_name(self) -> str:
        """The Machine object of this host (the seed renames replacements freely)."""
        return self.machine or self.spec.machine


@dataclass
class LabState:
    hosts: list[HostRecord] = field(default_factory=list)
    used_octets: list[int] = field(default_factory=list)
    seeded: bool = False
    etcd_flavor: str = "3.5"
    db_mb: int = 0
    faults: dict[str, str] = field(default_factory=dict)

    def host(self, name: str) -> HostRecord | None:
        return next((h for h in self.hosts if h.spec.name == name), None)

    def host_by_node(self, node: str) -> HostRecord | None:
        return next((h for h in self.hosts if h.spec.node == node), None)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> LabState:
        raw = json.loads(path.read_text())
        raw["hosts"] = [HostRecord(**h) for h in raw.get("hosts", [])]
        return cls(**raw)
