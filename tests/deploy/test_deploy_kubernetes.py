"""deploy/kubernetes/, checked offline:

- rendered by the real ``kubectl kustomize`` (Debian ``kubernetes-client``; no cluster), as
  shipped (Mode A, ServiceMonitor) and with the documented swap to probe.yaml (Mode B);
- core kinds validated with kubernetes-validate's strict schemas (unknown fields are errors)
  for the oldest and the newest Kubernetes it ships;
- ServiceMonitor, Probe and PrometheusRule validated against JSON schemas derived from
  cloudcoil's prometheus-operator models (generated from the operator's CRDs), made strict the
  same way;
- each PrometheusRule's groups through ``promtool check rules``, and the generated files in
  step with rules/ and dashboards/ (scripts/render_k8s.py, for any number of dashboards);
- the values that have to agree across files (replicas and shard count, names, ports, the
  config's path and targets) agreeing, and the pod spec hardened.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate_utils

from devtools import REPO
from devtools.processes import binary
from tests.support.deploy import (
    KUBERNETES_DIR,
    RULE_PACK,
    load_documents,
    load_yaml,
    promtool,
)
from tests.support.services import run_tool

RENDER = REPO / "scripts" / "render_k8s.py"
GENERATED = KUBERNETES_DIR / "generated"
PROBE_FILE = KUBERNETES_DIR / "probe.yaml"
CONFIG_FILE = KUBERNETES_DIR / "pitwatch.yml"
OPERATOR_KINDS = frozenset({"ServiceMonitor", "Probe", "PrometheusRule"})
KUBERNETES_VERSIONS = (
    kubernetes_validate_utils.all_versions()[0],
    kubernetes_validate_utils.latest_version(),
)
"""The oldest and the newest Kubernetes whose schemas kubernetes-validate ships."""
MAX_OBJECT_BYTES = 1024 * 1024
"""A ConfigMap holds at most 1 MiB; other objects stay under it too."""


def kustomize(directory: Path) -> list[dict[str, Any]]:
    result = run_tool(binary("kubectl", "kubernetes-client"), "kustomize", str(directory))
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


@cache
def rendered() -> tuple[dict[str, Any], ...]:
    return tuple(kustomize(KUBERNETES_DIR))


@cache
def rendered_mode_b() -> tuple[dict[str, Any], ...]:
    """The kustomization switched to Mode B as mode-b.patch.yaml says: probe.yaml instead of
    servicemonitor.yaml, and the patch that turns the replicas' own schedule off."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "kubernetes"
        shutil.copytree(KUBERNETES_DIR, copy)
        kustomization = copy / "kustomization.yaml"
        text = kustomization.read_text()
        assert text.count("  - servicemonitor.yaml\n") == 1
        text = text.replace("  - servicemonitor.yaml\n", "  - probe.yaml\n")
        kustomization.write_text(text + "\npatchesStrategicMerge:\n  - mode-b.patch.yaml\n")
        return tuple(kustomize(copy))


def only(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}s"
    return found[0]


def kustomization() -> dict[str, Any]:
    return dict(load_yaml(KUBERNETES_DIR / "kustomization.yaml"))


def container(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    containers = only(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env(docs: tuple[dict[str, Any], ...], name: str) -> str:
    values = [item["value"] for item in container(docs).get("env", []) if item["name"] == name]
    assert len(values) == 1, name
    return str(values[0])


# -- generated files ----------------------------------------------------------------------


def test_generated_files_are_in_step_with_rules_and_dashboards() -> None:
    result = subprocess.run(
        [sys.executable, str(RENDER), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("count", [0, 1, 3])
def test_render_makes_one_config_map_per_dashboard(tmp_path: Path, count: int) -> None:
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir()
    for index in range(count):
        body = {"uid": f"pitwatch-d{index}", "title": f"D {index}", "panels": []}
        (dashboards / f"pitwatch-D_{index}.json").write_text(json.dumps(body, indent=2) + "\n")
    out = tmp_path / "out"
    run_tool(sys.executable, str(RENDER), "--dashboards", str(dashboards), "--out", str(out))
    maps = load_documents(out / "dashboards.yaml")
    assert len(maps) == count
    assert len({m["metadata"]["name"] for m in maps}) == count
    for config_map, path in zip(maps, sorted(dashboards.glob("*.json")), strict=True):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", config_map["metadata"]["name"])
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["data"] == {path.name: path.read_text()}
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(config_map, version, strict=True)


def test_prometheus_rules_carry_the_rule_pack_unchanged() -> None:
    rules = load_documents(GENERATED / "prometheusrules.yaml")
    assert [rule["metadata"]["name"] for rule in rules] == [path.stem for path in RULE_PACK]
    for rule, path in zip(rules, RULE_PACK, strict=True):
        assert rule["spec"]["groups"] == load_yaml(path)["groups"], path.name
        labels = rule["metadata"]["labels"]
        assert labels["prometheus"] == "k8s" and labels["role"] == "alert-rules"
        assert "release" in labels


def test_promtool_accepts_each_prometheus_rule(tmp_path: Path) -> None:
    files = []
    for rule in load_documents(GENERATED / "prometheusrules.yaml"):
        path = tmp_path / f"{rule['metadata']['name']}.yml"
        path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
        files.append(str(path))
    result = run_tool(promtool(), "check", "rules", "--lint=all", "--lint-fatal", *files)
    assert result.stdout.count("SUCCESS") == len(RULE_PACK)


# -- what kustomize renders -----------------------------------------------------------------


def test_kustomize_renders_the_expected_objects() -> None:
    docs = rendered()
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in docs)
    dashboards = sorted((REPO / "dashboards").glob("*.json"))
    config_maps = [name for kind, name in kinds if kind == "ConfigMap"]
    assert len(config_maps) == 1 + len(dashboards)
    assert sum(name.startswith("pitwatch-config-") for name in config_maps) == 1
    assert [k for k in kinds if k[0] not in {"ConfigMap", "PrometheusRule"}] == [
        ("Service", "pitwatch"),
        ("ServiceMonitor", "pitwatch"),
        ("StatefulSet", "pitwatch"),
    ]
    assert sum(kind == "PrometheusRule" for kind, _ in kinds) == len(RULE_PACK)
    namespace = kustomization()["namespace"]
    assert all(doc["metadata"]["namespace"] == namespace for doc in docs)
    assert all(len(json.dumps(doc)) < MAX_OBJECT_BYTES for doc in docs)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_match_the_kubernetes_schemas(version: str) -> None:
    core = [doc for doc in rendered() if doc["kind"] not in OPERATOR_KINDS]
    assert core
    for doc in core:
        kubernetes_validate.validate(doc, version, strict=True)


def operator_schema(kind: str) -> dict[str, Any]:
    """The JSON schema of an operator kind from cloudcoil's models (generated from the CRDs),
    made strict: an object with declared properties admits no others, as the API server's
    strict field validation (kubectl's default) rejects unknown fields."""
    from cloudcoil.models.prometheus_operator import v1

    schema: dict[str, Any] = getattr(v1, kind).model_json_schema(by_alias=True)

    def strict(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                strict(value)
        elif isinstance(node, list):
            for value in node:
                strict(value)

    strict(schema)
    return schema


def schema_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(operator_schema(doc["kind"]))
    return [
        f"{doc['kind']}/{doc['metadata']['name']} {'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def test_operator_objects_match_the_crd_schemas() -> None:
    docs = [doc for doc in (*rendered(), *rendered_mode_b()) if doc["kind"] in OPERATOR_KINDS]
    assert {doc["kind"] for doc in docs} == OPERATOR_KINDS
    errors = [error for doc in docs for error in schema_errors(doc)]
    assert errors == []


def test_the_crd_schemas_reject_unknown_fields_and_wrong_values() -> None:
    probe = only(rendered_mode_b(), "Probe")
    misspelt = json.loads(json.dumps(probe))
    static = misspelt["spec"]["targets"]["staticConfig"]
    static["relabelingConfig"] = static.pop("relabelingConfigs")
    assert any("relabelingConfig" in error for error in schema_errors(misspelt))
    wrong_action = json.loads(json.dumps(probe))
    wrong_action["spec"]["targets"]["staticConfig"]["relabelingConfigs"][0]["action"] = "hash"
    assert schema_errors(wrong_action)


# -- values that must agree -----------------------------------------------------------------


def test_replicas_and_shards_agree() -> None:
    docs = rendered()
    statefulset = only(docs, "StatefulSet")
    replicas = statefulset["spec"]["replicas"]
    assert env(docs, "PITWATCH_SHARD") == f"auto/{replicas}"
    # --shard auto/N reads the ordinal from the host name, which a StatefulSet sets.
    assert "hostname" not in statefulset["spec"]["template"]["spec"]
    mode_b = rendered_mode_b()
    assert env(mode_b, "PITWATCH_NO_SCHEDULE") == "1"
    assert [item["name"] for item in container(mode_b)["env"]] == ["PITWATCH_NO_SCHEDULE"]
    assert only(mode_b, "StatefulSet")["spec"]["replicas"] == replicas
    probe = only(mode_b, "Probe")
    hashmods = [
        rule
        for rule in probe["spec"]["targets"]["staticConfig"]["relabelingConfigs"]
        if rule.get("action") == "hashmod"
    ]
    assert [rule["modulus"] for rule in hashmods] == [replicas]


def test_probe_addresses_the_replicas_by_name() -> None:
    docs = rendered_mode_b()
    statefulset, service = only(docs, "StatefulSet"), only(docs, "Service")
    namespace = kustomization()["namespace"]
    port = service["spec"]["ports"][0]["port"]
    probe = only(docs, "Probe")
    assert probe["spec"]["prober"]["url"] == f"{service['metadata']['name']}.{namespace}.svc:{port}"
    assert probe["spec"]["prober"]["path"] == "/probe"
    address = probe["spec"]["targets"]["staticConfig"]["relabelingConfigs"][-1]
    assert address["targetLabel"] == "__address__"
    assert address["replacement"] == (
        f"{statefulset['metadata']['name']}-$1.{statefulset['spec']['serviceName']}"
        f".{namespace}.svc:{port}"
    )
    assert re.fullmatch("pitwatch.*", probe["spec"]["jobName"])
    assert "ServiceMonitor" not in {doc["kind"] for doc in docs}


def test_probe_asks_for_every_configured_target() -> None:
    names = [target["name"] for target in load_yaml(CONFIG_FILE)["targets"]]
    static = load_yaml(PROBE_FILE)["spec"]["targets"]["staticConfig"]["static"]
    assert static == names


def test_service_and_monitor_select_the_pods() -> None:
    docs = rendered()
    statefulset, service = only(docs, "StatefulSet"), only(docs, "Service")
    monitor = only(docs, "ServiceMonitor")
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    port_names = {port["name"] for port in service["spec"]["ports"]}
    assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= port_names
    assert container(docs)["ports"][0]["name"] in {
        p["targetPort"] for p in service["spec"]["ports"]
    }
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    assert re.fullmatch("pitwatch.*", job), job


def test_the_pods_read_the_generated_config() -> None:
    docs = rendered()
    config_map = next(
        doc for doc in docs if doc["kind"] == "ConfigMap" and "pitwatch.yml" in doc["data"]
    )
    assert config_map["data"]["pitwatch.yml"] == CONFIG_FILE.read_text()
    pod = only(docs, "StatefulSet")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if "projected" in v)
    sources = volume["projected"]["sources"]
    assert {"configMap": {"name": config_map["metadata"]["name"]}} in sources
    mount = next(m for m in container(docs)["volumeMounts"] if m["name"] == volume["name"])
    args = container(docs)["args"]
    assert args[0] == "run"
    assert args[args.index("--config") + 1] == f"{mount['mountPath']}/pitwatch.yml"
    run_tool(sys.executable, "-m", "pitwatch", "check-config", str(CONFIG_FILE))


def test_the_image_is_this_version_of_pitwatch() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    (image,) = kustomization()["images"]
    assert image["newTag"] == version
    assert container(rendered())["image"] == f"{image['newName']}:{version}"


# -- the pod spec -------------------------------------------------------------------------


def test_the_pod_is_hardened() -> None:
    docs = rendered()
    pod = only(docs, "StatefulSet")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # ICMP without any capability: ping sockets, through a namespaced "safe" sysctl.
    assert pod["securityContext"]["sysctls"] == [
        {"name": "net.ipv4.ping_group_range", "value": "0 2147483647"}
    ]
    main = container(docs)
    assert main["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert main["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert main["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert {"cpu", "memory"} <= set(main["resources"]["requests"])
    assert "memory" in main["resources"]["limits"]
    assert all(mount.get("readOnly") for mount in main["volumeMounts"] if mount["name"] == "config")
