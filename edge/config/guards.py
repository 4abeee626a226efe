"""Checks made on a document before it is merged or validated: how deep it nests, and whether a desired
config touches what only the local file may set.

Nesting is checked without recursion (a 900-level document must give a report, not a RecursionError),
on the YAML event stream before the composer (which recurses) sees it, and on any mapping before
:func:`edge.config.load.deep_merge` or pydantic walk it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml

from edge.config.errors import REDACTED, ConfigIssue, DesiredOrigin, Summary, desired_path, dotted
from edge.config.schema import LOCAL_ONLY_SECTIONS

# The schema nests four levels at most (mqtt.tls.ca_file); 32 leaves room for any honest document.
MAX_DEPTH: Final = 32
# Local-only paths listed one by one, at most: a pushed document with a million keys under ``mqtt``
# gets a report of bounded size (the rest are counted in one last issue).
MAX_LOCAL_ONLY_ISSUES: Final = 100


def too_deep(path: Iterable[str | int], line: int | None = None) -> ConfigIssue:
    """The issue for a collection found nested deeper than :data:`MAX_DEPTH` at ``path``."""
    where = dotted(list(path))
    return ConfigIssue(where, Summary(f"more than {MAX_DEPTH} nested levels"),
                       f"a document nested at most {MAX_DEPTH} levels deep", None, line)


def _part(key: Any) -> str | int:
    return key if isinstance(key, (str, int)) and not isinstance(key, bool) else str(key)


def nesting_issue(data: Any, prefix: tuple[str | int, ...] = ()) -> ConfigIssue | None:
    """An issue at the first path nested deeper than :data:`MAX_DEPTH`, or None.

    Iterative, so any depth (and even a mapping that contains itself) gives an answer.
    """
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(data, prefix, 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, Mapping):
            children: Iterable[tuple[str | int, Any]] = ((_part(k), v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            children = enumerate(value)
        else:
            continue
        if depth > MAX_DEPTH:
            return too_deep(path)
        stack.extend((child, (*path, key), depth + 1) for key, child in reversed(list(children)))
    return None


@dataclass
class _Frame:
    """One open collection in the YAML event stream: where the parser is inside it."""

    mapping: bool
    at: str | int = 0  # the current key (mapping) or index (sequence)
    expecting_key: bool = True

    def node_done(self) -> None:
        """A complete node (scalar, alias or collection) was read at this level."""
        if self.mapping:
            self.expecting_key = not self.expecting_key
        else:
            self.at = int(self.at) + 1


def yaml_nesting_issue(text: str) -> ConfigIssue | None:
    """Like :func:`nesting_issue`, on YAML text, from the parser's events (no recursion).

    Raises the parser's own errors (``yaml.MarkedYAMLError``) for the caller to report.
    """
    stack: list[_Frame] = []
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if stack and stack[-1].mapping and stack[-1].expecting_key:
                stack[-1].at = "<complex key>"
            if len(stack) >= MAX_DEPTH:
                return too_deep([f.at for f in stack], event.start_mark.line + 1 if event.start_mark else None)
            stack.append(_Frame(mapping=isinstance(event, yaml.MappingStartEvent)))
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            if not stack:
                continue
            top = stack[-1]
            if top.mapping and top.expecting_key:
                value = event.value if isinstance(event, yaml.ScalarEvent) else f"*{event.anchor}"
                top.at = value if value is not None else ""
            top.node_done()
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            stack.pop()
            if stack:
                stack[-1].node_done()
    return None


def local_only_issues(doc: Mapping[str, Any], origin: DesiredOrigin) -> list[ConfigIssue]:
    """One issue per leaf of a local-only section that a desired config sets; the values never shown.

    A value there could be a credential, a URL with one in it, or an attacker's; none is echoed back
    on the config/reported topic.
    """
    issues: list[ConfigIssue] = []
    expected = f"not set by the {origin} config (local file only)"
    more = 0
    for key in sorted(k for k in doc if k in LOCAL_ONLY_SECTIONS):
        stack: list[tuple[tuple[str | int, ...], Any]] = [((key,), doc[key])]
        while stack:
            path, value = stack.pop()
            if isinstance(value, Mapping) and value and len(path) < MAX_DEPTH:
                stack.extend(((*path, _part(k)), v) for k, v in reversed(list(value.items())))
            elif len(issues) < MAX_LOCAL_ONLY_ISSUES:
                issues.append(ConfigIssue(dotted(list(path)), Summary(REDACTED), expected))
            else:
                more += 1
    if more:
        issues.append(ConfigIssue(desired_path(origin), Summary(f"{more} more local-only keys"), expected))
    return issues
