#!/usr/bin/env python3
"""``make stack``: a real Prometheus and Alertmanager on loopback, running the shipped
Prometheus config (``deploy/prometheus/prometheus.yml``, with its rules: ``rules/*.yml``) and
the shipped routing (``deploy/alertmanager/alertmanager.yml``), scraping the exporter of
``pitwatch demo`` (or any pitwatch) at 127.0.0.1:9469.

The shipped Alertmanager config sends to PagerDuty, Slack and e-mail with secrets read from
files that do not exist here, so the stack runs a copy whose receivers all post to a webhook
in this script, which prints each notification with the receiver it was meant for. The route
tree, its timings, the time intervals and the inhibit rules stay exactly as shipped.

Everything lives in a throwaway directory; Ctrl-C stops what this script started.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_DIR = REPO / "deploy" / "alertmanager"
DASHBOARDS = REPO / "dashboards"
GRAFANA_DEPLOY = REPO / "deploy" / "grafana"
INSTALL = REPO / "scripts" / "install-test-deps.sh"
HEARTBEAT_ALERT = "PitwatchWatchdog"
READY_SECONDS = 60.0
STOP_SECONDS = 10.0
GRAFANA_IMAGE = "grafana/grafana-oss:11.6.0"

_SECRET_GLOBALS = ("smtp_auth_password_file", "slack_api_url_file", "smtp_auth_password")
"""Global settings that point at secrets this machine does not have (no receiver uses them)."""


class StackError(Exception):
    """Why the stack cannot run, as one line."""


# -- the configs ------------------------------------------------------------------------------


def local_alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """The shipped config with every receiver posting to ``webhook_url/<receiver>`` instead
    (keeping its ``send_resolved``); routes, timings, time intervals, inhibit rules as shipped."""
    config: dict[str, Any] = yaml.safe_load((ALERTMANAGER_DIR / "alertmanager.yml").read_text())
    for key in _SECRET_GLOBALS:
        (config.get("global") or {}).pop(key, None)
    config["receivers"] = [
        {
            "name": receiver["name"],
            "webhook_configs": [
                {"url": f"{webhook_url}/{receiver['name']}", "send_resolved": _resolved(receiver)}
            ],
        }
        for receiver in config["receivers"]
    ]
    config["templates"] = [str(ALERTMANAGER_DIR / pattern) for pattern in config["templates"]]
    return config


def _resolved(receiver: dict[str, Any]) -> bool:
    """Whether the shipped receiver sends resolved notices (each integration's own default)."""
    defaults = {"slack_configs": False, "email_configs": False}
    for kind, integrations in receiver.items():
        if kind.endswith("_configs"):
            for integration in integrations:
                return bool(integration.get("send_resolved", defaults.get(kind, True)))
    return True


def local_prometheus_config(
    exporter: str, alertmanager: str, interval: str | None = None
) -> dict[str, Any]:
    """The shipped deploy/prometheus/prometheus.yml with its addresses pointed at this machine
    (``localhost`` may resolve to ::1 where only 127.0.0.1 listens) and its rule file patterns
    made absolute; ``interval`` overrides the scrape and evaluation interval."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["rule_files"] = [
        os.path.normpath(PROMETHEUS_CONFIG.parent / pattern) for pattern in config["rule_files"]
    ]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == "pitwatch"]
    if len(jobs) != 1:
        raise StackError(f"{PROMETHEUS_CONFIG} has no single scrape job named pitwatch")
    jobs[0]["static_configs"] = [{"targets": [exporter]}]
    if interval is not None:
        config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = interval
    return config


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


@contextmanager
def webhook(printer: Printer, port: int) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            printer.notification(self.path.strip("/"), payload)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    except OSError as exc:
        raise StackError(f"cannot listen on 127.0.0.1:{port} for the webhook: {exc}") from None
    thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- processes ----------------------------------------------------------------------------------


def find_binary(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin:/usr/local/bin")


def binaries() -> tuple[str, str]:
    """Prometheus and Alertmanager, installed from Debian's packages when missing."""
    found = find_binary("prometheus"), find_binary("prometheus-alertmanager")
    if None in found:
        print("Prometheus or Alertmanager is missing; installing the Debian packages", flush=True)
        packages = ["prometheus", "prometheus-alertmanager"]
        if subprocess.run([str(INSTALL), *packages], check=False).returncode != 0:
            raise StackError("install the Debian packages above, then run `make stack` again")
        found = find_binary("prometheus"), find_binary("prometheus-alertmanager")
    prometheus, alertmanager = found
    if prometheus is None or alertmanager is None:
        raise StackError("prometheus and prometheus-alertmanager are still not installed")
    return prometheus, alertmanager


class Process:
    def __init__(self, name: str, command: list[str], workdir: Path, ready_url: str) -> None:
        self.name = name
        self.command = command
        self.log_path = workdir / f"{name}.log"
        self.ready_url = ready_url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            # Its own process group: the terminal's Ctrl-C reaches only this script, which
            # then stops the children in order.
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"{self.name} exited at start:\n{self.log_tail()}")
            if answers(self.ready_url):
                return
            time.sleep(0.2)
        raise StackError(f"{self.name} was not ready after {READY_SECONDS:g}s:\n{self.log_tail()}")

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_SECONDS)

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"  {line}" for line in lines[-15:])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def scrape_health(prometheus_url: str) -> str | None:
    """``up``/``down`` of the pitwatch scrape target as Prometheus last saw it, or None."""
    query = urllib.parse.urlencode({"state": "active"})
    try:
        with urllib.request.urlopen(f"{prometheus_url}/api/v1/targets?{query}", timeout=5) as r:
            data = json.loads(r.read())["data"]["activeTargets"]
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None
    for target in data:
        if target.get("labels", {}).get("job") == "pitwatch" and target.get("health") != "unknown":
            return str(target["health"])
    return None


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
    except StackError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    say("stack stopped")
    return status


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    prometheus_bin, alertmanager_bin = binaries()
    prom_settings = local_prometheus_config(
        args.exporter, f"127.0.0.1:{args.alertmanager_port}", args.interval
    )
    rules = rule_files(prom_settings)
    if not rules:
        raise StackError(f"the rule_files of {PROMETHEUS_CONFIG} match no file")
    interval = str(prom_settings["global"]["scrape_interval"])
    workdir = Path(tempfile.mkdtemp(prefix="pitwatch-stack-"))
    prometheus_url = f"http://127.0.0.1:{args.prometheus_port}"
    alertmanager_url = f"http://127.0.0.1:{args.alertmanager_port}"
    processes: list[Process] = []
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        cleanup.callback(_stop_all, processes)
        webhook_url = cleanup.enter_context(webhook(Printer(say), args.webhook_port))

        am_config = workdir / "alertmanager.yml"
        am_config.write_text(
            "# A local copy of deploy/alertmanager/alertmanager.yml written by `make stack`:\n"
            "# receivers go to a printing webhook, everything else is as shipped.\n"
            + yaml.safe_dump(local_alertmanager_config(webhook_url), sort_keys=False)
        )
        alertmanager = Process(
            "alertmanager",
            [
                alertmanager_bin,
                f"--config.file={am_config}",
                f"--storage.path={workdir / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{args.alertmanager_port}",
                "--cluster.listen-address=",
            ],
            workdir,
            f"{alertmanager_url}/-/ready",
        )
        _refuse_taken(args.alertmanager_port, "Alertmanager", "--alertmanager-port")
        processes.append(alertmanager)
        alertmanager.start()

        prom_config = workdir / "prometheus.yml"
        prom_config.write_text(
            "# A local copy of deploy/prometheus/prometheus.yml written by `make stack`:\n"
            "# addresses on 127.0.0.1 and absolute rule paths, everything else is as shipped.\n"
            + yaml.safe_dump(prom_settings, sort_keys=False)
        )
        prometheus = Process(
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={workdir / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{args.prometheus_port}",
            ],
            workdir,
            f"{prometheus_url}/-/ready",
        )
        _refuse_taken(args.prometheus_port, "Prometheus", "--prometheus-port")
        processes.append(prometheus)
        prometheus.start()

        grafana = grafana_provisioning(workdir / "grafana", prometheus_url, interval)
        say(
            _banner(
                args,
                prometheus_url=prometheus_url,
                alertmanager_url=alertmanager_url,
                webhook_url=webhook_url,
                rule_files=rules,
                interval=interval,
                workdir=workdir,
            )
        )
        say(_grafana_hint(grafana, prometheus_url))
        return _watch(args, prometheus_url, processes, stop)
    return 0  # unreachable: mypy cannot see that ExitStack does not swallow exceptions


def _stop_all(processes: list[Process]) -> None:
    for process in reversed(processes):
        process.stop()


def _refuse_taken(port: int, what: str, flag: str) -> None:
    if port and answers(f"http://127.0.0.1:{port}/-/ready"):
        raise StackError(
            f"something already answers on 127.0.0.1:{port} (another {what}?): "
            f"stop it or pick another port with {flag}"
        )


def _watch(
    args: argparse.Namespace,
    prometheus_url: str,
    processes: list[Process],
    stop: threading.Event,
) -> int:
    last = None
    while not stop.wait(2.0):
        for process in processes:
            if process.exited():
                say(f"stack: {process.name} stopped unexpectedly:\n{process.log_tail()}")
                return 1
        health = scrape_health(prometheus_url)
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
