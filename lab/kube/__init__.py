"""The lab's Kubernetes-compatible API server, storing OpenShift's objects in the lab's real etcd.

Pure modules (resource registry, key layout, selectors, patches, tables, discovery, request parsing)
sit apart from the I/O ones (:mod:`~lab.kube.store` over :mod:`lab.etcdclient`, and the aiohttp app in
:mod:`~lab.kube.server`). The lab's controllers use :class:`~lab.kube.store.Store` in-process; clients
(kubectl, the Python client, the bot) use the HTTP server.
"""
