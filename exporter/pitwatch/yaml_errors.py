"""PyYAML's parse errors as sentences a config author can act on, with the line to look at.

PyYAML reports what its parser expected ("expected <block end>, but found '?'"); the person
editing the file wants to know what is wrong with the line: a key indented differently from
its siblings, a colon in an unquoted value, a tab, a bracket never closed.
"""

from __future__ import annotations

import re

import yaml

_INDENTATION = (
    "the indentation does not match the lines above: a key or list item here is indented "
    "differently from its siblings"
)
_SENTENCES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"expected <block end>, but found '-'"),
     "a list item (-) where a key was expected: check the indentation, or put the list under "
     "a key"),
    (re.compile(r"expected <block end>"), _INDENTATION),
    (re.compile(r"mapping values are not allowed here"),
     "a second colon on this line: quote a value that contains ': ', or check the indentation"),
    (re.compile(r"found character '\\t' that cannot start any token"),
     "a tab character: YAML is indented with spaces only"),
    (re.compile(r"found character '(.)' that cannot start any token"),
     "a value cannot start with {0!r}: quote it"),
    (re.compile(r"could not find expected ':'"),
     "a line without the colon of \"key: value\" (or a multi-line value that is not indented)"),
    (re.compile(r"found undefined alias '(.*)'"),
     "alias *{0} names no anchor: define &{0} before using it"),
    (re.compile(r"expected ',' or '\]'"), "a [ list ] is not closed, or its items lack commas"),
    (re.compile(r"expected ',' or '\}'"), "a { mapping } is not closed, or its items lack commas"),
    (re.compile(r"found unexpected end of stream"), "a quoted value is never closed"),
    (re.compile(r"but found another document"),
     "a second YAML document (---): the config is one document"),
    (re.compile(r"found duplicate anchor '(.*)'"), "anchor &{0} is defined twice"),
    (re.compile(r"expected alphabetic or numeric character"),
     "an anchor or alias needs a name (&name, *name)"),
)  # fmt: skip


def describe(exc: yaml.YAMLError) -> tuple[int | None, str]:
    """The line (1-based, if known) and a sentence for a PyYAML error."""
    if isinstance(exc, yaml.reader.ReaderError):
        return None, f"character {exc.character!r} is not allowed in YAML"
    if not isinstance(exc, yaml.MarkedYAMLError):
        return None, f"invalid YAML: {exc}"
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or exc.context or "cannot parse"
    for pattern, sentence in _SENTENCES:
        found = pattern.search(problem) or pattern.search(exc.context or "")
        if found:
            text = sentence.format(*found.groups()) if found.groups() else sentence
            break
    else:
        text = f"invalid YAML: {problem}"
    begun = exc.context_mark
    if begun is not None and line is not None and begun.line + 1 != line:
        if (exc.context or "").startswith("while"):
            text += f" (in the block that begins on line {begun.line + 1})"
        else:
            text += f" (first on line {begun.line + 1})"
    return line, text
