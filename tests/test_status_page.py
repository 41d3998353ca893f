"""The status page as a person sees it: rendered by a real browser."""

from __future__ import annotations

import re
import time
from pathlib import Path

from devtools import REPO
from devtools.processes import wait_until
from tests.support.browser import rendered_dom, screenshot
from tests.support.demo import TARGETS, DemoProcess
from tests.support.fake_platform import FakePlatform
from tests.support.services import Pitwatch
from tests.support.targets import write_config

ARTIFACT = REPO / "artifacts" / "status-page.png"
DEMO_ARTIFACT = REPO / "artifacts" / "status-page-demo.png"


def test_status_page_in_a_browser(platform: FakePlatform, tmp_path: Path) -> None:
    targets = {
        "evolution-lobby": (
            "game_provider",
            2,
            "integrations",
            f'probe: http, url: "{platform.http_url()}"',
        ),
        "pragmatic-live": (
            "game_provider",
            2,
            "integrations",
            f'probe: http, url: "{platform.http_url("/status/503")}"',
        ),
        "psp-adyen": (
            "payment_gateway",
            1,
            "payments",
            f'probe: http, url: "{platform.https_url()}", tls: {{ca_file: "{platform.ca_file}"}}',
        ),
        "psp-skrill": (
            "payment_gateway",
            2,
            "payments",
            f'probe: http, url: "{platform.http_url("/hang")}"',
        ),
        "core-api": ("api", 1, "backend", f'probe: http, url: "{platform.http_url()}"'),
        "wallet-db-port": (
            "database",
            1,
            "dba",
            f'probe: tcp, address: "{platform.address("banner")}"',
        ),
        "kyc-<onfido>": ("kyc", 2, "support", f'probe: http, url: "{platform.http_url()}"'),
    }
    lines = ["global: {interval: 1s, timeout: 800ms}", "targets:"]
    for name, (component, tier, team, probe) in targets.items():
        safe = name.replace("<", "").replace(">", "")
        lines.append(
            f"  - {{name: {safe}, component: {component}, tier: {tier}, team: {team}, "
            f'description: "{name}", {probe}}}'
        )
    config = write_config(tmp_path, "\n".join(lines) + "\n")
    with Pitwatch(tmp_path / "run", config) as pitwatch:
        wait_until(
            lambda: pitwatch.metrics().count("\npitwatch_probe_success{") == len(targets),
            15,
            "every target probed",
        )
        time.sleep(2.5)  # a few probes for the history strips
        dom = rendered_dom(pitwatch.url + "/")
        shot = screenshot(pitwatch.url + "/", ARTIFACT)
    print(f"status page screenshot: {shot}")
    for name in targets:
        assert f">{name.replace('<', '').replace('>', '')}<" in dom
    assert "kyc-&lt;onfido&gt;" in dom  # the description, escaped, in a title
    assert "<script" not in dom
    down = re.findall(r"class=\"state down\">DOWN", dom)
    assert len(down) == 2  # pragmatic-live (503) and psp-skrill (hangs)
    assert "HTTP 503 (expected 2xx)" in dom and "no answer within 800ms" in dom
    # failing targets come first in their group; groups appear as tiles with their share up
    assert dom.index(">pragmatic-live<") < dom.index(">evolution-lobby<")
    assert "1/2</b>game provider" in dom
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_status_page_of_the_demo_in_a_browser(tmp_path: Path) -> None:
    with DemoProcess(tmp_path, interval="1s") as demo:
        demo.wait_until_healthy()
        demo.set_fault("psp-cardway", "down")
        wait_until(lambda: demo.success().get("psp-cardway") == 0, 15, "psp-cardway down")
        dom = rendered_dom(demo.url + "/")
        shot = screenshot(demo.url + "/", DEMO_ARTIFACT)
    print(f"demo status page screenshot: {shot}")
    for name in TARGETS:
        assert f">{name}<" in dom, name
    row = dom[dom.index(">psp-cardway<") - 200 : dom.index(">psp-cardway<")]
    assert "DOWN" in row
    assert "connect" in dom[dom.index(">psp-cardway<") :][:1500]
    assert shot.stat().st_size > 20_000
