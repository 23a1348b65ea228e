"""deploy/k8s/: every manifest valid for Kubernetes (kubernetes-validate, bundled schemas, strict),
listed in kustomization.yaml, and shaped as docs/DEPLOY.md promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
# The newest bundled schema, and the oldest Kubernetes release still commonly run.
VERSIONS = (kubernetes_validate.latest_version(), "1.29.0")
EXAMPLES = {"secret.example.yaml"}


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kustomization() -> dict[str, Any]:
    return dict(yaml.safe_load((K8S / "kustomization.yaml").read_text()))


def resources() -> dict[str, dict[str, Any]]:
    """kind/name → manifest, for every resource kustomization.yaml lists."""
    out = {}
    for name in kustomization()["resources"]:
        for d in docs(K8S / name):
            out[f"{d['kind']}/{d['metadata']['name']}"] = d
    return out


def pod_specs() -> dict[str, dict[str, Any]]:
    return {
        key: d["spec"]["template"]["spec"]
        for key, d in resources().items()
        if d["kind"] in ("Deployment", "Job")
    }


MANIFESTS = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_is_valid_kubernetes(name: str, version: str) -> None:
    found = docs(K8S / name)
    assert found, name
    for d in found:
        kubernetes_validate.validate(d, version, strict=True)


def test_validation_catches_mistakes() -> None:
    web = dict(docs(K8S / "web-deployment.yaml")[0])
    web["spec"] = {**web["spec"], "replicas": "two"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, VERSIONS[0], strict=True)
    web = dict(docs(K8S / "web-deployment.yaml")[0])
    web["spec"] = {**web["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest_but_the_examples() -> None:
    listed = kustomization()["resources"]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(MANIFESTS) - EXAMPLES
    assert kustomization()["namespace"] == "tbhub"
    assert [i["name"] for i in kustomization()["images"]] == ["tbhub"]


def test_every_resource_is_namespaced_to_tbhub() -> None:
    for key, d in resources().items():
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "tbhub", key


def test_web_probes() -> None:
    web = resources()["Deployment/tbhub-web"]
    (c,) = web["spec"]["template"]["spec"]["containers"]
    assert c["args"][0] == "web"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        # Probes address the pod by IP: `Host: localhost` passes Django's host validation.
        assert c[probe]["httpGet"]["httpHeaders"] == [{"name": "Host", "value": "localhost"}]
        assert c[probe]["httpGet"]["port"] == "http"
    svc = resources()["Service/tbhub-web"]
    assert svc["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    ingress = resources()["Ingress/tbhub"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "tbhub-web", "port": {"name": "http"}}


def test_workers_scale_and_beat_is_single() -> None:
    r = resources()
    worker = r["Deployment/tbhub-worker"]
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"][0] == "worker"
    hpa = r["HorizontalPodAutoscaler/tbhub-worker"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "tbhub-worker"
    }  # fmt: skip
    assert hpa["spec"]["minReplicas"] >= 1 < hpa["spec"]["maxReplicas"]
    beat = r["Deployment/tbhub-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert beat["spec"]["template"]["spec"]["containers"][0]["args"] == ["beat"]
    assert not any(
        d["kind"] == "HorizontalPodAutoscaler"
        and d["spec"]["scaleTargetRef"]["name"] == "tbhub-beat"
        for d in r.values()
    )


def test_migrations_run_as_a_job_that_others_wait_for() -> None:
    r = resources()
    job = r["Job/tbhub-migrate"]
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["args"] == ["manage", "migrate", "--noinput"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    for name in ("tbhub-web", "tbhub-worker", "tbhub-beat"):
        (init,) = r[f"Deployment/{name}"]["spec"]["template"]["spec"]["initContainers"]
        assert "tbhub manage migrate --check" in init["command"][-1]


def test_pods_are_non_root_bounded_and_read_only() -> None:
    for key, spec in pod_specs().items():
        assert spec["securityContext"]["runAsNonRoot"] is True, key
        assert spec["securityContext"]["runAsUser"] == 10001, key  # the image's user
        assert spec["automountServiceAccountToken"] is False, key
        for c in spec.get("initContainers", []) + spec["containers"]:
            where = f"{key}/{c['name']}"
            assert c["image"] == "tbhub", where  # kustomization's `images` sets the registry
            assert set(c["resources"]) == {"requests", "limits"}, where
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), where
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            # Settings from the ConfigMap, secrets from the Secret; never literal values.
            assert c["envFrom"] == [
                {"configMapRef": {"name": "tbhub-config"}},
                {"secretRef": {"name": "tbhub-secrets"}},
            ], where
            assert "env" not in c, where
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], where


def test_secrets_are_examples_only() -> None:
    assert not any(d["kind"] == "Secret" for d in resources().values())
    (secret,) = docs(K8S / "secret.example.yaml")
    kubernetes_validate.validate(secret, VERSIONS[0], strict=True)
    assert secret["metadata"]["name"] == "tbhub-secrets"
    assert set(secret["stringData"]) == {"DATABASE_URL", "REDIS_URL", "TBHUB_SECRET_KEY"}
    for value in secret["stringData"].values():
        assert "CHANGE-ME" in value
    config = resources()["ConfigMap/tbhub-config"]["data"]
    for name in config:
        assert not any(word in name for word in ("SECRET", "PASSWORD", "TOKEN", "DATABASE_URL"))
    assert "localhost" not in config["TBHUB_ALLOWED_HOSTS"]  # always allowed already
