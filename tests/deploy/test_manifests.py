"""deploy/: both overlays render with ``kubectl kustomize``, validate strictly against the Kubernetes
schemas of the OpenShift releases we support, pass checkov (each accepted finding listed with its reason
in deploy/checkov-skips.yaml), and have the shape the design asks for: Secrets referenced and never
inlined, probes on the ops port, a securityContext restricted-v2 admits, one bot replica on SQLite or two
on PostgreSQL beside one runner.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.clusters import load_clusters
from tests.deploy.manifests import BASE, DEPLOY, NAMESPACE, OVERLAYS, deployments, find, render, render_text

# Kubernetes of the OpenShift releases the manifests must apply to: 4.14 (1.27), 4.16 (1.29), 4.18 (1.31),
# 4.20 (1.33).
KUBERNETES_VERSIONS = ("1.27", "1.29", "1.31", "1.33")
CHECKOV = ("uvx", "--from", "checkov==3.3.30", "checkov")
SECRET_NAMES = re.compile(r"TOKEN|SECRET|PASSWORD|KEY|DATABASE_URL|CREDENTIAL", re.IGNORECASE)
SECRET_VALUES = re.compile(
    r"xox[abposr]-|xapp-|-----BEGIN [A-Z ]*PRIVATE KEY-----|://[^/\s:@]+:[^/\s@]+@|AKIA[0-9A-Z]{12}"
)
Docs = list[dict[str, Any]]


@pytest.fixture(scope="module")
def rendered() -> dict[str, Docs]:
    return {name: render(folder) for name, folder in OVERLAYS.items()}


def _pods(docs: Docs) -> list[tuple[str, dict[str, Any]]]:
    return [(name, d["spec"]["template"]["spec"]) for name, d in deployments(docs).items()]


def _containers(docs: Docs) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{name}/{c['name']}", c) for name, pod in _pods(docs) for c in pod["containers"]]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or ()}


def _kinds(docs: Docs) -> set[tuple[str, str]]:
    return {(d["kind"], d["metadata"]["name"]) for d in docs}


def test_both_overlays_render_what_an_install_needs(rendered: dict[str, Docs]) -> None:
    shared = {
        ("Namespace", "etcdops"),
        ("ServiceAccount", "etcdops"),
        ("ClusterRole", "etcdops"),
        ("ClusterRoleBinding", "etcdops"),
        ("Service", "etcdops-metrics"),
        ("NetworkPolicy", "etcdops"),
        ("Deployment", "etcdops-bot"),
    }
    for name, docs in rendered.items():
        kinds = _kinds(docs)
        assert shared <= kinds, f"{name}: missing {shared - kinds}"
        roles = {
            (d["kind"], d["metadata"]["namespace"]) for d in docs if d["kind"] in ("Role", "RoleBinding")
        }
        assert roles == {
            (kind, ns)
            for kind in ("Role", "RoleBinding")
            for ns in ("openshift-etcd", "openshift-machine-api")
        }, name
        configmaps = [d for d in docs if d["kind"] == "ConfigMap"]
        assert [c["metadata"]["name"].rsplit("-", 1)[0] for c in configmaps] == ["etcdops-clusters"], name
        assert not [d for d in docs if d["kind"] == "Secret"], f"{name}: a Secret is rendered: never inline"
    assert set(deployments(rendered["embedded"])) == {"etcdops-bot"}
    assert set(deployments(rendered["ha"])) == {"etcdops-bot", "etcdops-runner"}
    assert set(deployments(render(BASE))) == {"etcdops-bot", "etcdops-runner"}


def test_every_object_says_its_namespace(rendered: dict[str, Docs]) -> None:
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for name, docs in rendered.items():
        for doc in docs:
            meta = doc["metadata"]
            if doc["kind"] in cluster_scoped:
                assert "namespace" not in meta, f"{name}: {doc['kind']} {meta['name']}"
            elif doc["kind"] in ("Role", "RoleBinding"):
                assert meta["namespace"] in ("openshift-etcd", "openshift-machine-api")
            else:
                assert meta.get("namespace") == NAMESPACE, (
                    f"{name}: {doc['kind']} {meta['name']} not in etcdops"
                )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_rendered_documents_validate_strictly(rendered: dict[str, Docs], version: str) -> None:
    problems = []
    for name, docs in rendered.items():
        for doc in docs:
            what = f"{name}: {doc['kind']} {doc['metadata']['name']}"
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                problems.append(f"{what}: {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                problems.append(f"{what}: no schema for it in Kubernetes {version}: {exc}")
    assert not problems, "\n".join(problems)


def _checkov_failures(files: list[Path]) -> set[tuple[str, str]]:
    if shutil.which("uvx") is None:
        pytest.fail("uvx (uv) is not installed: run ./scripts/setup.sh", pytrace=False)
    argv = [*CHECKOV, "--skip-download", "--framework", "kubernetes", "--compact", "--quiet", "-o", "json"]
    for file in files:
        argv += ["-f", str(file)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    try:
        reports = json.loads(done.stdout)
    except ValueError:
        pytest.fail(
            f"checkov gave no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}", pytrace=False
        )
    failures = set()
    for report in reports if isinstance(reports, list) else [reports]:
        if not isinstance(report, dict) or "results" not in report:
            continue  # "no resources" reports are a bare summary
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        for failed in report["results"]["failed_checks"]:
            failures.add((failed["check_id"], failed["resource"]))
    assert failures or done.returncode == 0, f"checkov failed without findings:\n{done.stderr}"
    return failures


def test_checkov_finds_nothing_but_the_listed_skips(tmp_path: Path) -> None:
    skips = yaml.safe_load((DEPLOY / "checkov-skips.yaml").read_text())["skips"]
    accepted: set[tuple[str, str]] = set()
    for skip in skips:
        assert len(" ".join(str(skip.get("reason", "")).split())) >= 60, f"{skip['check']}: give the reason"
        accepted |= {(skip["check"], resource) for resource in skip["resources"]}
    files = []
    for name, folder in OVERLAYS.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(render_text(folder))
        files.append(path)
    failures = _checkov_failures(files)
    new = sorted(failures - accepted)
    stale = sorted(accepted - failures)
    assert not new, (
        "checkov failures not in deploy/checkov-skips.yaml (fix them, or list them with a reason):\n"
        + ("\n".join(f"  {check} {resource}" for check, resource in new))
    )
    assert not stale, "deploy/checkov-skips.yaml lists checks that no longer fail (remove them):\n" + (
        "\n".join(f"  {check} {resource}" for check, resource in stale)
    )


def test_no_secret_value_is_inlined(rendered: dict[str, Docs]) -> None:
    for name, docs in rendered.items():
        assert not SECRET_VALUES.search(yaml.safe_dump_all(docs)), f"{name}: something secret-looking inline"
        for where, container in _containers(docs):
            for env in container.get("env") or ():
                if env["name"] == "DATABASE_URL" and env.get("value", "").startswith("sqlite:"):
                    continue  # a file in the pod: no credentials in it
                if SECRET_NAMES.search(env["name"]) and not env["name"].startswith("ETCDOPS_"):
                    assert "value" not in env, f"{name} {where}: {env['name']} is inline"
                    assert "secretKeyRef" in env["valueFrom"], (
                        f"{name} {where}: {env['name']} not from a Secret"
                    )
            assert "envFrom" not in container, f"{name} {where}: name each variable, from its Secret"


def _secret_references(docs: Docs) -> set[tuple[str, str]]:
    found = set()
    for _, pod in _pods(docs):
        for container in pod["containers"]:
            for env in container.get("env") or ():
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    found.add((ref["name"], ref["key"]))
        for volume in pod.get("volumes") or ():
            secret = volume.get("secret")
            if secret:
                assert secret.get("items"), f"secret volume {volume['name']}: list its keys"
                found |= {(secret["secretName"], item["key"]) for item in secret["items"]}
    return found


def test_each_referenced_secret_is_documented_with_its_keys(rendered: dict[str, Docs]) -> None:
    script = (BASE / "secrets.example.sh").read_text()
    env_example = (BASE / "etcdops-slack.env.example").read_text()
    kustomization = (BASE / "kustomization.yaml").read_text()
    references = set().union(*(_secret_references(docs) for docs in rendered.values()))
    assert {name for name, _ in references} == {"etcdops-slack", "etcdops-ssh", "etcdops-database"}
    for name, key in sorted(references):
        assert f"create secret generic {name}" in script, f"secrets.example.sh does not create {name}"
        assert f"{name} " in kustomization and key in kustomization, f"kustomization.yaml: list {name} {key}"
        if name == "etcdops-slack":
            assert re.search(rf"^{key}=$", env_example, re.M), f"etcdops-slack.env.example: add {key}="
        else:
            assert f"--from-file={key}=" in script or f"--from-literal={key}=" in script, f"{name}: {key}"


def test_probes_on_the_ops_port(rendered: dict[str, Docs]) -> None:
    for name, docs in rendered.items():
        for where, container in _containers(docs):
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports == {"ops": 9090}, f"{name} {where}"
            assert _env(container)["ETCDOPS_OPS_PORT"]["value"] == "9090"
            assert _env(container)["ETCDOPS_OPS_HOST"]["value"] == "0.0.0.0"  # noqa: S104 - the kubelet probes it
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}, where
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}, where
        for _, deployment in deployments(docs).items():
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations["prometheus.io/scrape"] == "true"
            assert (
                annotations["prometheus.io/port"] == "9090"
                and annotations["prometheus.io/path"] == "/metrics"
            )
        service = find(docs, "Service", "etcdops-metrics")
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": "etcdops"}
        assert service["spec"]["ports"] == [
            {"name": "metrics", "port": 9090, "targetPort": "ops", "protocol": "TCP"}
        ]
        policy = find(docs, "NetworkPolicy", "etcdops")
        assert policy["spec"]["ingress"] == [{"ports": [{"port": "ops", "protocol": "TCP"}]}]


def test_pods_run_under_restricted_v2(rendered: dict[str, Docs]) -> None:
    for name, docs in rendered.items():
        assert find(docs, "ServiceAccount", "etcdops")["automountServiceAccountToken"] is False
        namespace = find(docs, "Namespace", "etcdops")
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        for deployment, pod in _pods(docs):
            where = f"{name} {deployment}"
            assert pod["serviceAccountName"] == "etcdops", where
            assert pod["automountServiceAccountToken"] is True, where  # both call the API: see the skips
            context = pod["securityContext"]
            assert context["runAsNonRoot"] is True and context["seccompProfile"] == {"type": "RuntimeDefault"}
            # OpenShift assigns the UID and groups from the namespace's range: none may be fixed.
            assert not {"runAsUser", "runAsGroup", "fsGroup", "supplementalGroups"} & set(context), where
            assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
            volumes = {v["name"]: v for v in pod["volumes"]}
            for container in pod["containers"]:
                sc = container["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False, where
                assert sc["capabilities"] == {"drop": ["ALL"]}, where
                assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True, where
                assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
                assert "runAsUser" not in sc and "runAsGroup" not in sc, where
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp is an emptyDir"
                assert {"emptyDir", "persistentVolumeClaim"} & set(volumes[mounts["/data"]]), where
                for kind in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{where}: {kind}"
                assert container["imagePullPolicy"] == "Always"
                assert container["image"] == "localhost/etcdops:latest"
            for volume in volumes.values():
                allowed = {
                    "configMap",
                    "secret",
                    "emptyDir",
                    "persistentVolumeClaim",
                    "downwardAPI",
                    "projected",
                }
                assert allowed & set(volume), f"{where}: volume {volume['name']} is not a restricted-v2 type"


def test_commands_and_the_clusters_file(rendered: dict[str, Docs], tmp_path: Path) -> None:
    for name, docs in rendered.items():
        for deployment, pod in _pods(docs):
            container = pod["containers"][0]
            assert container["command"] == ["etcdops", "serve" if deployment == "etcdops-bot" else "runner"]
            env = _env(container)
            mounts = {m["name"]: m for m in container["volumeMounts"]}
            assert env["ETCDOPS_CLUSTERS"]["value"] == mounts["clusters"]["mountPath"] + "/clusters.yaml"
            assert mounts["clusters"]["readOnly"] is True
            assert env["DATABASE_URL"], f"{name} {deployment}: DATABASE_URL"
            assert env["ETCDOPS_WORKER"], f"{name} {deployment}: ETCDOPS_WORKER"
        configmap = next(d for d in docs if d["kind"] == "ConfigMap")
        path = tmp_path / f"{name}-clusters.yaml"
        path.write_text(configmap["data"]["clusters.yaml"])
        (cluster,) = load_clusters(path).clusters
        assert cluster.in_cluster and cluster.kubeconfig is None
        assert str(cluster.ssh.key) == "/etc/etcdops/ssh/key"
        assert str(cluster.ssh.known_hosts) == "/etc/etcdops/ssh/known_hosts"
        assert cluster.backup_store.type == "local" and str(cluster.backup_store.path).startswith("/data/")
        # whoever executes runs mounts the SSH key where the clusters file says
        for deployment, pod in _pods(docs):
            workers = _env(pod["containers"][0])["ETCDOPS_RUNNER_WORKERS"]["value"]
            mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
            assert ("/etc/etcdops/ssh" in mounts) == (workers != "0"), f"{name} {deployment}"


def test_embedded_is_one_pod_on_sqlite_on_a_pvc(rendered: dict[str, Docs]) -> None:
    docs = rendered["embedded"]
    bot = find(docs, "Deployment", "etcdops-bot")
    assert bot["spec"]["replicas"] == 1 and bot["spec"]["strategy"]["type"] == "Recreate"
    assert not bot["spec"]["strategy"].get("rollingUpdate")
    pod = bot["spec"]["template"]["spec"]
    env = _env(pod["containers"][0])
    assert env["DATABASE_URL"] == {"name": "DATABASE_URL", "value": "sqlite:////data/etcdops.db"}
    assert int(env["ETCDOPS_RUNNER_WORKERS"]["value"]) > 0, "the bot executes the runs itself"
    assert env["ETCDOPS_WORKER"]["value"], "one process, one stable name"
    assert "SLACK_BOT_TOKEN" in env and "SLACK_APP_TOKEN" in env
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    assert data == {"name": "data", "persistentVolumeClaim": {"claimName": "etcdops-data"}}
    pvc = find(docs, "PersistentVolumeClaim", "etcdops-data")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_ha_is_two_bots_and_one_runner_on_postgresql(rendered: dict[str, Docs]) -> None:
    docs = rendered["ha"]
    found = deployments(docs)
    assert found["etcdops-bot"]["spec"]["replicas"] == 2
    assert found["etcdops-runner"]["spec"]["replicas"] == 1
    assert found["etcdops-runner"]["spec"]["strategy"]["type"] == "Recreate"
    for name, deployment in found.items():
        env = _env(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["DATABASE_URL"]["valueFrom"] == {
            "secretKeyRef": {"name": "etcdops-database", "key": "url"}
        }
        assert env["ETCDOPS_WORKER"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, name
    bot_env = _env(found["etcdops-bot"]["spec"]["template"]["spec"]["containers"][0])
    runner_env = _env(found["etcdops-runner"]["spec"]["template"]["spec"]["containers"][0])
    assert bot_env["ETCDOPS_RUNNER_WORKERS"]["value"] == "0", "the runner executes the runs"
    assert int(runner_env["ETCDOPS_RUNNER_WORKERS"]["value"]) > 0
    assert not [k for k in runner_env if k.startswith("SLACK_")], "the runner never talks to Slack"
    runner_volumes = {v["name"]: v for v in found["etcdops-runner"]["spec"]["template"]["spec"]["volumes"]}
    assert runner_volumes["data"] == {
        "name": "data",
        "persistentVolumeClaim": {"claimName": "etcdops-runner-data"},
    }
    find(docs, "PersistentVolumeClaim", "etcdops-runner-data")
    pdb = find(docs, "PodDisruptionBudget", "etcdops-bot")
    assert pdb["spec"]["selector"]["matchLabels"] == found["etcdops-bot"]["spec"]["selector"]["matchLabels"]


def test_an_overlay_of_an_install_sets_its_image(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    digest = "sha256:" + "ab" * 32
    (mine / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "bases": [os.path.relpath(OVERLAYS["ha"], mine)],
                "images": [
                    {"name": "localhost/etcdops", "newName": "registry.example.com/etcdops", "digest": digest}
                ],
            }
        )
    )
    images = {c["image"] for _, c in _containers(render(mine))}
    assert images == {f"registry.example.com/etcdops@{digest}"}
