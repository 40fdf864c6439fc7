"""The etcd operator's other duties: node certificates, the cert syncer, member health, scaling up.

- Every master node gets its peer, serving and metrics secrets (new certificates from etcd-signer).
- Each powered host's ``etcd-certs`` folder follows those secrets (what the backup/restore scripts use).
- ``EtcdMembersAvailable`` reports health in the seed's words: "2 of 3 members are available,
  ip-... is unhealthy".
- A master whose etcd pod waits with an empty data dir, and is not a member, is added with
  ``member add`` (one at a time, only when every other member is started), then starts with
  ``--initial-cluster-state existing``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from lab.controllers import objects
from lab.controllers.seed import stamp
from lab.controllers.static_pods import master_hosts, node_secrets, set_condition
from lab.etcdclient import EtcdError, Member
from lab.hostsetup import sync_etcd_certs
from lab.kube.errors import AlreadyExists, ApiError, NotFound
from lab.pki import KeyPair
from lab.topology import ETCD_NAMESPACE, HostSpec

if TYPE_CHECKING:
    from lab.supervisor import Supervisor

log = logging.getLogger(__name__)


def members_available_condition(members: list[Member], healthy: dict[int, bool], at: str) -> dict[str, str]:
    total = len(members)
    good = sum(1 for m in members if healthy.get(m.id))
    problems = []
    for m in members:
        if not m.name:
            ip = (m.peer_urls[0] if m.peer_urls else "").split("//")[-1].rsplit(":", 1)[0]
            problems.append(f"NAME-PENDING-{ip} has not started")
        elif not healthy.get(m.id):
            problems.append(f"{m.name} is unhealthy")
    if problems:
        message = f"{good} of {total} members are available, " + ", ".join(problems)
    else:
        message = f"{total} members are available"
    quorate = good > total // 2
    return objects.condition(
        "EtcdMembersAvailable",
        "True" if quorate else "False",
        "EtcdQuorate" if quorate else "NoQuorum",
        message,
        at,
    )


def waiting_to_join(sup: Supervisor, node: str) -> bool:
    """The node's etcd pod runs but etcd is not ready: the member launcher waits for ``member add``."""
    seen = sup.kubelet_reports.get(node)
    if seen is None:
        return False
    for pod in seen[1].get("items") or []:
        if (pod.get("metadata") or {}).get("name") != f"etcd-{node}":
            continue
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status.get("name") == "etcd":
                return "running" in (status.get("state") or {}) and not status.get("ready")
    return False


class EtcdOperator:
    def __init__(self) -> None:
        self.synced_certs: dict[str, str] = {}
        self.last_condition: dict[str, str] = {}

    async def sync(self, sup: Supervisor) -> None:
        masters = await master_hosts(sup)
        certs = await node_secrets(sup)
        if await self._sign_node_certs(sup, masters, certs):
            certs = await node_secrets(sup)
        await self._sync_cert_folders(sup, certs)
        etcd = sup.access.etcd
        members = list(await etcd.member_list())
        healthy_list = await asyncio.gather(
            *(etcd.is_healthy(m.client_urls[0], timeout=1.5) if m.client_urls else _false() for m in members)
        )
        healthy = {m.id: ok for m, ok in zip(members, healthy_list, strict=True)}
        await self._report(sup, members, healthy)
        await self._scale_up(sup, masters, members, healthy)

    async def _sign_node_certs(
        self, sup: Supervisor, masters: list[HostSpec], have: dict[str, dict[str, KeyPair]]
    ) -> bool:
        """Sign certificates for masters without them; True when any secret was made."""
        signed = False
        for host in masters:
            if host.node in have:
                continue
            pairs = await asyncio.to_thread(sup.creds.issue_node_certs, host)
            for kind, pair in pairs.items():
                with contextlib.suppress(AlreadyExists):
                    await sup.store().create(
                        "secrets", ETCD_NAMESPACE, objects.tls_secret(f"{kind}-{host.node}", pair, host.node)
                    )
            log.info("signed etcd certificates for %s", host.node)
            signed = True
        return signed

    async def _sync_cert_folders(self, sup: Supervisor, certs: dict[str, dict[str, KeyPair]]) -> None:
        digest = hashlib.sha256(
            b"".join(p.cert_pem for node in sorted(certs) for p in certs[node].values())
        ).hexdigest()
        for record in sup.state.hosts:
            if record.powered and self.synced_certs.get(record.spec.name) != digest:
                await asyncio.to_thread(
                    sync_etcd_certs, sup.paths, sup.runtime, sup.creds, record.spec, certs
                )
                self.synced_certs[record.spec.name] = digest

    async def _report(self, sup: Supervisor, members: list[Member], healthy: dict[int, bool]) -> None:
        cond = members_available_condition(members, healthy, stamp())
        if self.last_condition.get("message") == cond["message"]:
            return

        def update(o: dict[str, Any]) -> dict[str, Any]:
            st = o.setdefault("status", {})
            st["conditions"] = set_condition(st.get("conditions") or [], cond)
            return o

        with contextlib.suppress(NotFound):
            await sup.store().modify("etcds", None, "cluster", update, subresource="status")
            self.last_condition = cond

    async def _scale_up(
        self, sup: Supervisor, masters: list[HostSpec], members: list[Member], healthy: dict[int, bool]
    ) -> None:
        """Add a waiting master as a learner, and promote learners once they run.

        A learner does not count toward quorum, so adding one to a one-member cluster (after a restore)
        does not leave the cluster unable to answer, as adding a voting member that has not started
        yet would (etcd 3.5 answers ``member list`` only with quorum).
        """
        for member in members:
            if member.is_learner and member.name:
                try:
                    await sup.access.etcd.member_promote(member.id)
                    log.info("promoted learner %s (%s)", member.name, member.hex_id)
                except EtcdError as exc:
                    log.debug("learner %s not ready for promotion: %s", member.name, exc)
                return
        voters = [m for m in members if not m.is_learner]
        if any(m.is_learner for m in members) or not all(healthy.get(m.id) for m in voters):
            return  # one new member at a time, and never while a voting member is down
        urls = {u for m in members for u in m.peer_urls}
        for host in masters:
            if host.peer_url in urls or not waiting_to_join(sup, host.node):
                continue
            try:
                added = await sup.access.etcd.member_add([host.peer_url], is_learner=True)
                log.info("member add --learner %s for %s (id %s)", host.peer_url, host.node, added.hex_id)
            except EtcdError as exc:
                log.warning("member add for %s refused: %s", host.node, exc)
            return


async def _false() -> bool:
    return False


async def etcd_operator_controller(sup: Supervisor) -> None:
    operator = EtcdOperator()
    while True:
        if sup.state.seeded:
            try:
                sup.store()
                await operator.sync(sup)
            except (ApiError, EtcdError) as exc:
                log.debug("etcd operator waits for etcd: %s", exc)
        await asyncio.sleep(1.0)
