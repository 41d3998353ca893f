"""deploy/compose/: the Compose file and the Dockerfile, checked without a Docker engine.

- docker-compose.yml against the compose-spec JSON schema (the copy check-jsonschema
  vendors), then what the stack relies on: its four services, loopback-only ports,
  healthchecks, and every bind-mounted host path present in the repository.
- Each service's files laid out as its container sees them (a directory of symlinks built
  from the volume list), then checked by the real tools: promtool for Prometheus, amtool for
  Alertmanager, ``pitwatch check-config`` for pitwatch, and Grafana's provisioning against
  where the dashboards are mounted.
- The Dockerfile parsed: every COPY source exists and survives the .dockerignore, the image
  runs as a numeric non-root user, the entrypoint is ``pitwatch``, the healthcheck asks
  ``/-/healthy`` on the exposed port.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tomllib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools import REPO
from devtools.processes import binary
from tests.support.deploy import (
    COMPOSE_DIR,
    RULE_PACK,
    check_prometheus_config,
    load_yaml,
    resolved_rule_files,
)
from tests.support.services import run_tool

COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
DOCKERFILE = COMPOSE_DIR / "Dockerfile"
DOCKERIGNORE = COMPOSE_DIR / "Dockerfile.dockerignore"
SERVICES = {"pitwatch": 9469, "prometheus": 9090, "alertmanager": 9093, "grafana": 3000}
"""Each service and the port it listens on (and publishes on the same port)."""
HEALTH_PATHS = {
    "pitwatch": "/-/healthy",
    "prometheus": "/-/ready",
    "alertmanager": "/-/ready",
    "grafana": "/api/health",
}
FROM_DASHBOARDS_BRANCH = {
    "deploy/grafana/datasources": "/etc/grafana/provisioning/datasources",
    "deploy/grafana/dashboards": "/etc/grafana/provisioning/dashboards",
    "dashboards": "/var/lib/grafana/dashboards/pitwatch",
}
"""Grafana's provisioning and the dashboards are written in another branch of issue 5 and may
not be in this checkout yet: the stack mounts exactly these, and once they exist every other
test here checks them like the rest."""


def compose() -> dict[str, Any]:
    return dict(load_yaml(COMPOSE_FILE))


@dataclass(frozen=True)
class Mount:
    service: str
    source: str
    target: str
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith((".", "/"))

    @property
    def host_path(self) -> Path:
        return (COMPOSE_DIR / self.source).resolve()


def mounts(service: str | None = None) -> list[Mount]:
    found = []
    for name, spec in compose()["services"].items():
        if service is not None and name != service:
            continue
        for volume in spec.get("volumes", []):
            assert isinstance(volume, str), f"{name}: short volume syntax, SOURCE:TARGET[:ro]"
            source, target, *mode = volume.split(":")
            found.append(Mount(name, source, target, mode == ["ro"]))
    return found


def container_view(service: str, root: Path) -> Path:
    """The service's bind mounts as symlinks under ``root``: ``root/etc/x`` -> the host path
    mounted at ``/etc/x``. Tools given ``root/<container path>`` resolve relative paths the
    way they will in the container."""
    for mount in mounts(service):
        if mount.is_bind:
            link = root / mount.target.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(mount.host_path)
    return root


# -- the Compose file ---------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec() -> None:
    check = Path(sys.executable).parent / "check-jsonschema"
    result = run_tool(str(check), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE))
    print(result.stdout.strip())


def test_the_four_services_publish_their_port_on_loopback_only() -> None:
    services = compose()["services"]
    assert set(services) == set(SERVICES)
    for name, port in SERVICES.items():
        assert services[name]["ports"] == [f"127.0.0.1:{port}:{port}"], name


def test_every_bind_mounted_host_path_is_in_the_repository() -> None:
    found = {mount.source: mount for mount in mounts() if mount.is_bind}
    assert found
    for mount in found.values():
        relative = mount.host_path.relative_to(REPO).as_posix()
        assert mount.read_only, f"{mount.service}: {mount.source} is mounted read-only"
        if relative in FROM_DASHBOARDS_BRANCH:
            assert FROM_DASHBOARDS_BRANCH[relative] == mount.target, mount
        else:
            assert mount.host_path.exists(), f"{mount.service} mounts missing {relative}"
    mounted = {mount.host_path.relative_to(REPO).as_posix() for mount in found.values()}
    assert set(FROM_DASHBOARDS_BRANCH) <= mounted


def test_named_volumes_are_declared_and_hold_only_data() -> None:
    declared = set(compose()["volumes"])
    named = {mount.source: mount for mount in mounts() if not mount.is_bind}
    assert set(named) == declared
    assert all(not mount.read_only for mount in named.values())


def test_every_service_has_a_healthcheck_on_its_health_endpoint() -> None:
    services = compose()["services"]
    for name, path in HEALTH_PATHS.items():
        if "healthcheck" in services[name]:
            test = " ".join(services[name]["healthcheck"]["test"])
        else:
            test = " ".join(dockerfile_instruction("HEALTHCHECK"))
        assert f"localhost:{SERVICES[name]}{path}" in test or (
            f"127.0.0.1:{SERVICES[name]}{path}" in test
        ), (name, test)


def test_dependencies_name_services() -> None:
    services = compose()["services"]
    for name, spec in services.items():
        assert set(spec.get("depends_on", [])) <= set(services) - {name}, name


def test_pitwatch_runs_unprivileged_with_ping_sockets() -> None:
    pitwatch = compose()["services"]["pitwatch"]
    assert pitwatch["cap_drop"] == ["ALL"]
    assert "cap_add" not in pitwatch
    assert pitwatch["read_only"] is True
    assert pitwatch["security_opt"] == ["no-new-privileges:true"]
    assert pitwatch["sysctls"]["net.ipv4.ping_group_range"] == "0 2147483647"


# -- each service's files, as its container sees them --------------------------------------


def test_prometheus_in_the_stack(tmp_path: Path) -> None:
    root = container_view("prometheus", tmp_path)
    command = compose()["services"]["prometheus"]["command"]
    config_path = root / config_flag(command, "--config.file").lstrip("/")
    output = check_prometheus_config(config_path)
    assert f"SUCCESS: {len(RULE_PACK)} rule files found" in output, output
    assert [path.resolve() for path in resolved_rule_files(config_path)] == [
        rule.resolve() for rule in RULE_PACK
    ]
    config = load_yaml(config_path)
    scraped = {
        t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert scraped == {f"pitwatch:{SERVICES['pitwatch']}"}
    alertmanagers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == [f"alertmanager:{SERVICES['alertmanager']}"]


def test_alertmanager_in_the_stack(tmp_path: Path) -> None:
    root = container_view("alertmanager", tmp_path)
    command = compose()["services"]["alertmanager"]["command"]
    config_path = root / config_flag(command, "--config.file").lstrip("/")
    result = run_tool(binary("amtool", "prometheus-alertmanager"), "check-config", str(config_path))
    # amtool counts template patterns, not the files they match: a pattern that matches
    # nothing in the container passes it. Templates are relative to the config's directory.
    for pattern in load_yaml(config_path)["templates"]:
        assert sorted(config_path.parent.glob(pattern)), f"{pattern} matches no template"
    print(result.stdout.strip())


def test_pitwatch_in_the_stack(tmp_path: Path) -> None:
    root = container_view("pitwatch", tmp_path)
    command = dockerfile_instruction("CMD")
    config_path = root / command[command.index("--config") + 1].lstrip("/")
    result = run_tool(sys.executable, "-m", "pitwatch", "check-config", str(config_path))
    print(result.stdout.strip())
    config = load_yaml(config_path)
    for target in config["targets"]:
        where = target.get("url") or f"//{target['address']}"
        host = urllib.parse.urlsplit(where).hostname
        assert host in SERVICES, f"{target['name']} probes {host}, not a service of the stack"


def test_grafana_provisioning_points_at_the_mounted_dashboards(tmp_path: Path) -> None:
    root = container_view("grafana", tmp_path)
    providers = sorted((root / "etc/grafana/provisioning/dashboards").glob("*.y*ml"))
    for provider_file in providers:
        for provider in load_yaml(provider_file).get("providers", []):
            path = provider["options"]["path"]
            assert (root / path.lstrip("/")).resolve() == (REPO / "dashboards").resolve(), path
    sources = sorted((root / "etc/grafana/provisioning/datasources").glob("*.y*ml"))
    for source_file in sources:
        for source in load_yaml(source_file).get("datasources", []):
            if source.get("type") == "prometheus":
                url = urllib.parse.urlsplit(source["url"])
                assert (url.hostname, url.port) == ("prometheus", SERVICES["prometheus"]), (
                    f"{source_file.name}: Grafana in the stack reaches Prometheus at "
                    f"http://prometheus:{SERVICES['prometheus']}, not {source['url']}"
                )
    print(f"{len(providers)} dashboard provider files, {len(sources)} data source files")


def config_flag(command: list[str], flag: str) -> str:
    values = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"{flag}=")]
    assert len(values) == 1, command
    return values[0]


# -- the Dockerfile -----------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    text: str

    def words(self) -> list[str]:
        """Exec (JSON) form as its list, shell form split like a shell."""
        text = self.text.strip()
        if text.startswith("["):
            return list(json.loads(text))
        return shlex.split(text)


def dockerfile() -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "a continuation line ends the Dockerfile"
    return instructions


def final_stage() -> list[Instruction]:
    instructions = dockerfile()
    start = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[start:]


def dockerfile_instruction(keyword: str) -> list[str]:
    """The final stage's (last) instruction of that kind, as words; HEALTHCHECK's command."""
    found = [ins for ins in final_stage() if ins.keyword == keyword]
    assert found, f"no {keyword} in the final stage"
    text = found[-1].text
    if keyword == "HEALTHCHECK":
        text = text[text.index("CMD ") + len("CMD ") :]
    return Instruction(keyword, text).words()


def copy_sources() -> list[str]:
    sources: list[str] = []
    for ins in dockerfile():
        assert ins.keyword != "ADD", "COPY, not ADD (no remote URLs, no implicit unpacking)"
        if ins.keyword != "COPY":
            continue
        words = ins.words()
        flags = [word for word in words if word.startswith("--")]
        if any(flag.startswith("--from=") for flag in flags):
            continue
        sources += [word for word in words if not word.startswith("--")][:-1]
    return sources


def test_every_stage_builds_on_python_311_slim() -> None:
    bases = [ins.words()[0] for ins in dockerfile() if ins.keyword == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11-slim(-\w+)?", base) for base in bases), bases


def test_every_copy_source_exists_and_is_not_ignored() -> None:
    sources = copy_sources()
    assert sources
    ignore = [line for line in DOCKERIGNORE.read_text().splitlines() if line and line[0] != "#"]
    assert ignore[0] == "*", "the ignore file starts from nothing and lets in what is copied"
    for source in sources:
        assert (REPO / source).exists(), source
        assert f"!{source}" in ignore, f"{source} is copied but left out of the build context"


def test_the_copied_files_are_all_the_package_build_needs() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {f"{where}/" for where in project["tool"]["setuptools"]["packages"]["find"]["where"]}
    assert needed <= set(copy_sources())


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    users = [ins.text for ins in final_stage() if ins.keyword == "USER"]
    assert users, "the final stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) > 0), users[-1]


def test_the_entrypoint_is_pitwatch_reading_the_mounted_config() -> None:
    assert dockerfile_instruction("ENTRYPOINT") == ["pitwatch"]
    command = dockerfile_instruction("CMD")
    assert command[0] == "run"
    config = command[command.index("--config") + 1]
    assert config in {mount.target for mount in mounts("pitwatch")}


def test_the_healthcheck_asks_the_exposed_port() -> None:
    exposed = dockerfile_instruction("EXPOSE")
    assert exposed == [str(SERVICES["pitwatch"])]
    check = " ".join(dockerfile_instruction("HEALTHCHECK"))
    assert f"http://127.0.0.1:{exposed[0]}/-/healthy" in check


@pytest.mark.parametrize("keyword", ["ENTRYPOINT", "CMD", "HEALTHCHECK"])
def test_exec_form_so_signals_reach_pitwatch(keyword: str) -> None:
    found = [ins for ins in final_stage() if ins.keyword == keyword]
    text = found[-1].text
    if keyword == "HEALTHCHECK":
        text = text[text.index("CMD ") + len("CMD ") :]
    assert text.startswith("["), f"{keyword} in exec form: {text}"
