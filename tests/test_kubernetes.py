"""Kubernetes checked, not only written: deploy/kubernetes against Kubernetes' own API schemas.

Every object is validated against the schemas of Kubernetes 1.32 (KUBERNETES below) that the
kubernetes-validate package ships, in their strict form: a field Kubernetes does not know
fails. The schemas are read from the installed package; nothing is downloaded, and a guard
below makes any network connection from these tests an error. Each kustomization.yaml is a
kustomize config, not an API object: it is checked for known fields and local, existing
resources and files. Where kubectl is installed (kustomize inside), each kustomization is
also rendered with `kubectl kustomize` and what it makes is validated the same way. Without
kubectl that test skips, except in CI (CI=true or NSLAB_REQUIRE_ROOT=1), where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.conftest import REQUIRE_ROOT, ROOT

KUBERNETES = "1.32"  # the Kubernetes version whose API schemas the manifests must satisfy
DEPLOY = ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(p for p in DEPLOY.rglob("*.yaml") if p.name != "kustomization.yaml")
KUSTOMIZATIONS = sorted(DEPLOY.rglob("kustomization.yaml"))
KUBECTL = shutil.which("kubectl")
MUST_RENDER = REQUIRE_ROOT or os.environ.get("CI") == "true"

# The fields of kustomize's Kustomization (kustomize v5); kustomize rejects any other.
KUSTOMIZATION_FIELDS = {
    "apiVersion", "kind", "metadata", "resources", "components", "crds", "bases",
    "namespace", "namePrefix", "nameSuffix", "labels", "commonLabels", "commonAnnotations",
    "images", "replicas", "patches", "patchesStrategicMerge", "patchesJson6902",
    "replacements", "vars", "configMapGenerator", "secretGenerator", "generatorOptions",
    "generators", "transformers", "validators", "configurations", "openapi", "buildMetadata",
    "helmCharts", "helmGlobals", "sortOptions",
}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever these tests do in Python, it does without the network."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a Kubernetes check tried the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def objects(text: str) -> list[dict]:
    """The YAML documents of a manifest (or of kustomize's output), empty ones left out."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def problems_of_object(obj: dict) -> list[str]:
    """What Kubernetes' strict schema says against one object: nothing when it is valid."""
    name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    try:
        version = kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as e:
        where = ".".join(str(p) for p in e.path) or "(top)"
        return [f"{name}: {where}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"{name}: {e.message}"]
    assert version == KUBERNETES, f"validated against {version}, not {KUBERNETES}"
    return []


def problems_of_manifest(path: Path) -> list[str]:
    docs = objects(path.read_text())
    if not docs:
        return [f"{path.name}: no object in it"]
    return [p for obj in docs for p in problems_of_object(obj)]


def local_path(folder: Path, entry: str) -> Path | None:
    """A kustomization's entry as a file or folder beside it; None for a URL."""
    if "://" in entry or entry.startswith(("github.com/", "git@")):
        return None
    return (folder / entry.split("=", 1)[-1]).resolve()


def problems_of_kustomization(path: Path) -> list[str]:
    """A kustomization.yaml as kustomize reads it: known fields, local existing files, every
    manifest beside it used, every patch aimed at an object that exists."""
    k = yaml.safe_load(path.read_text())
    folder = path.parent
    found = []
    if (k.get("apiVersion"), k.get("kind")) != ("kustomize.config.k8s.io/v1beta1",
                                                  "Kustomization"):
        found.append(f"not a Kustomization: {k.get('apiVersion')} {k.get('kind')}")
    found += [f"unknown field {f!r}" for f in sorted(set(k) - KUSTOMIZATION_FIELDS)]
    # Resources: local (rendering never downloads anything) and there.
    for entry in k.get("resources", []):
        target = local_path(folder, entry)
        if target is None:
            found.append(f"resource {entry} is remote")
        elif not (target.is_file() or (target / "kustomization.yaml").is_file()):
            found.append(f"resource {entry} is missing")
    used = {local_path(folder, e) for e in k.get("resources", [])}
    found += [f"{m.name} is in the folder but not in resources"
              for m in sorted(folder.glob("*.yaml"))
              if m.name != "kustomization.yaml" and m.resolve() not in used]
    # Generators' files are there; an env file may instead be one the user makes by hand
    # (the trainer token, deploy/kubernetes/README.md step 2), which git must then ignore.
    ignored = (folder / ".gitignore").read_text().split() \
        if (folder / ".gitignore").exists() else []
    for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        for entry in gen.get("files", []) + gen.get("envs", []):
            target = local_path(folder, entry)
            if target is None or not (target.is_file() or target.name in ignored):
                found.append(f"{gen['name']}: {entry} is missing and not made by hand")
    # Patches: kustomize silently skips a patch whose target matches nothing.
    known = {(o["kind"], o["metadata"]["name"]) for m in MANIFESTS for o in objects(m.read_text())}
    for patch in k.get("patches", []):
        target = patch.get("target", {})
        if (target.get("kind"), target.get("name")) not in known:
            found.append(f"patch target {target} matches no object")
    return found


@pytest.fixture
def kubectl() -> str:
    """kubectl's path; without it the test skips, or in CI fails."""
    if KUBECTL is None:
        reason = "kubectl is not installed: the rendered kustomizations are not checked"
        if MUST_RENDER:
            pytest.fail(f"{reason} (CI forbids skipping this)")
        pytest.skip(reason)
    return KUBECTL


def rendered(kubectl: str, folder: Path, tmp_path: Path) -> list[dict]:
    """`kubectl kustomize folder`, run on a copy of deploy/kubernetes where each env file
    the user would make (the trainer token) holds a placeholder."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("*.env"))
    for k in copy.rglob("kustomization.yaml"):
        for gen in yaml.safe_load(k.read_text()).get("secretGenerator", []):
            for env in gen.get("envs", []):
                (k.parent / env).write_text("NSLAB_TRAINER_TOKEN=placeholder-for-the-test\n")
    run = subprocess.run([kubectl, "kustomize", str(copy / folder.relative_to(DEPLOY))],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KUBECONFIG": os.devnull})
    assert run.returncode == 0, f"kubectl kustomize {folder.name} failed:\n{run.stderr}"
    return objects(run.stdout)


def problems_of_references(objs: list[dict]) -> list[str]:
    """What the schema cannot see: the pod's Secret, ConfigMap and labels, and the Ingress's
    Service and port, are the ones kustomize made, all in one namespace."""
    by_kind: dict[str, dict[str, dict]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    found = []
    (namespace,) = by_kind["Namespace"]
    found += [f"{o['kind']}/{o['metadata']['name']} is in {o['metadata'].get('namespace')}"
              for o in objs if o["kind"] != "Namespace"
              and o["metadata"].get("namespace") != namespace]
    for sts in by_kind["StatefulSet"].values():
        pod = sts["spec"]["template"]
        for c in pod["spec"]["containers"]:
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] not in by_kind.get("Secret", {}):
                    found.append(f"env {env['name']}: no Secret {ref['name']}")
        for vol in pod["spec"].get("volumes", []):
            if "configMap" in vol and vol["configMap"]["name"] not in by_kind.get("ConfigMap", {}):
                found.append(f"volume {vol['name']}: no ConfigMap {vol['configMap']['name']}")
        if sts["spec"]["serviceName"] not in by_kind["Service"]:
            found.append(f"StatefulSet's serviceName {sts['spec']['serviceName']} is no Service")
        ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        for svc in by_kind["Service"].values():
            if svc["spec"]["selector"].items() - pod["metadata"]["labels"].items():
                found.append(f"Service {svc['metadata']['name']} selects no pod")
            found += [f"Service port {p['targetPort']} is no container port"
                      for p in svc["spec"]["ports"] if p["targetPort"] not in ports]
    for ing in by_kind.get("Ingress", {}).values():
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                svc = by_kind["Service"].get(backend["name"])
                if svc is None or backend["port"]["name"] not in {
                        p["name"] for p in svc["spec"]["ports"]}:
                    found.append(f"Ingress backend {backend} is no Service port")
    return found


def relative(path: Path) -> str:
    return str(path.relative_to(DEPLOY))


def test_the_deploy_folder_holds_manifests_and_kustomizations():
    assert [relative(p) for p in MANIFESTS] == [
        "base/ingress.yaml", "base/namespace.yaml", "base/service.yaml", "base/statefulset.yaml"]
    assert [relative(p) for p in KUSTOMIZATIONS] == [
        "base/kustomization.yaml", "second-group/kustomization.yaml"]


@pytest.mark.parametrize("manifest", MANIFESTS, ids=relative)
def test_every_manifest_is_valid_kubernetes(manifest: Path):
    assert problems_of_manifest(manifest) == []


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=relative)
def test_every_kustomization_names_what_is_there(kustomization: Path):
    assert problems_of_kustomization(kustomization) == []


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=relative)
def test_kubectl_renders_every_kustomization_into_valid_kubernetes(kubectl: str,
                                                                   kustomization: Path,
                                                                   tmp_path: Path):
    objs = rendered(kubectl, kustomization.parent, tmp_path)
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == ["ConfigMap", "Ingress", "Namespace", "Secret", "Service", "StatefulSet"]
    assert [p for o in objs for p in problems_of_object(o)] == []
    assert problems_of_references(objs) == []


def test_the_second_group_gets_its_own_namespace_address_and_uids(kubectl: str,
                                                                  tmp_path: Path):
    first = rendered(kubectl, DEPLOY / "base", tmp_path / "first")
    second = rendered(kubectl, DEPLOY / "second-group", tmp_path / "second")

    def facts(objs: list[dict]) -> tuple:
        by_kind = {o["kind"]: o for o in objs}
        env = by_kind["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]["env"]
        return (by_kind["Namespace"]["metadata"]["name"],
                by_kind["Ingress"]["spec"]["rules"][0]["host"],
                by_kind["Ingress"]["spec"]["tls"][0]["secretName"],
                next(e["value"] for e in env if e["name"] == "NSLAB_UID_BASE"))

    assert facts(first) == ("nslab", "lab.example.org", "nslab-tls", "1073741824")
    assert facts(second) == ("nslab-b", "lab-b.example.org", "nslab-b-tls", "1342177280")


def test_a_misspelled_field_is_rejected(tmp_path: Path):
    # "replica" for "replicas": the loose schema lets it pass, the strict one must not.
    broken = tmp_path / "statefulset.yaml"
    text = (DEPLOY / "base" / "statefulset.yaml").read_text()
    assert "\n  replicas: 1\n" in text
    broken.write_text(text.replace("\n  replicas: 1\n", "\n  replica: 1\n"))
    (obj,) = objects(broken.read_text())
    kubernetes_validate.validate(obj, KUBERNETES, strict=False)
    assert problems_of_manifest(broken) == [
        "StatefulSet/nslab: spec: Additional properties are not allowed "
        "('replica' was unexpected)"]


def test_a_wrong_type_and_an_unknown_kind_are_rejected():
    service = objects((DEPLOY / "base" / "service.yaml").read_text())[0]
    service["spec"]["ports"][0]["port"] = "eighty"
    assert "spec.ports.0.port" in problems_of_object(service)[0]
    made_up = {"apiVersion": "v1", "kind": "Lab", "metadata": {"name": "nslab"}}
    assert "Couldn't find schema for kind Lab" in problems_of_object(made_up)[0]


def test_a_broken_kustomization_is_rejected(tmp_path: Path):
    shutil.copytree(DEPLOY, tmp_path / "kubernetes")
    base = tmp_path / "kubernetes" / "base"
    k = base / "kustomization.yaml"
    k.write_text(k.read_text().replace("resources:", "resource:")
                 .replace("  - service.yaml\n", "").replace("entrypoint.sh", "entrypoint"))
    assert problems_of_kustomization(k) == [
        "unknown field 'resource'",
        "ingress.yaml is in the folder but not in resources",
        "namespace.yaml is in the folder but not in resources",
        "service.yaml is in the folder but not in resources",
        "statefulset.yaml is in the folder but not in resources",
        "nslab-entrypoint: entrypoint is missing and not made by hand",
    ]


def test_a_dangling_reference_is_rejected(kubectl: str, tmp_path: Path):
    # Each object alone is valid; together they no longer fit.
    objs = [o for o in rendered(kubectl, DEPLOY / "base", tmp_path) if o["kind"] != "Secret"]
    (service,) = (o for o in objs if o["kind"] == "Service")
    service["spec"]["ports"][0]["name"] = "web"
    service["spec"]["selector"] = {"app": "nslab"}
    assert [p for o in objs for p in problems_of_object(o)] == []
    assert problems_of_references(objs) == [
        "env NSLAB_TRAINER_TOKEN: no Secret nslab-trainer",
        "Service nslab selects no pod",
        "Ingress backend {'name': 'nslab', 'port': {'name': 'http'}} is no Service port",
    ]
