"""``make stack``: a real Prometheus and Alertmanager on loopback, running the shipped
Prometheus config (``deploy/prometheus/prometheus.yml``, with its rules: ``rules/*.yml``) and
the shipped routing (``deploy/alertmanager/alertmanager.yml``), scraping the exporter of
``pitwatch demo`` (or any pitwatch) at 127.0.0.1:9469.

The shipped Alertmanager config sends to PagerDuty, Slack and e-mail with secrets read from
files that do not exist here, so the stack runs a copy whose receivers all post to a webhook
in this script, which prints each notification with the receiver it was meant for. The route
tree, its timings, the time intervals and the inhibit rules stay exactly as shipped (the
rewrite is :func:`devtools.alertmanager.local_config`, the one the tests use too).

Everything lives in a throwaway directory; Ctrl-C stops what this script started. Run from
the repository root as ``python -m scripts.stack`` (``make stack`` does).
"""

from __future__ import annotations

import argparse
import glob
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from devtools import REPO
from devtools.alertmanager import HEARTBEAT_ALERT, Alertmanager, local_config
from devtools.processes import Service, ServiceError, answers, find_binary
from devtools.prometheus import SHIPPED_CONFIG as PROMETHEUS_CONFIG
from devtools.prometheus import Prometheus, local_shipped_config
from devtools.webhook import Webhook

DASHBOARDS = REPO / "dashboards"
GRAFANA_DEPLOY = REPO / "deploy" / "grafana"
INSTALL = REPO / "scripts" / "install-test-deps.sh"
READY_SECONDS = 60.0
GRAFANA_IMAGE = "grafana/grafana-oss:11.6.0"


_LOCAL_ALERTMANAGER_HEADER = """\
# A local copy of deploy/alertmanager/alertmanager.yml written by `make stack`:
# receivers go to a printing webhook, everything else is as shipped.
"""
_LOCAL_PROMETHEUS_HEADER = """\
# A local copy of deploy/prometheus/prometheus.yml written by `make stack`:
# addresses on 127.0.0.1 and absolute rule paths, everything else is as shipped.
"""


class StackError(Exception):
    """Why the stack cannot run, as one line."""


# -- the configs ------------------------------------------------------------------------------


def rule_files(config: dict[str, Any]) -> list[Path]:
    """The files the config's rule_files patterns match."""
    return sorted({Path(path) for pattern in config["rule_files"] for path in glob.glob(pattern)})


def grafana_provisioning(directory: Path, prometheus_url: str, interval: str) -> Path:
    """Data source and dashboard provisioning for a Grafana on this machine."""
    datasources = directory / "provisioning" / "datasources"
    dashboards = directory / "provisioning" / "dashboards"
    datasources.mkdir(parents=True)
    dashboards.mkdir(parents=True)
    datasource = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus (pitwatch stack)",
                "type": "prometheus",
                "uid": "pitwatch-stack",
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": True,
                # $__rate_interval needs the scrape interval to be right.
                "jsonData": {"timeInterval": interval},
            }
        ],
    }
    provider = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "pitwatch",
                "folder": "pitwatch",
                "type": "file",
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": str(DASHBOARDS)},
            }
        ],
    }
    (datasources / "pitwatch-stack.yml").write_text(yaml.safe_dump(datasource, sort_keys=False))
    (dashboards / "pitwatch.yml").write_text(yaml.safe_dump(provider, sort_keys=False))
    return directory / "provisioning"


# -- the webhook that prints ------------------------------------------------------------------


class Printer:
    """Prints each notification Alertmanager sends, one line per alert."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self._lock = threading.Lock()
        self._heartbeats = 0

    def notification(self, receiver: str, payload: dict[str, Any]) -> None:
        with self._lock:
            for alert in payload.get("alerts") or []:
                labels = alert.get("labels") or {}
                if labels.get("alertname") == HEARTBEAT_ALERT:
                    self._heartbeats += 1
                    if self._heartbeats == 1:
                        self.say(
                            f"[{_clock()}] {receiver}: {HEARTBEAT_ALERT} arrived, the whole "
                            "pipeline works (later heartbeats are not shown)"
                        )
                    continue
                where = labels.get("target") or labels.get("component") or labels.get("instance")
                annotations = alert.get("annotations") or {}
                about = " ".join(str(annotations.get("description", "")).split())
                self.say(
                    f"[{_clock()}] {receiver}: {alert.get('status', '?').upper()} "
                    f"{labels.get('alertname', '?')} ({labels.get('severity', '?')}) "
                    f"{where or ''}".rstrip()
                )
                if about:
                    self.say(f"           {about}")


# -- processes ----------------------------------------------------------------------------------


_BINARIES = {"prometheus": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager"}
"""The binaries the stack runs and their Debian packages."""


def ensure_binaries() -> None:
    """Prometheus and Alertmanager, installed from Debian's packages when missing."""
    missing = [package for name, package in _BINARIES.items() if find_binary(name) is None]
    if not missing:
        return
    print("Prometheus or Alertmanager is missing; installing the Debian packages", flush=True)
    if subprocess.run([str(INSTALL), *missing], check=False).returncode != 0:
        raise StackError("install the Debian packages above, then run `make stack` again")
    if any(find_binary(name) is None for name in _BINARIES):
        raise StackError("prometheus and prometheus-alertmanager are still not installed")


# -- the command --------------------------------------------------------------------------------


def _clock() -> str:
    return time.strftime("%H:%M:%S")


def say(text: str) -> None:
    print(text, flush=True)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--exporter", default="127.0.0.1:9469", help="pitwatch to scrape (default 127.0.0.1:9469)"
    )
    parser.add_argument("--prometheus-port", type=_port, default=9090)
    parser.add_argument("--alertmanager-port", type=_port, default=9093)
    parser.add_argument(
        "--webhook-port", type=_port, default=0, help="the printing webhook (default: any free)"
    )
    parser.add_argument(
        "--interval",
        help="scrape and rule evaluation interval (default: deploy/prometheus/prometheus.yml's)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, stopping)
    signal.signal(signal.SIGTERM, stopping)
    try:
        status = run(args, stop)
    except (StackError, ServiceError, ValueError) as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    say("stack stopped")
    return status


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    ensure_binaries()
    prom_settings = local_shipped_config(
        args.exporter, f"127.0.0.1:{args.alertmanager_port}", args.interval
    )
    rules = rule_files(prom_settings)
    if not rules:
        raise StackError(f"the rule_files of {PROMETHEUS_CONFIG} match no file")
    interval = str(prom_settings["global"]["scrape_interval"])
    workdir = Path(tempfile.mkdtemp(prefix="pitwatch-stack-"))
    services: list[Service] = []
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        cleanup.callback(_stop_all, services)
        webhook = cleanup.enter_context(Webhook(Printer(say).notification, args.webhook_port))

        _refuse_taken(args.alertmanager_port, "Alertmanager", "--alertmanager-port")
        alertmanager = Alertmanager(
            workdir / "alertmanager",
            local_config(webhook.url),
            args.alertmanager_port,
            header=_LOCAL_ALERTMANAGER_HEADER,
            own_session=True,
        )
        services.append(alertmanager)
        alertmanager.start(READY_SECONDS)

        _refuse_taken(args.prometheus_port, "Prometheus", "--prometheus-port")
        prometheus = Prometheus(
            workdir / "prometheus",
            prom_settings,
            args.prometheus_port,
            header=_LOCAL_PROMETHEUS_HEADER,
            own_session=True,
        )
        services.append(prometheus)
        prometheus.start(READY_SECONDS)

        grafana = grafana_provisioning(workdir / "grafana", prometheus.url, interval)
        say(
            _banner(
                args,
                prometheus_url=prometheus.url,
                alertmanager_url=alertmanager.url,
                webhook_url=webhook.url,
                rule_files=rules,
                interval=interval,
                workdir=workdir,
            )
        )
        say(_grafana_hint(grafana, prometheus.url))
        return _watch(args, prometheus, services, stop)
    return 0  # unreachable: mypy cannot see that ExitStack does not swallow exceptions


def _stop_all(services: list[Service]) -> None:
    for service in reversed(services):
        service.stop()


def _refuse_taken(port: int, what: str, flag: str) -> None:
    if port and answers(f"http://127.0.0.1:{port}/-/ready"):
        raise StackError(
            f"something already answers on 127.0.0.1:{port} (another {what}?): "
            f"stop it or pick another port with {flag}"
        )


def _watch(
    args: argparse.Namespace,
    prometheus: Prometheus,
    services: list[Service],
    stop: threading.Event,
) -> int:
    last = None
    while not stop.wait(2.0):
        for service in services:
            if service.exited():
                say(f"stack: {service.name} stopped unexpectedly:\n{service.log_tail()}")
                return 1
        health = prometheus.scrape_health("pitwatch")
        if health is not None and health != last:
            if health == "up":
                say(f"[{_clock()}] Prometheus scrapes pitwatch at {args.exporter}: up")
            else:
                say(
                    f"[{_clock()}] Prometheus cannot scrape pitwatch at {args.exporter}: start "
                    "`make demo` in another terminal (or PitwatchExporterDown fires in 3m)"
                )
            last = health
    say("stopping Prometheus and Alertmanager ...")
    return 0


def _banner(
    args: argparse.Namespace,
    *,
    prometheus_url: str,
    alertmanager_url: str,
    webhook_url: str,
    rule_files: list[Path],
    interval: str,
    workdir: Path,
) -> str:
    return f"""\
pitwatch stack: Prometheus and Alertmanager on loopback, with the shipped rules and routes

  Prometheus    {prometheus_url}  (alerts: {prometheus_url}/alerts)
                as deploy/prometheus/prometheus.yml: scrapes pitwatch at {args.exporter}
                every {interval}, evaluates the {len(rule_files)} rule files of rules/
  Alertmanager  {alertmanager_url}  (API: {alertmanager_url}/api/v2/alerts)
                routes as deploy/alertmanager/alertmanager.yml; every receiver posts to
                {webhook_url}/<receiver>, printed below
  files         {workdir} (removed when the stack stops)
  stop          Ctrl-C
"""


def _grafana_hint(provisioning: Path, prometheus_url: str) -> str:
    if DASHBOARDS.is_dir() and any(DASHBOARDS.glob("*.json")):
        dashboards = ", ".join(sorted(p.name for p in DASHBOARDS.glob("*.json")))
    else:
        dashboards = "none yet in this checkout"
    deploy = (
        f"  Production provisioning files: {GRAFANA_DEPLOY.relative_to(REPO)}/\n"
        if GRAFANA_DEPLOY.is_dir()
        else ""
    )
    return f"""\
Grafana is not started here (Debian has no package for it). Provisioning for this stack is in
  {provisioning}
  (a Prometheus data source for {prometheus_url} and the dashboards of {DASHBOARDS}:
  {dashboards})
  With Docker:  docker run --rm --network host \\
                  -v {provisioning}:/etc/grafana/provisioning:ro \\
                  -v {DASHBOARDS}:{DASHBOARDS}:ro {GRAFANA_IMAGE}
                then open http://localhost:3000 (admin / admin), folder "pitwatch".
  A Grafana installed otherwise: copy the two files under {provisioning.name}/ into its
  provisioning directory (usually /etc/grafana/provisioning) and restart it.
{deploy}
notifications (one line per alert, as Alertmanager routes them):"""


if __name__ == "__main__":
    sys.exit(main())
