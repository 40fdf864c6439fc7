"""The clusters file: which clusters the bot manages and how it reaches each one.

A YAML file (``ETCDOPS_CLUSTERS``) with a ``clusters:`` list. The lab writes one (``.lab/cluster.yaml``)
that loads unchanged. A mistake is reported with the line it is on, because the person fixing it at
3 a.m. is looking at the file, not at a Python traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

Action = Literal["member_removal", "secret_deletion", "machine_deletion", "restore", "csr_approval"]
ACTIONS: tuple[str, ...] = get_args(Action)
DURATION = re.compile(r"^(\d+)([smhd])$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ClustersFileError(ValueError):
    """The clusters file cannot be used; the message names the file, the line and what is wrong."""


def parse_duration(text: str) -> int:
    """``30m``/``24h``/``7d`` → seconds."""
    match = DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 24h or 7d")
    return int(match.group(1)) * SECONDS[match.group(2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshSettings(_Strict):
    user: str = "core"
    key: Path
    known_hosts: Path
    port: int = Field(default=22, ge=1, le=65535)


class LocalStore(_Strict):
    type: Literal["local"]
    path: Path


class S3Store(_Strict):
    type: Literal["s3"]
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    server_side_encryption: str | None = None


BackupStore = Annotated[LocalStore | S3Store, Field(discriminator="type")]


class ApprovalPolicy(_Strict):
    """Who must agree before one kind of destructive step runs."""

    approvers: int = Field(default=2, ge=1)
    group: str | None = None
    users: tuple[str, ...] = ()
    expiry: str = "30m"

    @field_validator("expiry")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _someone_may_approve(self) -> ApprovalPolicy:
        if not self.group and not self.users:
            raise ValueError("name who may approve: a Slack user group (group) or a list of users (users)")
        return self

    @property
    def expiry_seconds(self) -> int:
        return parse_duration(self.expiry)


class Retention(_Strict):
    """How many backups a cluster keeps; any limit may be left out. The newest verified backup is
    kept whatever the limits say."""

    keep_last: int | None = Field(default=None, ge=1)
    max_age: str | None = None
    max_total_size: ByteSize | None = None  # "50GiB", "500MB"

    @field_validator("max_age")
    @classmethod
    def _age(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class Cluster(_Strict):
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    ssh: SshSettings
    backup_store: BackupStore
    default_channel: str | None = None
    approvals: dict[Action, ApprovalPolicy] = Field(default_factory=dict)
    backup_max_age: str = "24h"
    retention: Retention | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Cluster:
        if self.in_cluster == (self.kubeconfig is not None):
            raise ValueError("set exactly one of kubeconfig (with an optional context) or in_cluster: true")
        return self

    def policy(self, action: Action) -> ApprovalPolicy:
        """The cluster's policy for ``action``; two approvers from ``etcd-approvers`` when unset."""
        return self.approvals.get(action) or ApprovalPolicy(group="etcd-approvers")


class ClustersFile(_Strict):
    clusters: tuple[Cluster, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ClustersFile:
        names = [c.name for c in self.clusters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"cluster names must be unique: {', '.join(duplicates)}")
        return self

    def get(self, name: str) -> Cluster:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        known = ", ".join(c.name for c in self.clusters)
        raise KeyError(f"no cluster named {name!r}; known clusters: {known}")


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (pydantic's error location), or its nearest parent."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(
                ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None
            )
            if pair is None:
                break
            node, line = pair[1], pair[0].start_mark.line + 1  # the key's line: where a person looks
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        # any other part (a union's tag such as 'local') is not in the file: keep the line found so far
    return line


def load_clusters(path: Path) -> ClustersFile:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ClustersFileError(f"{path}: cannot read the clusters file: {exc.strerror}") from exc
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise ClustersFileError(f"{path}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    try:
        return ClustersFile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        errors = exc.errors()
        # A list whose only item failed also reports "too short": noise next to the real problem.
        errors = [e for e in errors if e["type"] != "too_short"] or errors
        for error in errors:
            loc = tuple(error["loc"])
            line = _line_of(root, loc)
            field = ".".join(str(p) for p in loc) or "(top level)"
            problems.append(f"{path}: line {line}: {field}: {error['msg']}")
        raise ClustersFileError("\n".join(problems)) from exc
