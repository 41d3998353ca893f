"""Values a probe learns while it runs (OAuth2 tokens, a flow's captured values) and must
never show. The scheduler masks the secrets written in the config; these it cannot know."""

from __future__ import annotations

from pitwatch.secrets import Secret, redact


class Hidden:
    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        self._values.add(value)

    def __call__(self, text: str) -> str:
        # Longest first: a short value inside a longer one must not leave the rest showing.
        values = sorted(self._values, key=len, reverse=True)
        return redact(text, [Secret(value) for value in values])
