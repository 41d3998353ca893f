"""How long `pitwatch report` takes on a long range of a large fleet.

Backfills a local Prometheus (``promtool tsdb create-blocks-from openmetrics``) with two
periods of history of N targets (the report compares with the previous period, so both hold
data) scraped every ``--scrape`` seconds, with incidents, alerts and a weekly maintenance
window of the payment gateways; starts Prometheus on the blocks and waits until their count has
held for a minute (Debian's Prometheus 2.42 leaves backfilled 2-hour blocks as they are in that
time, which is slower to read than the compacted blocks of a Prometheus that ran for weeks);
then times the service report (JSON and HTML) and a post-incident report, and prints the
figures. Backfilling 1,000 targets x 60 days takes about 25 minutes on 2 cores; ``--data``
keeps the blocks for the next run.

    .venv/bin/python bench/report_scale.py [--targets 1000] [--days 30] [--scrape 60]
        [--data DIR]   # keep the blocks there and reuse them next time
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.history import (  # noqa: E402
    INSTANCE,
    JOB,
    Alert,
    History,
    Maintenance,
    Outage,
    Target,
    write_tsdb,
)
from tests.support.report_history import HistoryPrometheus  # noqa: E402

END = 1796083200
"""2026-12-01T00:00:00Z."""
DAY = 86400
COMPONENTS = (
    ("game_provider", 400, "integrations"),
    ("payment_gateway", 100, "payments"),
    ("api", 200, "backend"),
    ("kyc", 50, "compliance"),
    ("database", 100, "dba"),
    ("network", 150, "platform"),
)


def fleet(count: int, scrape: int) -> list[Target]:
    targets: list[Target] = []
    total = sum(n for _, n, _ in COMPONENTS)
    for component, share, team in COMPONENTS:
        for index in range(max(1, round(count * share / total))):
            if len(targets) >= count:
                break
            targets.append(
                Target(
                    f"{component[:3]}-{index:04d}",
                    component,
                    tier=1 + index % 3,
                    team=team,
                    probe="tcp" if component in ("database", "network") else "http",
                    canary=component == "network" and index < 3,
                    interval=scrape,
                    latency=0.05 + (index % 7) * 0.03,
                )
            )
    return targets


def labels(target: Target) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            {
                "component": target.component,
                "instance": INSTANCE,
                "job": JOB,
                "platform": "hist",
                "target": target.name,
                "team": target.team,
                "tier": str(target.tier),
            }.items()
        )
    )


def history(count: int, days: int, scrape: int) -> History:
    targets = fleet(count, scrape)
    start = END - 2 * days * DAY
    outages, alerts = [], []
    for number in range(2 * days):
        # One outage a day somewhere, 5 to 30 minutes, alerted like TargetDown does.
        target = targets[(number * 37) % len(targets)]
        begin = start + number * DAY + (number * 7919) % (20 * 3600) + 3600
        length = 300 + (number * 131) % 1500
        outages.append(Outage((target.name,), begin, begin + length, "connect"))
        alerts.append(
            Alert(
                "PitwatchTargetDown",
                "high",
                labels(target),
                begin + 2 * scrape,
                begin + 3 * scrape,
                begin + length + scrape,
            )
        )
    games = [t.name for t in targets if t.component == "game_provider"][:20]
    begin = END - DAY + 20 * 3600
    outages.append(Outage(tuple(games), begin, begin + 900, "timeout"))
    alerts.append(
        Alert(
            "PitwatchGameProvidersDown",
            "critical",
            (("component", "game_provider"), ("platform", "hist"), ("team", "integrations")),
            begin + scrape,
            begin + 2 * scrape,
            begin + 900 + scrape,
        )
    )
    payments = tuple(t.name for t in targets if t.component == "payment_gateway")
    maintenance = [
        Maintenance(payments, day, day + 2 * 3600) for day in range(start + 2 * 3600, END, 7 * DAY)
    ]
    return History(
        start=start,
        end=END,
        targets=targets,
        outages=outages,
        maintenance=maintenance,
        alerts=alerts,
        scrape=scrape,
        evaluation=scrape,
    )


def blocks_loaded(url: str) -> int:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    match = re.search(r"^prometheus_tsdb_blocks_loaded (\d+)", text, flags=re.M)
    return int(match.group(1)) if match else -1


def timed(*args: str) -> tuple[float, str, str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pitwatch", "report", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"report failed: {done.stderr.strip()}")
    return elapsed, done.stdout, done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scrape", type=int, default=60)
    parser.add_argument("--data", type=Path, help="keep the blocks here and reuse them")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pitwatch-report-bench-"))
    data = args.data or scratch / "blocks"
    stamp = data / "bench.json"
    wanted = {"targets": args.targets, "days": args.days, "scrape": args.scrape}
    try:
        if stamp.exists() and json.loads(stamp.read_text()) == wanted:
            print(f"report_scale: reusing the blocks in {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)
            planned = history(args.targets, args.days, args.scrape)
            started = time.monotonic()
            samples = write_tsdb(planned, data, workers=2)
            print(
                f"report_scale: backfilled {len(planned.targets)} targets x {2 * args.days} days "
                f"at {args.scrape}s: {samples:,} samples in {time.monotonic() - started:.0f}s"
            )
            stamp.write_text(json.dumps(wanted))
        with HistoryPrometheus(scratch / "prometheus", data) as prom:
            settled, last, since = time.monotonic(), blocks_loaded(prom.url), time.monotonic()
            while time.monotonic() - since < 60:
                time.sleep(5)
                now = blocks_loaded(prom.url)
                if now != last:
                    last, since = now, time.monotonic()
            print(
                f"report_scale: Prometheus compacted to {last} blocks in {time.monotonic() - settled:.0f}s"
            )
            period = ("--from", str(END - args.days * DAY), "--to", str(END))
            for fmt in ("json", "html"):
                elapsed, _out, err = timed(
                    "--prometheus",
                    prom.url,
                    *period,
                    "--format",
                    fmt,
                    "--output",
                    str(scratch / f"report.{fmt}"),
                )
                queries = re.search(r"\((\d+) queries\)", err)
                print(
                    f"report_scale: service report, {args.days} days, {args.targets} targets, --format {fmt}: "
                    f"{elapsed:.1f}s ({queries.group(1) if queries else '?'} queries)"
                )
            document = json.loads((scratch / "report.json").read_text())
            print(
                f"report_scale: it found {len(document['incidents'])} incidents, "
                f"{sum(t['probes'] for t in document['targets']):,} probes, "
                f"{len(document['maintenance'])} maintenance windows"
            )
            fleet_id = next(
                i["id"] for i in document["incidents"] if "PitwatchGameProvidersDown" in i["alerts"]
            )
            elapsed, _, _ = timed(
                "incident",
                fleet_id,
                "--prometheus",
                prom.url,
                "--format",
                "html",
                "--output",
                str(scratch / "incident.html"),
            )
            print(f"report_scale: post-incident report of {fleet_id} (20 targets): {elapsed:.1f}s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
