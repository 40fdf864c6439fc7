"""How the lab's controllers reach etcd and the objects in it: directly, with the etcd client certificate.

OpenShift's operators go through the API server; the lab's go straight to etcd through the same
:class:`~lab.kube.store.Store` the lab API server uses, so they see exactly what the API would serve,
and nothing at all when etcd has no quorum. The client follows the hosts as they come and go.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from lab.credentials import Credentials
from lab.etcdclient import EtcdClient
from lab.kube.store import Store


def etcd_ssl_context(creds: Credentials) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=creds.etcd_signer.cert_pem.decode())
    context.load_cert_chain(str(creds.root / "etcd-client.crt"), str(creds.root / "etcd-client.key"))
    return context


@dataclass
class ClusterAccess:
    creds: Credentials
    _endpoints: tuple[str, ...] = ()
    _client: EtcdClient | None = None
    _store: Store | None = None
    _ssl: ssl.SSLContext | None = field(default=None, repr=False)
    _retired: list[EtcdClient] = field(default_factory=list)

    def store(self, endpoints: list[str]) -> Store:
        """A store over the given member endpoints (a new client when the endpoints changed)."""
        wanted = tuple(sorted(endpoints))
        if self._store is None or wanted != self._endpoints:
            if self._ssl is None:
                self._ssl = etcd_ssl_context(self.creds)
            old = self._client
            self._client = EtcdClient(list(wanted), ssl_context=self._ssl, timeout=2.5)
            self._store = Store(self._client)
            self._endpoints = wanted
            if old is not None:
                self._retired.append(old)
        return self._store

    @property
    def etcd(self) -> EtcdClient:
        assert self._client is not None, "call store() first"
        return self._client

    async def close(self) -> None:
        for client in [*self._retired, *([self._client] if self._client else [])]:
            await client.close()
        self._retired.clear()
