"""A real Prometheus scraping a real pitwatch that probes 10,000 targets (a local server),
with a 1 s scrape timeout. A scrape either times out (``up`` 0, nothing stored) or is whole:
the same sample count each time and every target's series in each (a partial body taken as
whole would leave targets with fewer samples).

    .venv/bin/python bench/prometheus_10k.py [--targets 10000] [--scrapes 20]

A benchmark, not a test: warming 10,000 targets and 20 scrapes take minutes on two cores,
past the suite's time budget. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import time

from common import Pitwatch, TargetServer, metrics_latency, read, wait_until, workdir
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
                window = "1h"
                scrapes = _raw(prometheus, f"up[{window}]")
                samples = _raw(prometheus, f"scrape_samples_scraped[{window}]")
                durations = _raw(prometheus, f"scrape_duration_seconds[{window}]")
                # Every target's series in every whole scrape: a partial body that Prometheus
                # took as whole would leave some targets with fewer samples than that.
                per_target = prometheus.query(f"count_over_time(pitwatch_probe_success[{window}])")
            median, _, plain = metrics_latency(pitwatch, 5)
            output = pitwatch.output()
    whole = [at for at, up in scrapes.items() if up == 1]
    counts = sorted({samples[at] for at in whole})
    held = sorted({int(series["value"][1]) for series in per_target})
    slowest = max((durations[at] for at in whole), default=0.0)
    print(f"targets: {args.targets}")
    print(
        f"scrapes: {len(scrapes)}, whole (up=1): {len(whole)}, timed out or failed: {len(scrapes) - len(whole)}"
    )
    print(
        f"samples per whole scrape: {', '.join(f'{c:.0f}' for c in counts)} (one value: no partial body)"
    )
    print(
        f"pitwatch_probe_success series: {len(per_target)}, samples each: "
        f"{', '.join(map(str, held))} (= whole scrapes: every target in every whole scrape)"
    )
    print(
        f"slowest whole scrape: {slowest:.3f}s (scrape_duration_seconds, which includes storing "
        "the samples: the body itself came within the 1s timeout)"
    )
    print(f"/metrics direct (gzip, median of 5): {median:.3f}s, {plain} bytes plain")
    print(f"tracebacks in pitwatch's log: {output.count('Traceback')}")


def _raw(prometheus: Prometheus, selector: str) -> dict[float, float]:
    """The raw samples of a one-series range selector, by timestamp."""
    result = prometheus.query(selector)
    return {float(at): float(value) for at, value in result[0]["values"]} if result else {}


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"took {time.monotonic() - started:.0f}s")
