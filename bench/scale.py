"""How far one pitwatch process goes: N HTTP targets against a local server.

    .venv/bin/python bench/scale.py                 # 1,000 targets
    .venv/bin/python bench/scale.py --targets 10000

The target server runs in its own process; both share this machine's cores, as they would
not in production, so the figures are a floor.
"""

from __future__ import annotations

import argparse
import time

from common import Pitwatch, TargetServer, metrics_latency, read, wait_until, workdir
from pitwatch.durations import parse_duration


def config_text(targets: int, port: int, interval: str, histogram: bool) -> str:
    lines = [
        "global:",
        f"  interval: {interval}",
        "  max_concurrency: 512",
        "  labels: {platform: bench}",
    ]
    if not histogram:
        lines.append("  latency_buckets: []")
    lines += ["host: {enabled: false}", "targets:"]
    components = ("game_provider", "payment_gateway", "api", "kyc")
    for index in range(targets):
        lines.append(
            f"  - {{name: provider-{index:05d}, component: {components[index % 4]}, "
            f"tier: {index % 3 + 1}, team: team-{index % 7}, probe: http, "
            f'url: "http://127.0.0.1:{port}/ok"}}'
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--interval", default="15s")
    parser.add_argument(
        "--measure", type=float, default=30.0, help="seconds measured after warm-up"
    )
    parser.add_argument("--no-histogram", action="store_true", help="latency_buckets: []")
    args = parser.parse_args()
    interval = parse_duration(args.interval)
    directory = workdir()
    with TargetServer() as server:
        config = directory / "pitwatch.yml"
        config.write_text(
            config_text(args.targets, server.port, args.interval, not args.no_histogram)
        )
        started = time.monotonic()
        with Pitwatch(directory, config, "--log-level", "warning") as pitwatch:
            print(
                f"pitwatch up with {args.targets} targets after {time.monotonic() - started:.1f}s"
            )
            # every target scheduled at least once, then one more interval to settle; reading
            # /metrics is itself work at 10,000 targets, so poll gently
            wait_until(
                lambda: read(pitwatch).probes >= args.targets, interval * 4 + 60, "warm-up", 5
            )
            time.sleep(interval)
            first = read(pitwatch)
            time.sleep(args.measure)
            last = read(pitwatch)
            median, gzip_size, plain_size = metrics_latency(pitwatch)
        elapsed = last.at - first.at
        done = (last.probes - first.probes) / elapsed
        scheduled = args.targets / interval
        probes = max(1.0, last.probes - first.probes)
        lag_count = max(1.0, last.lag_count - first.lag_count)
        report = {
            "targets": f"{args.targets}",
            "interval": args.interval,
            "probes/s done vs scheduled": f"{done:.1f} / {scheduled:.1f} ({100 * done / scheduled:.1f}%)",
            "skipped in window": f"{last.skipped - first.skipped:.0f}",
            "mean scheduling lag": f"{1000 * (last.lag_sum - first.lag_sum) / lag_count:.1f} ms",
            "exporter CPU per probe": f"{1000 * (last.cpu - first.cpu) / probes:.2f} ms",
            "exporter CPU share": f"{100 * (last.cpu - first.cpu) / elapsed:.0f}% of one core",
            "exporter RSS": f"{last.rss / 2**20:.0f} MiB",
            "/metrics median (20, gzip)": f"{1000 * median:.0f} ms",
            "/metrics size": f"{plain_size / 2**20:.1f} MiB plain, {gzip_size / 2**20:.2f} MiB gzip",
        }
        for key, value in report.items():
            print(f"{key:29}{value}")


if __name__ == "__main__":
    main()
