"""The etcd gateway client against a real etcd member with TLS and client-certificate auth."""

from __future__ import annotations

import asyncio
import time

import pytest

from lab.etcdclient import EtcdClient, EtcdError, EtcdUnavailable, prefix_range_end
from tests.integration.conftest import Env


def _run(env: Env, fn: object) -> object:
    async def main() -> object:
        async with EtcdClient(env.etcd.endpoints, ssl_context=env.etcd.ssl_context()) as etcd:
            return await fn(etcd)  # type: ignore[operator]

    return asyncio.run(main())


def test_key_value_operations(env: Env) -> None:
    async def run(etcd: EtcdClient) -> None:
        rev = await etcd.put("/ec/a", b"1")
        kv = await etcd.get("/ec/a")
        assert kv is not None and (kv.value, kv.mod_revision, kv.version) == (b"1", rev, 1)
        assert await etcd.get("/ec/missing") is None
        assert await etcd.create("/ec/a", b"2") is None
        created = await etcd.create("/ec/b", b"2")
        assert created is not None and created > rev
        assert await etcd.update_if("/ec/a", b"x", rev - 1) is None
        swapped = await etcd.update_if("/ec/a", b"x", rev)
        assert swapped is not None and (await etcd.get("/ec/a")).value == b"x"  # type: ignore[union-attr]
        bulk = await etcd.put_many([(f"/ec/bulk/{i:02d}", str(i).encode()) for i in range(20)])
        kvs, header = await etcd.range_prefix("/ec/bulk/")
        assert [kv.key for kv in kvs] == [f"/ec/bulk/{i:02d}" for i in range(20)]
        assert header >= bulk and all(kv.mod_revision == bulk for kv in kvs)
        limited, _ = await etcd.range_prefix("/ec/bulk/", limit=3)
        assert len(limited) == 3
        assert await etcd.count_prefix("/ec/bulk/") == 20
        assert await etcd.delete_if("/ec/b", 1) is None
        assert await etcd.delete_if("/ec/b", created) is not None
        deleted = await etcd.delete("/ec/a")
        assert deleted is not None and deleted.value == b"x"
        assert await etcd.delete("/ec/a") is None
        assert await etcd.delete_prefix("/ec/bulk/") == 20
        assert await etcd.revision() >= header

    _run(env, run)


def test_cluster_and_maintenance(env: Env) -> None:
    async def run(etcd: EtcdClient) -> None:
        (member,) = await etcd.member_list()
        assert member.name == "m0" and member.client_urls == (env.etcd.endpoints[0],)
        assert member.id > 2**32 or member.id > 0
        status = await etcd.status(env.etcd.endpoints[0])
        assert status.member_id == member.id == status.leader
        assert status.version.startswith("3.5") and status.db_size > 0 and status.raft_index > 0
        assert await etcd.is_healthy(env.etcd.endpoints[0], timeout=2)
        assert not await etcd.is_healthy("https://127.0.3.3:9", timeout=1)

        with pytest.raises(EtcdError, match="member not found"):
            await etcd.member_remove(12345)
        learner = await etcd.member_add(["http://127.0.3.4:2380"], is_learner=True)
        assert learner.is_learner and learner.name == "" and learner.hex_id == f"{learner.id:x}"
        assert {m.id for m in await etcd.member_list()} == {member.id, learner.id}
        with pytest.raises(EtcdError, match="in sync with leader"):
            await etcd.member_promote(learner.id)  # not started, so not in sync with the leader
        remaining = await etcd.member_remove(learner.id, timeout=10)
        assert [m.id for m in remaining] == [member.id]
        assert [m.id for m in await etcd.member_list()] == [member.id]

    _run(env, run)


def test_fail_over_and_deadline(env: Env) -> None:
    async def run() -> float:
        dead = "https://127.0.3.3:9"
        async with EtcdClient([dead, *env.etcd.endpoints], ssl_context=env.etcd.ssl_context()) as etcd:
            await etcd.put("/ec/failover", b"ok")
            kv = await etcd.get("/ec/failover")
            assert kv is not None and kv.value == b"ok"
        async with EtcdClient([dead, "https://127.0.3.4:9"], timeout=0.5) as etcd:
            started = time.monotonic()
            with pytest.raises(EtcdUnavailable):
                await etcd.get("/ec/failover")
            return time.monotonic() - started

    assert asyncio.run(run()) < 1.0


def test_watch_prefix(env: Env) -> None:
    async def run(etcd: EtcdClient) -> list[tuple[str, str, bytes, bytes | None]]:
        start = await etcd.put("/ec/w/a", b"1")
        await etcd.put("/ec/w/a", b"2")
        await etcd.put("/ec/other", b"x")
        await etcd.delete("/ec/w/a")
        seen = []
        stream = etcd.watch_prefix("/ec/w/", start)
        async for batch in stream:
            for event in batch.events:
                seen.append(
                    (event.type, event.kv.key, event.kv.value, event.prev_kv.value if event.prev_kv else None)
                )
            if len(seen) == 3:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return seen

    assert _run(env, run) == [
        ("PUT", "/ec/w/a", b"1", None),
        ("PUT", "/ec/w/a", b"2", b"1"),
        ("DELETE", "/ec/w/a", b"", b"2"),
    ]


def test_prefix_range_end() -> None:
    assert prefix_range_end("/a/") == b"/a0"
    assert prefix_range_end(b"a\xff") == b"b"
    assert prefix_range_end(b"\xff") == b"\0"
