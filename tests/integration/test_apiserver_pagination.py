"""Lists in pages (``limit``/``continue``), as kubectl asks for them 500 at a time."""

from __future__ import annotations

import pytest

from lab.kube.errors import BadRequest
from lab.kube.store import Store
from tests.integration.conftest import Env

COUNT = 23


def _seed(env: Env, namespace: str) -> None:
    async def run(store: Store) -> None:
        await store.create("namespaces", None, {"metadata": {"name": namespace}})
        for i in range(COUNT):
            await store.create(
                "configmaps", namespace, {"metadata": {"name": f"cm-{i:03d}"}, "data": {"i": str(i)}}
            )

    env.store(run)


def test_pages_cover_the_list_once_from_one_snapshot(env: Env) -> None:
    _seed(env, "pg-store")

    async def run(store: Store) -> tuple[list[str], set[str]]:
        first = await store.list("configmaps", "pg-store", limit=10)
        assert len(first.items) == 10 and first.continue_token
        await store.create("configmaps", "pg-store", {"metadata": {"name": "cm-zzz-after"}})
        names = [o["metadata"]["name"] for o in first.items]
        token, versions = first.continue_token, {first.resource_version}
        while token:
            page = await store.list("configmaps", "pg-store", limit=10, continue_token=token)
            names += [o["metadata"]["name"] for o in page.items]
            token, versions = page.continue_token, versions | {page.resource_version}
        return names, versions

    names, versions = env.store(run)
    assert names == [f"cm-{i:03d}" for i in range(COUNT)], "no repeats, no gaps, nothing newer than page one"
    assert len(versions) == 1


def test_a_foreign_continue_token_is_refused(env: Env) -> None:
    _seed(env, "pg-foreign")

    async def run(store: Store) -> None:
        first = await store.list("configmaps", "pg-foreign", limit=5)
        with pytest.raises(BadRequest, match="another list"):
            await store.list("secrets", "pg-foreign", limit=5, continue_token=first.continue_token)
        with pytest.raises(BadRequest, match="not valid"):
            await store.list("configmaps", "pg-foreign", limit=5, continue_token="garbage")

    env.store(run)


def test_kubectl_chunks_lists_and_prints_every_row(env: Env) -> None:
    _seed(env, "pg-kubectl")
    out = env.kubectl("get", "configmaps", "-n", "pg-kubectl", "--chunk-size=7").stdout
    rows = [line.split()[0] for line in out.splitlines()[1:]]
    assert rows == [f"cm-{i:03d}" for i in range(COUNT)]
    assert out.splitlines()[0].split() == ["NAME", "DATA", "AGE"]
    bad = env.kubectl("get", "--raw", "/api/v1/namespaces/pg-kubectl/configmaps?limit=x", check=False)
    assert bad.returncode != 0 and "limit must be a whole number" in bad.stderr
