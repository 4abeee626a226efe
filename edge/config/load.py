"""Loading, merging, validating and comparing configurations.

- :func:`load_file` reads the local YAML file (syntax errors with line and column, duplicate keys
  rejected, ``${STATE_DIRECTORY}``-style references to the directories systemd hands the service
  expanded, relative paths resolved against the file's folder) and validates it; every error comes
  back at once in a :class:`ConfigError`.
- :func:`merge_desired` lays the fleet's desired config, then the gate's, over the local file; a
  desired config may not touch the local-only sections (:data:`LOCAL_ONLY_PATHS`).
- Any document nested deeper than :data:`edge.config.guards.MAX_DEPTH` is refused with a report.
- :func:`validate` never raises anything but ConfigError; :func:`try_validate` returns it instead.
- :func:`classify_change` says whether a new config can be applied between transactions.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from edge.config.errors import (
    EXPECTED_MAPPING,
    FILE_PATH,
    MISSING,
    ROOT_PATH,
    UNREADABLE,
    YAML_PATH,
    ConfigError,
    ConfigIssue,
    DesiredOrigin,
    Summary,
    describe,
    desired_path,
    dotted,
    issues_from_validation,
)
from edge.config.guards import MAX_DEPTH, local_only_issues, nesting_issue, too_deep, yaml_nesting_issue
from edge.config.paths import resolve_relative_paths
from edge.config.schema import LIVE_SECTIONS, LOCAL_ONLY_SECTIONS, GateConfig

ChangeKind = Literal["none", "live", "restart_required"]

# Environment variables a config file may reference: the directories systemd gives the service
# (StateDirectory=, CacheDirectory=, LoadCredential=, ...). Anything else stays literal, so a
# config never depends on arbitrary environment.
EXPANDABLE_ENV = frozenset(
    {"STATE_DIRECTORY", "CACHE_DIRECTORY", "LOGS_DIRECTORY", "RUNTIME_DIRECTORY", "CREDENTIALS_DIRECTORY"}
)
_ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")

# What a desired config may not set (whole sections; see edge.config.schema.LOCAL_ONLY_SECTIONS).
LOCAL_ONLY_PATHS = LOCAL_ONLY_SECTIONS


class ConfigChange(NamedTuple):
    kind: ChangeKind
    paths: tuple[str, ...]  # dotted paths of every changed leaf


class LoadedYaml(NamedTuple):
    data: Any
    lines: dict[str, tuple[int, int]]  # dotted path -> (line, column), 1-based


# --------------------------------------------------------------------------- YAML
def parse_yaml(text: str, source: str = "<config>") -> LoadedYaml:
    """Parse one YAML document, remembering where each key is; ConfigError on bad syntax."""
    loader: yaml.SafeLoader | None = None
    try:
        # The composer recurses once per level: a document nested too deep is refused from the
        # parser's event stream first, with the path where it got too deep.
        deep = yaml_nesting_issue(text)
        if deep is not None:
            raise ConfigError([deep], source)
        loader = yaml.SafeLoader(text)  # checks for unprintable characters already
        node = loader.get_single_node()
        if node is None:
            return LoadedYaml({}, {})
        lines: dict[str, tuple[int, int]] = {}
        dup_issues: list[ConfigIssue] = []
        _index_nodes(node, [], lines, dup_issues)
        if len(lines) > _MAX_NODES:
            # anchors and aliases can make a small file expand enormously ("billion laughs")
            raise ConfigError([ConfigIssue(YAML_PATH, f"{len(lines)}+ keys", "a config of sane size")], source)
        if dup_issues:
            raise ConfigError(dup_issues, source)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = _without_quotes(" ".join(p for p in (exc.context, exc.problem) if p) or "unreadable YAML")
        # Not the line's text: a broken line is often one holding a password (an unclosed quote).
        found: Any = Summary("a syntax error")
        raise ConfigError(
            [ConfigIssue(YAML_PATH, found, f"valid YAML ({problem})", None, line, column)], source
        ) from None
    except yaml.YAMLError as exc:  # not marked: encoding problems and the like
        problem = _without_quotes(str(exc))
        raise ConfigError([ConfigIssue(YAML_PATH, MISSING, f"valid YAML ({problem})")], source) from None
    except _TooDeep as exc:
        raise ConfigError([exc.issue], source) from None
    except RecursionError:  # not expected since the nesting is bounded; still a report, not a crash
        raise ConfigError([ConfigIssue(YAML_PATH, MISSING, "YAML nested less deeply")], source) from None
    finally:
        if loader is not None:
            loader.dispose()
    return LoadedYaml(data, lines)


_MAX_NODES = 20_000
# PyYAML quotes what it found ("found undefined alias 'hunter3'"): a quoted part longer than a
# character or two could be part of a value, so it is not repeated.
_QUOTED = re.compile(r"'[^']{3,}'|\"[^\"]{3,}\"")


class _TooDeep(Exception):
    def __init__(self, issue: ConfigIssue) -> None:
        super().__init__(issue.path)
        self.issue = issue


def _without_quotes(problem: str) -> str:
    return _QUOTED.sub("'...'", problem)


def _index_nodes(
    node: yaml.Node, path: list[str | int], lines: dict[str, tuple[int, int]], dups: list[ConfigIssue]
) -> None:
    if len(lines) > _MAX_NODES:
        return
    if len(path) >= MAX_DEPTH and isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        # Only aliases get here (the event stream was checked): anchors nested in one another.
        raise _TooDeep(too_deep(path, node.start_mark.line + 1))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "<complex key>"
            here = [*path, key]
            where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen and key != "<<":
                dups.append(ConfigIssue(dotted(here), key, "each key once in a mapping (duplicate key)", None, *where))
            seen.add(key)
            lines.setdefault(dotted(here), where)
            _index_nodes(value_node, here, lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            here = [*path, i]
            lines.setdefault(dotted(here), (item.start_mark.line + 1, item.start_mark.column + 1))
            _index_nodes(item, here, lines, dups)


def expand_env(data: Any, env: Mapping[str, str] | None = None, _path: tuple[str | int, ...] = ()) -> Any:
    """Expand ``${NAME}`` / ``${NAME:-default}`` for the systemd directory variables in strings.

    Raises ConfigError listing every reference that is unset and has no default.
    """
    env = os.environ if env is None else env
    issues: list[ConfigIssue] = []

    def walk(value: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(value, str):
            return _expand_one(value, env, path, issues)
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        return value

    out = walk(data, _path)
    if issues:
        raise ConfigError(issues)
    return out


def _expand_one(text: str, env: Mapping[str, str], path: tuple[str | int, ...], issues: list[ConfigIssue]) -> str:
    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name not in EXPANDABLE_ENV:
            return match.group(0)
        if env.get(name):
            # systemd may pass several directories separated by ':'; the first is ours.
            return env[name].split(":")[0]
        if default is not None:
            return default
        # The reference, not the whole text: the rest of it could be a secret (an inline password).
        issues.append(
            ConfigIssue(
                dotted(path),
                Summary(f"${{{name}}}"),
                f"${{{name}}} to be set (run under systemd) or a default: ${{{name}:-...}}",
            )
        )
        return match.group(0)

    return _ENV_REF.sub(repl, text)


# --------------------------------------------------------------------------- validate / load
def validate(data: Any, source: str | None = None, lines: Mapping[str, tuple[int, int]] | None = None) -> GateConfig:
    """Validate a plain mapping into a GateConfig; raises only ConfigError, listing every issue."""
    deep = nesting_issue(data)
    if deep is not None:
        raise ConfigError([_with_line(deep, lines) if lines else deep], source)
    try:
        return GateConfig.model_validate(data)
    except ValidationError as exc:
        issues = issues_from_validation(exc, GateConfig)
    except (TypeError, ValueError, RecursionError) as exc:  # pydantic wraps nearly all; be safe
        issues = [ConfigIssue(ROOT_PATH, UNREADABLE, f"a valid configuration ({type(exc).__name__})")]
    if lines:
        issues = sorted((_with_line(i, lines) for i in issues), key=lambda i: (i.line or 1 << 30, i.path))
    raise ConfigError(issues, source)


def try_validate(data: Any) -> GateConfig | ConfigError:
    """Like :func:`validate` but returns the error, for callers that report rather than raise."""
    try:
        return validate(data)
    except ConfigError as exc:
        return exc


def _with_line(issue: ConfigIssue, lines: Mapping[str, tuple[int, int]]) -> ConfigIssue:
    path = issue.path
    while path:
        if path in lines:
            line, col = lines[path]
            return ConfigIssue(issue.path, issue.value, issue.expected, issue.suggestion, line, col)
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return issue


def read_raw(path: str | Path, env: Mapping[str, str] | None = None) -> LoadedYaml:
    """The file as a plain mapping (env references expanded), with key positions."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(FILE_PATH, source, "an existing config file")], source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(FILE_PATH, source, f"a readable UTF-8 file ({exc})")], source) from None
    loaded = parse_yaml(text, source)
    if not isinstance(loaded.data, dict):
        raise ConfigError([ConfigIssue(ROOT_PATH, describe(loaded.data), EXPECTED_MAPPING)], source)
    try:
        data = expand_env(loaded.data, env)
    except ConfigError as exc:
        raise ConfigError([_with_line(i, loaded.lines) for i in exc.issues], source) from None
    # absolute(), not resolve(): "next to the file" means next to the name the operator gave.
    return LoadedYaml(resolve_relative_paths(data, Path(path).absolute().parent), loaded.lines)


def load_file(path: str | Path, env: Mapping[str, str] | None = None) -> GateConfig:
    """Read and validate the local config file; ConfigError (with line numbers) when invalid."""
    raw = read_raw(path, env)
    return validate(raw.data, str(path), raw.lines)


# --------------------------------------------------------------------------- fleet merge
def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists, scalars, null) replaces.

    A section whose ``backend`` changes (camera: v4l2 -> file) is replaced whole, since the keys
    of one backend are unknown to another.
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        old = out.get(key)
        if (
            isinstance(old, Mapping)
            and isinstance(value, Mapping)
            and ("backend" not in value or value.get("backend") == old.get("backend"))
        ):
            out[key] = deep_merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


_ABSENT = object()


def merge_desired(
    base: Mapping[str, Any],
    fleet: Mapping[str, Any] | None,
    gate: Mapping[str, Any] | None,
    version: int | None = None,
) -> dict[str, Any]:
    """The effective raw config: local file <- fleet desired <- gate desired.

    ``version`` follows the same precedence (the gate's desired version wins) unless given
    explicitly. Raises ConfigError when a desired document is not a mapping, nests too deep, or sets
    anything only the local file may set (:data:`LOCAL_ONLY_PATHS`), listing every such path.
    """
    issues: list[ConfigIssue] = []
    documents: tuple[tuple[DesiredOrigin, Any], ...] = (("fleet", fleet), ("gate", gate))
    for origin, doc in documents:
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            issues.append(ConfigIssue(desired_path(origin), describe(doc), EXPECTED_MAPPING))
            continue
        deep = nesting_issue(doc)
        if deep is not None:  # before anything walks it recursively (deep_merge, pydantic)
            issues.append(deep)
            continue
        issues.extend(local_only_issues(doc, origin))
    deep = nesting_issue(base)
    if deep is not None:
        issues.append(deep)
    if issues:
        raise ConfigError(issues, "desired config")
    merged = deep_merge(base, {})
    for doc in (fleet, gate):
        if doc is not None:
            merged = deep_merge(merged, doc)
    if version is not None:
        merged["version"] = version
    return merged


# --------------------------------------------------------------------------- change classes
def _leaves(value: Any, path: tuple[str | int, ...], out: dict[str, Any]) -> None:
    if isinstance(value, BaseModel):
        # Iterate the model's own fields: a discriminated camera changes type, not just values.
        out[dotted((*path, "__type__"))] = type(value).__name__
        for name in type(value).model_fields:
            _leaves(getattr(value, name), (*path, name), out)
    elif isinstance(value, (list, tuple)):
        out[dotted((*path, "__len__"))] = len(value)
        for i, item in enumerate(value):
            _leaves(item, (*path, i), out)
    elif isinstance(value, SecretStr):
        out[dotted(path)] = ("secret", value.get_secret_value())
    elif isinstance(value, float) and math.isnan(value):
        out[dotted(path)] = "nan"
    else:
        out[dotted(path)] = value


def _clean(path: str) -> str:
    for marker in (".__type__", ".__len__", "__type__", "__len__"):
        if path.endswith(marker):
            return path[: -len(marker)] or ROOT_PATH
    return path


def classify_change(old: GateConfig, new: GateConfig) -> ConfigChange:
    """``none``, ``live`` (only LIVE_SECTIONS changed) or ``restart_required``, with the paths."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _leaves(old, (), a)
    _leaves(new, (), b)
    changed = sorted({_clean(k) for k in a.keys() | b.keys() if a.get(k, _ABSENT) != b.get(k, _ABSENT)})
    changed = [p for p in changed if p != ROOT_PATH]
    if not changed:
        return ConfigChange("none", ())
    sections = {re.split(r"[.\[]", p, maxsplit=1)[0] for p in changed}
    kind: ChangeKind = "live" if sections <= LIVE_SECTIONS else "restart_required"
    return ConfigChange(kind, tuple(changed))
