"""A real Prometheus scraping a real pitwatch that probes 10,000 targets (a local server),
with a 1 s scrape timeout: every scrape must be whole (``up`` 1, the same sample count each
time, no scrape failing on a partial body).

    .venv/bin/python bench/prometheus_10k.py [--targets 10000] [--scrapes 20]

A benchmark, not a test: warming 10,000 targets and 20 scrapes take minutes on two cores,
past the suite's time budget. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import time

from common import Pitwatch, TargetServer, read, wait_until, workdir
from devtools.prometheus import Prometheus
from scale import config_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    directory = workdir()
    with TargetServer() as server:
        config = directory / "pitwatch.yml"
        config.write_text(config_text(args.targets, server.port, "15s", histogram=False))
        with Pitwatch(directory / "pitwatch", config, "--log-level", "warning") as pitwatch:
            wait_until(lambda: read(pitwatch).probes >= args.targets, 180, "warm-up", 5)
            scrape = {
                "job_name": "pitwatch",
                "scrape_interval": "2s",
                "scrape_timeout": "1s",
                "static_configs": [{"targets": [f"127.0.0.1:{pitwatch.port}"]}],
            }
            prometheus_config = {"global": {"scrape_interval": "2s"}, "scrape_configs": [scrape]}
            with Prometheus(directory / "prometheus", prometheus_config) as prometheus:
                wait_until(
                    lambda: (prometheus.value("count_over_time(up[1h])") or 0) >= args.scrapes,
                    args.scrapes * 2 + 120,
                    f"{args.scrapes} scrapes",
                    2,
                )
                window = f"{args.scrapes * 2 + 60}s"
                ups = prometheus.value(f"sum_over_time(up[{window}])")
                count = prometheus.value(f"count_over_time(up[{window}])")
                low = prometheus.value(f"min_over_time(scrape_samples_scraped[{window}])")
                high = prometheus.value(f"max_over_time(scrape_samples_scraped[{window}])")
                slowest = prometheus.value(f"max_over_time(scrape_duration_seconds[{window}])")
                series = prometheus.value('count({__name__=~"pitwatch_probe_success"})')
    print(f"targets: {args.targets}")
    print(f"scrapes: {count:.0f}, up=1 in {ups:.0f} of them")
    print(f"samples per scrape: min {low:.0f}, max {high:.0f} (equal: no partial body)")
    print(f"slowest scrape: {slowest:.3f}s (timeout 1s)")
    print(f"pitwatch_probe_success series in Prometheus: {series:.0f}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"took {time.monotonic() - started:.0f}s")
