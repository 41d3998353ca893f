"""Bad targets among good ones: does /metrics stay fast and do the good keep their cadence?

    .venv/bin/python bench/bad_targets.py

50 healthy HTTP targets plus targets that hang, reset the connection, answer garbage and
stream an endless body, all on 127.0.0.1. Prints /metrics latency (median of 20), the
reason each bad target reports, and the scheduling lag of the healthy ones.
"""

from __future__ import annotations

import re
import statistics
import time

from common import FakePlatform, Pitwatch, fetch, metrics_latency, wait_until, workdir

INTERVAL = "2s"


def main() -> None:
    directory = workdir()
    with FakePlatform(directory) as platform:
        bad = {
            "hang": platform.http_url("/hang"),
            "reset": f"http://{platform.address('reset')}/",
            "garbage": f"http://{platform.address('garbage')}/",
            "endless": platform.http_url("/endless"),
        }
        lines = ["global:", f"  interval: {INTERVAL}", "  timeout: 1500ms", "targets:"]
        lines += [
            f'  - {{name: ok-{i:02d}, component: api, probe: http, url: "{platform.http_url()}"}}'
            for i in range(50)
        ]
        lines += [
            f'  - {{name: bad-{name}, component: game_provider, probe: http, url: "{url}"}}'
            for name, url in bad.items()
        ]
        config = directory / "pitwatch.yml"
        config.write_text("\n".join(lines) + "\n")
        with Pitwatch(directory, config, "--log-level", "error") as pitwatch:
            wait_until(lambda: _probed(pitwatch) == 54, 20, "every target probed", 0.5)
            time.sleep(6)  # three more rounds
            median, _, plain = metrics_latency(pitwatch)
            text = fetch(f"{pitwatch.url}/metrics", gzip=False)[2].decode()
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                fetch(f"{pitwatch.url}/metrics", gzip=False)
                timings.append(time.perf_counter() - started)
    print(f"/metrics median of 20 (gzip)   {1000 * median:.1f} ms")
    print(
        f"/metrics median of 20 (plain)  {1000 * statistics.median(timings):.1f} ms ({plain} bytes)"
    )
    for name in bad:
        success = _value(text, "pitwatch_probe_success", f"bad-{name}")
        reasons = re.findall(
            rf'pitwatch_probe_errors_total\{{target="bad-{name}",[^}}]*reason="(\w+)"\}} ([1-9]\d*)',
            text,
        )
        print(f"bad-{name:10} success={success:.0f} reasons={dict(reasons)}")
    lag_sum = _value(text, "pitwatch_scheduler_lag_seconds_sum")
    lag_count = _value(text, "pitwatch_scheduler_lag_seconds_count")
    within = _value(text, 'pitwatch_scheduler_lag_seconds_bucket{le="0.01"}')
    print(
        f"scheduling lag: mean {1000 * lag_sum / lag_count:.2f} ms over {lag_count:.0f} probes, {100 * within / lag_count:.1f}% within 10 ms"
    )
    healthy = [
        _value(text, "pitwatch_probes_total", f"ok-{i:02d}", 'result="success"') for i in range(50)
    ]
    skipped = sum(_value(text, "pitwatch_probes_skipped_total", f"ok-{i:02d}") for i in range(50))
    print(
        f"healthy targets: {min(healthy):.0f}..{max(healthy):.0f} successful probes each, {skipped:.0f} skipped"
    )


def _probed(pitwatch: Pitwatch) -> int:
    return pitwatch.metrics().count("\npitwatch_probe_success{")


def _value(text: str, name: str, target: str | None = None, extra: str = "") -> float:
    if target is None:
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    else:
        match = re.search(
            rf'^{name}\{{target="{target}",[^}}]*{re.escape(extra)}[^}}]*\}} (\S+)$', text, re.M
        )
    assert match, (name, target)
    return float(match.group(1))


if __name__ == "__main__":
    main()
