"""Server-side printing: the ``meta.k8s.io/v1 Table`` that ``kubectl get`` renders (pure).

kubectl asks for ``as=Table`` and prints the columns the server chose, so what an SRE sees in the lab
(``etcd-m0  2/3  Error  7 (2m ago)  6h9m``) is decided here. Built-in types follow kube-apiserver's
printers (pods, nodes, secrets, ...); OpenShift's custom resources follow their CRDs'
additionalPrinterColumns, where a missing value prints as an empty cell rather than ``<none>``.
Columns with priority 1 appear only with ``-o wide``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from lab.kube.objects import KubeObject, parse_time
from lab.kube.resources import ResourceType

__all__ = ["Column", "Printer", "build_table", "human_duration", "printer_for"]

Cell = str | int | None


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    format: str = ""
    priority: int = 0
    description: str = ""

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


@dataclass(frozen=True)
class Printer:
    columns: tuple[Column, ...]
    row: Callable[[KubeObject, datetime], list[Cell]]


def human_duration(seconds: float) -> str:
    """Kubernetes' short human duration (``47m``, ``6h9m``, ``122m``, ``3d4h``)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _since(timestamp: Any, now: datetime) -> str:
    moment = parse_time(timestamp) if isinstance(timestamp, str) else None
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def _since_or_none(timestamp: Any, now: datetime) -> str | None:
    return _since(timestamp, now) if timestamp else None


def _get(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _meta(obj: KubeObject) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _name(obj: KubeObject) -> str:
    return str(_meta(obj).get("name", ""))


def _age(obj: KubeObject, now: datetime) -> str:
    return _since(_meta(obj).get("creationTimestamp"), now)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _condition(obj: KubeObject, ctype: str) -> Mapping[str, Any]:
    for cond in _list(_get(obj, "status", "conditions")):
        if isinstance(cond, Mapping) and cond.get("type") == ctype:
            return cond
    return {}


def _label(obj: KubeObject, key: str) -> str | None:
    labels = _meta(obj).get("labels") or {}
    value = labels.get(key) if isinstance(labels, Mapping) else None
    return None if value is None else str(value)


def _annotation(obj: KubeObject, key: str) -> str | None:
    annotations = _meta(obj).get("annotations") or {}
    value = annotations.get(key) if isinstance(annotations, Mapping) else None
    return None if value is None else str(value)


def _or_none(value: Any) -> str:
    return str(value) if value not in (None, "") else "<none>"


NAME = Column("Name", format="name")
AGE = Column("Age")


# --- pods ----------------------------------------------------------------------------------------------


def _pod_row(pod: KubeObject, now: datetime) -> list[Cell]:
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    containers = _list(spec.get("containers"))
    reason = str(status.get("reason") or status.get("phase") or "")
    restarts = 0
    ready = 0
    last_restart: datetime | None = None

    def note_restart(state: Mapping[str, Any]) -> None:
        nonlocal last_restart
        finished = parse_time(_get(state, "lastState", "terminated", "finishedAt"))
        if finished is not None and (last_restart is None or finished > last_restart):
            last_restart = finished

    initializing = False
    init_specs = _list(spec.get("initContainers"))
    for index, cs in enumerate(_list(status.get("initContainerStatuses"))):
        restarts += int(cs.get("restartCount") or 0)
        note_restart(cs)
        terminated = _get(cs, "state", "terminated")
        waiting = _get(cs, "state", "waiting")
        if isinstance(terminated, Mapping) and int(terminated.get("exitCode") or 0) == 0:
            continue
        if isinstance(terminated, Mapping):
            if terminated.get("reason"):
                reason = f"Init:{terminated['reason']}"
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
        elif (
            isinstance(waiting, Mapping) and waiting.get("reason") and waiting["reason"] != "PodInitializing"
        ):
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing:
        restarts = 0
        last_restart = None
        has_running = False
        for cs in reversed(_list(status.get("containerStatuses"))):
            restarts += int(cs.get("restartCount") or 0)
            note_restart(cs)
            state = cs.get("state") or {}
            waiting = state.get("waiting")
            terminated = state.get("terminated")
            if isinstance(waiting, Mapping) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, Mapping) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, Mapping):
                if terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{terminated.get('exitCode', 0)}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition(pod, "Ready").get("status") == "True" else "NotReady"

    deletion = _meta(pod).get("deletionTimestamp")
    if deletion and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deletion:
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"

    ip = status.get("podIP")
    pod_ips = _list(status.get("podIPs"))
    if pod_ips and isinstance(pod_ips[0], Mapping):
        ip = pod_ips[0].get("ip") or ip
    gates = _list(spec.get("readinessGates"))
    gates_text = "<none>"
    if gates:
        true_count = sum(
            1 for gate in gates if _condition(pod, str(gate.get("conditionType"))).get("status") == "True"
        )
        gates_text = f"{true_count}/{len(gates)}"
    return [
        _name(pod),
        f"{ready}/{len(containers)}",
        reason,
        restarts_text,
        _age(pod, now),
        _or_none(ip),
        _or_none(spec.get("nodeName")),
        _or_none(status.get("nominatedNodeName")),
        gates_text,
    ]


_POD = Printer(
    (
        NAME,
        Column("Ready"),
        Column("Status"),
        Column("Restarts"),
        AGE,
        Column("IP", priority=1),
        Column("Node", priority=1),
        Column("Nominated Node", priority=1),
        Column("Readiness Gates", priority=1),
    ),
    _pod_row,
)


# --- nodes ---------------------------------------------------------------------------------------------


def _node_row(node: KubeObject, now: datetime) -> list[Cell]:
    conditions = {
        c.get("type"): c for c in _list(_get(node, "status", "conditions")) if isinstance(c, Mapping)
    }
    states = []
    if "Ready" in conditions:
        states.append("Ready" if conditions["Ready"].get("status") == "True" else "NotReady")
    if not states:
        states.append("Unknown")
    if _get(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    roles = set()
    for key, value in (_meta(node).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key.removeprefix("node-role.kubernetes.io/")
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    info = _get(node, "status", "nodeInfo") or {}
    addresses = [a for a in _list(_get(node, "status", "addresses")) if isinstance(a, Mapping)]

    def address(kind: str) -> str:
        for item in addresses:
            if item.get("type") == kind and item.get("address"):
                return str(item["address"])
        return "<none>"

    def unknown(value: Any) -> str:
        return str(value) if value else "<unknown>"

    return [
        _name(node),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        _age(node, now),
        str(info.get("kubeletVersion", "")),
        address("InternalIP"),
        address("ExternalIP"),
        unknown(info.get("osImage")),
        unknown(info.get("kernelVersion")),
        unknown(info.get("containerRuntimeVersion")),
    ]


_NODE = Printer(
    (
        NAME,
        Column("Status"),
        Column("Roles"),
        AGE,
        Column("Version"),
        Column("Internal-IP", priority=1),
        Column("External-IP", priority=1),
        Column("OS-Image", priority=1),
        Column("Kernel-Version", priority=1),
        Column("Container-Runtime", priority=1),
    ),
    _node_row,
)


# --- simple built-ins ----------------------------------------------------------------------------------


def _count(obj: KubeObject, *fields: str) -> int:
    total = 0
    for field in fields:
        value = obj.get(field)
        if isinstance(value, Mapping):
            total += len(value)
    return total


_SECRET = Printer(
    (NAME, Column("Type"), Column("Data", type="integer"), AGE),
    lambda o, now: [_name(o), str(o.get("type", "")), _count(o, "data", "stringData"), _age(o, now)],
)
_CONFIGMAP = Printer(
    (NAME, Column("Data", type="integer"), AGE),
    lambda o, now: [_name(o), _count(o, "data", "binaryData"), _age(o, now)],
)
_NAMESPACE = Printer(
    (NAME, Column("Status"), AGE),
    lambda o, now: [_name(o), str(_get(o, "status", "phase") or ""), _age(o, now)],
)
_SERVICEACCOUNT = Printer(
    (NAME, Column("Secrets", type="integer"), AGE),
    lambda o, now: [_name(o), len(_list(o.get("secrets"))), _age(o, now)],
)
_DEFAULT = Printer((NAME, AGE), lambda o, now: [_name(o), _age(o, now)])


def _event_row(ev: KubeObject, now: datetime) -> list[Cell]:
    involved = ev.get("involvedObject") or {}
    source = ev.get("source") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime") or _meta(ev).get("creationTimestamp")
    first = ev.get("firstTimestamp") or ev.get("eventTime") or _meta(ev).get("creationTimestamp")
    source_text = str(source.get("component") or ev.get("reportingComponent") or "")
    if source.get("host"):
        source_text += f", {source['host']}"
    return [
        _since(last, now),
        str(ev.get("type", "")),
        str(ev.get("reason", "")),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        str(involved.get("fieldPath", "")),
        source_text,
        str(ev.get("message", "")).strip(),
        _since(first, now),
        int(ev.get("count") or 1),
        _name(ev),
    ]


_EVENT = Printer(
    (
        Column("Last Seen"),
        Column("Type"),
        Column("Reason"),
        Column("Object"),
        Column("Subobject", priority=1),
        Column("Source", priority=1),
        Column("Message"),
        Column("First Seen", priority=1),
        Column("Count", type="integer", priority=1),
        Column("Name", format="name", priority=1),
    ),
    _event_row,
)


def _csr_condition(csr: KubeObject) -> str:
    types = {c.get("type") for c in _list(_get(csr, "status", "conditions")) if isinstance(c, Mapping)}
    if "Denied" in types:
        text = "Denied"
    elif "Approved" in types:
        text = "Approved"
    else:
        text = "Pending"
    if "Failed" in types:
        text += ",Failed"
    if _get(csr, "status", "certificate"):
        text += ",Issued"
    return text


def _csr_row(csr: KubeObject, now: datetime) -> list[Cell]:
    seconds = _get(csr, "spec", "expirationSeconds")
    return [
        _name(csr),
        _age(csr, now),
        str(_get(csr, "spec", "signerName") or ""),
        str(_get(csr, "spec", "username") or ""),
        human_duration(float(seconds)) if isinstance(seconds, int | float) else "<none>",
        _csr_condition(csr),
    ]


_CSR = Printer(
    (NAME, AGE, Column("SignerName"), Column("Requestor"), Column("RequestedDuration"), Column("Condition")),
    _csr_row,
)


# --- OpenShift custom resources (their CRDs' additionalPrinterColumns) -------------------------------


def _machine_row(m: KubeObject, now: datetime) -> list[Cell]:
    return [
        _name(m),
        _get(m, "status", "phase"),
        _label(m, "machine.openshift.io/instance-type"),
        _label(m, "machine.openshift.io/region"),
        _label(m, "machine.openshift.io/zone"),
        _age(m, now),
        _get(m, "status", "nodeRef", "name"),
        _get(m, "spec", "providerID"),
        _annotation(m, "machine.openshift.io/instance-state"),
    ]


_MACHINE = Printer(
    (
        NAME,
        Column("Phase"),
        Column("Type"),
        Column("Region"),
        Column("Zone"),
        Column("Age", type="date"),
        Column("Node", priority=1),
        Column("ProviderID", priority=1),
        Column("State", priority=1),
    ),
    _machine_row,
)


def _completed_version(cv: KubeObject) -> str | None:
    for entry in _list(_get(cv, "status", "history")):
        if isinstance(entry, Mapping) and entry.get("state") == "Completed":
            return str(entry.get("version", ""))
    return None


def _clusterversion_row(cv: KubeObject, now: datetime) -> list[Cell]:
    progressing = _condition(cv, "Progressing")
    return [
        _name(cv),
        _completed_version(cv),
        _condition(cv, "Available").get("status"),
        progressing.get("status"),
        _since_or_none(progressing.get("lastTransitionTime"), now),
        progressing.get("message"),
    ]


_CLUSTERVERSION = Printer(
    (
        NAME,
        Column("Version"),
        Column("Available"),
        Column("Progressing"),
        Column("Since", type="date"),
        Column("Status"),
    ),
    _clusterversion_row,
)


def _operator_version(co: KubeObject) -> str | None:
    for entry in _list(_get(co, "status", "versions")):
        if isinstance(entry, Mapping) and entry.get("name") == "operator":
            return str(entry.get("version", ""))
    return None


def _clusteroperator_row(co: KubeObject, now: datetime) -> list[Cell]:
    return [
        _name(co),
        _operator_version(co),
        _condition(co, "Available").get("status"),
        _condition(co, "Progressing").get("status"),
        _condition(co, "Degraded").get("status"),
        _since_or_none(_condition(co, "Available").get("lastTransitionTime"), now),
        _condition(co, "Degraded").get("message"),
    ]


_CLUSTEROPERATOR = Printer(
    (
        NAME,
        Column("Version"),
        Column("Available"),
        Column("Progressing"),
        Column("Degraded"),
        Column("Since", type="date"),
        Column("Message"),
    ),
    _clusteroperator_row,
)


_PRINTERS: Mapping[str, Printer] = MappingProxyType(
    {
        "pods": _POD,
        "nodes": _NODE,
        "secrets": _SECRET,
        "configmaps": _CONFIGMAP,
        "namespaces": _NAMESPACE,
        "serviceaccounts": _SERVICEACCOUNT,
        "events": _EVENT,
        "certificatesigningrequests": _CSR,
        "machines": _MACHINE,
        "clusterversions": _CLUSTERVERSION,
        "clusteroperators": _CLUSTEROPERATOR,
    }
)


def printer_for(res: ResourceType) -> Printer:
    """The printer named by the resource type (``NAME AGE`` when there is none)."""
    return _PRINTERS.get(res.printer, _DEFAULT)


def _row_object(obj: KubeObject, include_object: str, res: ResourceType) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return {"apiVersion": res.group_version, "kind": res.kind} | obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def build_table(
    res: ResourceType,
    objects: Iterable[KubeObject],
    now: datetime,
    *,
    include_object: str = "Metadata",
    resource_version: str | None = None,
    with_columns: bool = True,
    api_version: str = "meta.k8s.io/v1",
    continue_token: str = "",
) -> dict[str, Any]:
    """A Table of ``objects``; ``include_object`` is None, Metadata (default) or Object."""
    printer = printer_for(res)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer.row(obj, now)}
        attached = _row_object(obj, include_object, res)
        if attached is not None:
            row["object"] = attached
        rows.append(row)
    table: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": ({"resourceVersion": resource_version} if resource_version else {})
        | ({"continue": continue_token} if continue_token else {}),
        "columnDefinitions": [c.definition() for c in printer.columns] if with_columns else None,
        "rows": rows,
    }
    if not with_columns:
        table.pop("columnDefinitions")
    return table


def column_names(res: ResourceType, wide: bool = False) -> Sequence[str]:
    """Header names as kubectl prints them (upper case), for tests and docs."""
    return [c.name.upper() for c in printer_for(res).columns if wide or c.priority == 0]
