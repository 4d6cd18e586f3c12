"""Every manifest in cluster/ validated offline against KubeRay v1.7's CRD schemas (unknown
fields rejected) and against our sanity rules."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
CRDS = ROOT.parent / "shared" / "kuberay-crds"
MANIFESTS = sorted((ROOT / "cluster").glob("*.yaml"))
CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}


def strict(schema: dict) -> dict:
    """The CRD schema with additionalProperties: false wherever properties are listed and
    unknown fields are not explicitly preserved (what `kubectl --validate=strict` does)."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("x-kubernetes-int-or-string"):
                node.pop("type", None)
                node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@pytest.fixture(scope="module")
def schemas():
    if not CRDS.is_dir():
        pytest.skip(f"KubeRay CRDs not found at {CRDS} (../shared is absent)")
    out = {}
    for kind, name in CRD_FILES.items():
        crd = yaml.safe_load((CRDS / name).read_text())
        v1 = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        out[kind] = strict(v1["schema"]["openAPIV3Schema"])
    return out


def all_documents():
    for path in MANIFESTS:
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                yield path, i, doc


def documents():
    """The Ray documents (RayCluster, RayJob): CRD schemas and sanity rules apply."""
    for path, i, doc in all_documents():
        if doc["kind"] in CRD_FILES:
            yield pytest.param(doc, id=f"{path.name}#{i}")


def test_other_documents_are_only_the_data_claim_the_jobs_mount():
    others = [doc for _, _, doc in all_documents() if doc["kind"] not in CRD_FILES]
    assert [d["kind"] for d in others] == ["PersistentVolumeClaim"]
    claim = others[0]
    assert claim["apiVersion"] == "v1" and claim["spec"]["resources"]["requests"]["storage"]
    claimed = {
        volume["persistentVolumeClaim"]["claimName"]
        for _, _, doc in all_documents()
        for volumes in walk_keys(doc, "volumes")
        for volume in volumes
        if "persistentVolumeClaim" in volume
    }
    assert claimed == {claim["metadata"]["name"]}


def test_there_are_manifests():
    names = {p.name for p in MANIFESTS}
    expected = {"raycluster.yaml", "rayjob-scan.yaml", "rayjob-train.yaml", "rayjob-tune.yaml"}
    assert expected <= names


@pytest.mark.parametrize("doc", list(documents()))
def test_manifest_matches_the_crd_schema(schemas, doc):
    assert doc["apiVersion"] == "ray.io/v1"
    jsonschema.validate(doc, schemas[doc["kind"]])


def test_an_unknown_field_is_rejected(schemas):
    doc = yaml.safe_load((ROOT / "cluster/raycluster.yaml").read_text())
    doc["spec"]["headGroupSpec"]["rayStartParam"] = {"num-cpus": "0"}  # a typo
    with pytest.raises(jsonschema.ValidationError, match="rayStartParam"):
        jsonschema.validate(doc, schemas["RayCluster"])


def cluster_specs(doc):
    if doc["kind"] == "RayCluster":
        return [doc["spec"]]
    return [doc["spec"]["rayClusterSpec"]] if "rayClusterSpec" in doc["spec"] else []


def pod_specs(spec):
    yield "head", spec["headGroupSpec"]["template"]["spec"]
    for group in spec.get("workerGroupSpecs", []):
        yield group["groupName"], group["template"]["spec"]


def walk_keys(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from walk_keys(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from walk_keys(v, key)


@pytest.mark.parametrize("doc", list(documents()))
def test_sanity_rules(doc):
    specs = cluster_specs(doc)
    assert specs, "a RayJob must bring its own cluster (rayClusterSpec)"
    for spec in specs:
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
        assert spec["enableInTreeAutoscaling"] is True
        assert spec["authOptions"]["mode"] == "token"
        assert spec["headGroupSpec"].get("serviceType", "ClusterIP") == "ClusterIP"
        assert spec["autoscalerOptions"].get("idleTimeoutSeconds", 0) > 0
        for group in spec.get("workerGroupSpecs", []):
            assert group["minReplicas"] == 0 < group["maxReplicas"]
        for name, pod in pod_specs(spec):
            assert pod["securityContext"]["runAsNonRoot"] is True, name
            assert pod["securityContext"]["runAsUser"] != 0, name
            for c in pod["containers"]:
                image = c["image"]
                tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
                assert tag and tag != "latest", f"{name}: image {image} is not pinned"
                res = c["resources"]
                assert res["limits"] == res["requests"], f"{name}: limits != requests"
                assert {"cpu", "memory"} <= set(res["limits"]), name
                assert c.get("securityContext", {}).get("allowPrivilegeEscalation") is False
    assert not list(walk_keys(doc, "nodePort")), "no NodePort exposure"
    assert "NodePort" not in list(walk_keys(doc, "serviceType"))
    if doc["kind"] == "RayJob":
        assert doc["spec"]["shutdownAfterJobFinishes"] is True
        assert doc["spec"]["ttlSecondsAfterFinished"] > 0


def test_entrypoints_exist():
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            entry = (doc or {}).get("spec", {}).get("entrypoint", "")
            script = None
            for token in entry.split():
                if token.endswith(".py"):
                    rel = token.split("/accelerate-rl/", 1)[-1]
                    script = ROOT / rel
                    assert script.is_file(), f"{path.name}: {token} does not exist"
                elif token.startswith("--"):  # every option is one the script defines
                    flag = token.split("=", 1)[0]
                    assert f'"{flag}"' in script.read_text(), f"{path.name}: {script} has no {flag}"


def test_the_tracewin_training_job_holds_one_licence_per_slot_on_the_tracewin_group():
    """RL training on TraceWin: the service's slots take a tracewin_licence each, which
    only the autoscaled tracewin workers (the licensed image) offer."""
    doc = yaml.safe_load((ROOT / "cluster/rayjob-train-tracewin.yaml").read_text())
    entry = doc["spec"]["entrypoint"].split()
    assert entry[entry.index("--simulator") + 1] == "tracewin"
    assert entry[entry.index("--licence") + 1] == "tracewin_licence"
    groups = {g["groupName"]: g for g in doc["spec"]["rayClusterSpec"]["workerGroupSpecs"]}
    licensed = [n for n, g in groups.items() if "tracewin_licence" in str(g["rayStartParams"])]
    assert licensed == ["tracewin"]
    image = groups["tracewin"]["template"]["spec"]["containers"][0]["image"]
    assert "accelerate-rl-tracewin:" in image
    cluster = yaml.safe_load((ROOT / "cluster/raycluster.yaml").read_text())
    (reference,) = [g for g in cluster["spec"]["workerGroupSpecs"] if g["groupName"] == "tracewin"]
    assert groups["tracewin"]["rayStartParams"] == reference["rayStartParams"]
