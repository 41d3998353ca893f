"""Hostile configs, generated: the shipped examples mutated the way people and attackers break
YAML (aliases, nesting, tabs, NUL and non-UTF-8 bytes, huge numbers and names, odd tags), and
each loaded the way ``check-config`` loads it.

The verdict of one config is ``accepted``, ``rejected`` (every message ``FILE:LINE: ...``),
or a defect: ``traceback`` (anything but :class:`ConfigError` escaped), ``timeout`` (loading
took longer than :data:`HANG_SECONDS`) or ``unlocated`` (a message without its line).
``tests/test_config_fuzz.py`` runs a few hundred; ``bench/fuzz_config.py`` thousands.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pitwatch.config import ConfigError, load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
HANG_SECONDS = 20.0
"""Far beyond any real load (tens of ms): past it, loading hangs."""
ENVIRONMENT = {
    "BACKOFFICE_PASSWORD": "fuzz-backoffice",
    "REPORTS_DSN": "postgresql://reports@127.0.0.1:1/reports",
    "TEST_PLAYER_PASSWORD": "fuzz-player",
}

SEEDS = sorted(path.name for path in EXAMPLES.glob("*.yml"))
PAYLOADS = (
    "&a ",
    "*a",
    "<<: *a",
    "&a [*a]",
    "[" * 200,
    "[" * 60_000,
    "{" * 300,
    "- " * 100,
    ": ",
    "- ",
    "? ",
    "\t",
    "\x00",
    "\x07",
    "\ufeff",
    "'",
    '"',
    "|",
    ">-",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "!!python/object/apply:os.system ['true']",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!timestamp 2026-01-01",
    "!custom x",
    "1e3",
    "1e400",
    "-1e400",
    ".nan",
    ".inf",
    "-0",
    "0x",
    "0x" + "f" * 40,
    "0o777",
    "9" * 5000,
    "1" * 30 + "s",
    "1h1h",
    "99999999999999999999w",
    "~",
    "null",
    "a" * 5000,
    "secrets/" + "b" * 300,
    "/" + "c/" * 3000,
    "${UNSET_FUZZ_VARIABLE}",
    "${HOME}",
    "${",
    "{{ token }}",
    "{{",
    "[a, b]",
    "{a: 1}",
    "2026-11-22T02:00:00",
    "25:61",
    "\u202e",
    "\U0001f3b0",
)
BAD_BYTES = (b"\xff", b"\xc3", b"\xe9", b"\x80\x80", b"\xed\xa0\x80", b"\x00")
SCALAR = re.compile(r":[ ]+([^\n#]+)")


def prepare(directory: Path) -> Path:
    """A copy of the examples (with their secret files) to mutate inside; the environment
    variables they reference are set."""
    target = directory / "examples"
    if not target.exists():
        shutil.copytree(EXAMPLES, target)
    os.environ.update(ENVIRONMENT)
    return target


@dataclass
class Mutation:
    kind: str
    at: float
    payload: str
    raw: bytes = b""


@st.composite
def mutations(draw: st.DrawFn) -> list[Mutation]:
    count = draw(st.integers(min_value=1, max_value=6))
    found: list[Mutation] = []
    for _ in range(count):
        kind = draw(
            st.sampled_from(
                (
                    "insert",
                    "replace-value",
                    "delete-line",
                    "duplicate-line",
                    "indent",
                    "bytes",
                    "truncate",
                )
            )
        )
        at = draw(st.floats(min_value=0, max_value=1, allow_nan=False))
        payload = draw(st.sampled_from(PAYLOADS) | st.text(max_size=12))
        raw = draw(st.sampled_from(BAD_BYTES))
        found.append(Mutation(kind, at, payload, raw))
    return found


@st.composite
def hostile_configs(draw: st.DrawFn) -> tuple[str, bytes]:
    """(seed file name, mutated content)."""
    seed = draw(st.sampled_from(SEEDS))
    special = draw(st.integers(min_value=0, max_value=9))
    if special == 0:
        return seed, _built(draw)
    text = (EXAMPLES / seed).read_text()
    data = text.encode()
    for mutation in draw(mutations()):
        data = apply(data, mutation)
    return seed, data


def _built(draw: st.DrawFn) -> bytes:
    """Documents that are hostile as a whole: bombs, cycles, deep nesting."""
    shape = draw(st.sampled_from(("bomb", "cycle", "deep-flow", "deep-block", "wide", "merge")))
    size = draw(st.integers(min_value=2, max_value=12))
    if shape == "bomb":
        lines = ["a0: &a0 [" + ", ".join(["x"] * size) + "]"]
        for level in range(1, size):
            refs = ", ".join([f"*a{level - 1}"] * size)
            lines.append(f"a{level}: &a{level} [{refs}]")
        return ("\n".join(lines) + "\ntargets: []\n").encode()
    if shape == "cycle":
        return b"global:\n  labels: &l\n    x: *l\n"
    if shape == "deep-flow":
        depth = draw(st.sampled_from((65, 1_000, 50_000)))
        return b"targets: " + b"[" * depth + b"]" * depth + b"\n"
    if shape == "deep-block":
        depth = draw(st.sampled_from((65, 500, 3_000)))
        return "".join(f"{' ' * level}k{level}:\n" for level in range(depth)).encode()
    if shape == "wide":
        keys = "".join(f"  k{index}: {index}\n" for index in range(size * 1000))
        return f"global:\n{keys}".encode()
    return (
        "defaults: &d {component: api, probe: tcp, address: '127.0.0.1:1'}\ntargets:\n"
        + "".join(f"  - {{<<: *d, name: t{index}}}\n" for index in range(size * 50))
    ).encode()


def apply(data: bytes, mutation: Mutation) -> bytes:
    position = int(mutation.at * len(data))
    payload = mutation.payload.encode("utf-8", "surrogatepass")
    if mutation.kind == "insert":
        return data[:position] + payload + data[position:]
    if mutation.kind == "bytes":
        return data[:position] + mutation.raw + data[position:]
    if mutation.kind == "truncate":
        return data[:position]
    lines = data.split(b"\n")
    index = min(int(mutation.at * len(lines)), len(lines) - 1)
    if mutation.kind == "delete-line":
        del lines[index]
    elif mutation.kind == "duplicate-line":
        lines.insert(index, lines[index])
    elif mutation.kind == "indent":
        lines[index] = (b" " if len(payload) % 2 else b"  ") + lines[index]
    else:  # replace-value: the scalar after the first "key: " at or after the line
        for offset in range(len(lines)):
            line = lines[(index + offset) % len(lines)]
            text = line.decode("utf-8", "replace")
            match = SCALAR.search(text)
            if match:
                new = text[: match.start(1)] + mutation.payload + text[match.end(1) :]
                lines[(index + offset) % len(lines)] = new.encode("utf-8", "surrogatepass")
                break
    return b"\n".join(lines)


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    defects: list[str] = field(default_factory=list)

    def add(self, verdict: str, detail: str) -> None:
        self.counts[verdict] += 1
        if verdict not in ("accepted", "rejected") and len(self.defects) < 20:
            self.defects.append(f"{verdict}: {detail}")


def judge(path: Path) -> tuple[str, str]:
    """Load ``path`` as check-config does: (verdict, detail)."""
    outcome: dict[str, object] = {}

    def load() -> None:
        try:
            load_config(path)
            outcome["verdict"] = "accepted"
        except ConfigError as exc:
            outcome["problems"] = exc.problems
        except BaseException:
            outcome["traceback"] = traceback.format_exc(limit=-3)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(HANG_SECONDS)
    if worker.is_alive():
        return "timeout", str(path)
    if "traceback" in outcome:
        return "traceback", str(outcome["traceback"])
    if "problems" in outcome:
        located = re.compile(re.escape(str(path)) + r":\d+: \S")
        problems = outcome["problems"]
        assert isinstance(problems, list)
        bad = [problem for problem in problems if not located.match(problem)]
        if bad or not problems:
            return "unlocated", repr(bad[:2])
        return "rejected", problems[0]
    return "accepted", ""


def run_fuzz(directory: Path, examples: int, tally: Tally, seed: int | None = None) -> None:
    """``examples`` generated configs through :func:`check_one`, counted in ``tally``."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_configs())
    def one(case: tuple[str, bytes]) -> None:
        check_one(directory, *case, tally)

    if seed is not None:
        from hypothesis import seed as fixed_seed

        one = fixed_seed(seed)(one)
    one()


def check_one(directory: Path, seed: str, content: bytes, tally: Tally) -> str:
    path = directory / f"fuzz-{seed}"
    path.write_bytes(content)
    verdict, detail = judge(path)
    tally.add(verdict, detail)
    return verdict
