"""Config errors the ESPHome way: every problem at once, each with its dotted path, the value
found, what was expected and, for a misspelt key, "did you mean ...".

:func:`issues_from_validation` turns a pydantic ``ValidationError`` into :class:`ConfigIssue` s by
walking the schema alongside each error's location, so that the tags pydantic inserts for unions
(``camera.v4l2.width``) disappear from the path (``camera.width``), the allowed keys at that path
are known for suggestions, and secrets are never echoed back: not the value of a ``SecretStr``
field (found by the schema's type, whatever the key is called), not what was found where a section
holding one was expected, and not the value of any unknown key (a misspelt ``pasword`` holds one).
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pydantic import BaseModel, SecretStr, ValidationError

# The one place for the codes an issue may carry instead of a key or a value: consumers of the
# config/reported topic and of `gate-edge check --json` match on them, so each is spelled here only.
#
# Paths of problems that belong to no key of the config (otherwise an issue's path is the dotted key).
ROOT_PATH: Final = "<root>"  # the document as a whole
YAML_PATH: Final = "<yaml>"  # the file's YAML syntax or size
FILE_PATH: Final = "<file>"  # the file itself: missing, unreadable
DesiredOrigin = Literal["fleet", "gate"]  # who sent a desired config document

# Values shown instead of the one found.
MISSING: Final = "<missing>"  # the key is absent
REDACTED: Final = "<redacted>"  # a secret, never echoed
UNREADABLE: Final = "<unreadable>"  # a value that could not even be inspected
UNKNOWN_KEY: Final = "<unknown key>"  # the key is not in the schema; its value is never shown

EXPECTED_MAPPING: Final = "a mapping of keys to values"

# pydantic error types (its names) that mean "this should have been a mapping".
_NOT_A_MAPPING_TYPES: Final = frozenset({"model_type", "model_attributes_type", "dict_type"})
_UNION_TAG_TYPES: Final = frozenset({"union_tag_invalid", "union_tag_not_found"})

_MAX_VALUE_CHARS = 80
# Key names whose values are never echoed in an error (a typo of "password" still holds one).
_SECRET_HINTS = ("pass", "secret", "token", "pwd", "credential")

# Friendlier wording for pattern errors, by path.
_PATTERN_HINTS = {
    "gate_id": "1-64 letters, digits, '_' or '-', starting with a letter or digit",
    "mqtt.gate_prefix": "a topic prefix without the wildcards '#' and '+'",
    "mqtt.fleet_prefix": "a topic prefix without the wildcards '#' and '+'",
}


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: where (dotted path), what was found, what was expected."""

    path: str
    value: Any
    expected: str
    suggestion: str | None = None  # "did you mean" candidate for an unknown key or tag
    line: int | None = None  # 1-based line in the YAML file, when known
    column: int | None = None

    def message(self) -> str:
        if self.value == UNKNOWN_KEY:
            text = f"{self.path}: unknown key, expected {self.expected}"
        else:
            text = f"{self.path}: found {_show(self.value)}, expected {self.expected}"
        if self.suggestion:
            text += f" (did you mean '{self.suggestion}'?)"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the config/reported topic and `gate-edge check --json`."""
        out: dict[str, Any] = {"path": self.path, "value": _jsonable(self.value), "expected": self.expected}
        if self.suggestion:
            out["suggestion"] = self.suggestion
        if self.line is not None:
            out["line"] = self.line
        return out


class ConfigError(ValueError):
    """The configuration is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue], source: str | None = None) -> None:
        self.issues: list[ConfigIssue] = list(issues) or [ConfigIssue(ROOT_PATH, None, "a valid configuration")]
        self.source = source
        super().__init__(format_issues(self.issues, source))


def format_issues(issues: Iterable[ConfigIssue], source: str | None = None) -> str:
    """A human report, one line per issue, prefixed with file:line when known."""
    items = list(issues)
    head = f"invalid configuration{f' in {source}' if source else ''}: {len(items)} problem(s)"
    lines = [head]
    for issue in items:
        where = ""
        if issue.line is not None:
            where = f"{source or 'line'}:{issue.line}: " if source else f"line {issue.line}: "
        lines.append(f"  - {where}{issue.message()}")
    return "\n".join(lines)


class Summary(str):
    """A stand-in for a value too large or too private to show (shown without quotes)."""

    def __repr__(self) -> str:
        return str(self)


def _show(value: Any) -> str:
    if isinstance(value, str) and value == MISSING:
        return "nothing"
    text = repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return _show(value)


def desired_path(origin: DesiredOrigin) -> str:
    """The path of an issue with a desired config document as a whole (e.g. not a mapping)."""
    return f"<{origin}>"


def is_secret_key(name: object) -> bool:
    return isinstance(name, str) and any(hint in name.lower() for hint in _SECRET_HINTS)


def describe(value: Any) -> Summary:
    """What kind of value was found, without its content (for places a secret could sit)."""
    if isinstance(value, Mapping):
        return Summary("a mapping")
    if isinstance(value, (list, tuple)):
        return Summary("a list")
    if isinstance(value, (str, bytes)):
        return Summary("text")
    if value is None or isinstance(value, bool):
        return Summary(repr(value))
    if isinstance(value, (int, float)):
        return Summary("a number")
    return Summary(f"a {type(value).__name__}")


# --------------------------------------------------------------------------- schema walking
def unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] wrappers."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def union_members(annotation: Any) -> list[Any] | None:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
    return None


def is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def discriminator_tags(members: list[Any]) -> dict[str, type[BaseModel]]:
    """For a tagged union of models: tag value -> model (via each model's Literal field)."""
    tags: dict[str, type[BaseModel]] = {}
    for member in members:
        if not is_model(member):
            continue
        for fld in member.model_fields.values():
            ann = unwrap(fld.annotation)
            if typing.get_origin(ann) is typing.Literal and isinstance(fld.default, str):
                tags[fld.default] = member
                break
    return tags


def _type_name(member: Any) -> str:
    return getattr(member, "__name__", str(member))


@dataclass
class _Located:
    path: list[str | int] = field(default_factory=list)  # user-facing location
    parent: Any = None  # annotation that holds the last element (a model for keys)
    leaf: Any = None  # annotation at the location, None when unknown
    union_members: list[Any] | None = None  # set when the location itself is a union


def _locate(model: type[BaseModel], loc: tuple[int | str, ...]) -> _Located:
    """Follow a pydantic error location through the schema, dropping union member tags."""
    here = _Located(leaf=model)
    current: Any = model
    i = 0
    while i < len(loc):
        part = loc[i]
        members = union_members(current) if current is not None else None
        if members is not None and len(members) > 1:
            # pydantic inserts the member's tag (discriminator value or type name) after a union.
            tags = discriminator_tags(members)
            if isinstance(part, str) and part in tags:
                current = tags[part]
                i += 1
                continue
            by_name = {_type_name(m): m for m in members}
            if isinstance(part, str) and part in by_name:
                current = by_name[part]
                i += 1
                continue
            if isinstance(part, str) and not part.isidentifier():  # e.g. 'function-after[...]'
                i += 1
                continue
        elif members is not None and len(members) == 1:
            current = members[0]
            continue
        here.parent = current
        here.path.append(part)
        current = _child(current, part)
        i += 1
    here.leaf = current
    members = union_members(current) if current is not None else None
    here.union_members = members if members and len(members) > 1 else None
    return here


def _child(annotation: Any, part: int | str) -> Any:
    annotation = unwrap(annotation)
    if is_model(annotation):
        fld = annotation.model_fields.get(part) if isinstance(part, str) else None
        return unwrap(fld.annotation) if fld is not None else None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, set, frozenset) and args:
        return unwrap(args[0])
    if origin is tuple and args and isinstance(part, int):
        if len(args) == 2 and args[1] is Ellipsis:
            return unwrap(args[0])
        return unwrap(args[part]) if 0 <= part < len(args) else None
    if origin is dict and len(args) == 2:
        return unwrap(args[1])
    return None


def _allowed_keys(annotation: Any) -> list[str]:
    annotation = unwrap(annotation)
    return list(annotation.model_fields) if is_model(annotation) else []


def dotted(path: Sequence[str | int]) -> str:
    """('camera', 'width') -> 'camera.width'; list indexes as [i]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or ROOT_PATH


def _is_secret_location(located: _Located) -> bool:
    leaf = located.leaf
    members = union_members(leaf) if leaf is not None else None
    if leaf is SecretStr or (members and SecretStr in members):
        return True
    return any(is_secret_key(p) for p in located.path)


def _is_section(annotation: Any) -> bool:
    annotation = unwrap(annotation)
    return is_model(annotation) or any(is_model(m) for m in union_members(annotation) or [])


def holds_secret(annotation: Any, _seen: frozenset[Any] = frozenset()) -> bool:
    """Whether a value of this type may contain a SecretStr anywhere inside (e.g. the mqtt section)."""
    annotation = unwrap(annotation)
    if annotation is SecretStr:
        return True
    if annotation in _seen:
        return False
    members = union_members(annotation)
    if members is not None:
        return any(holds_secret(m, _seen) for m in members)
    if is_model(annotation):
        inner = _seen | {annotation}
        return any(holds_secret(f.annotation, inner) for f in annotation.model_fields.values())
    return any(holds_secret(a, _seen) for a in typing.get_args(annotation) if a is not Ellipsis)


def _strip_msg(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if msg.startswith("Input should be "):
        msg = msg[len("Input should be ") :]
    return msg


def _suggest(word: object, choices: Iterable[str]) -> str | None:
    if not isinstance(word, str):
        return None
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def issues_from_validation(exc: ValidationError, model: type[BaseModel]) -> list[ConfigIssue]:
    """Every pydantic error as a ConfigIssue; union alternatives at one path are merged."""
    merged: dict[str, ConfigIssue] = {}
    for err in exc.errors(include_url=False):
        issue = _issue_from_error(err, model)
        previous = merged.get(issue.path)
        if previous is not None and previous.expected != issue.expected and previous.value == issue.value:
            # Alternatives of one union (str | int): one issue listing both expectations.
            issue = ConfigIssue(
                issue.path, issue.value, f"{previous.expected} or {issue.expected}", previous.suggestion
            )
        elif previous is not None:
            # Two distinct problems at the same path (rare): keep both under distinct keys.
            merged[f"{issue.path}#{len(merged)}"] = previous
        merged[issue.path] = issue
    return list(merged.values())


def _issue_from_error(err: Mapping[str, Any], model: type[BaseModel]) -> ConfigIssue:
    loc = tuple(err.get("loc", ()))
    kind = str(err.get("type", ""))
    value: Any = err.get("input")
    ctx = err.get("ctx") or {}
    located = _locate(model, loc)
    path = dotted(located.path)
    suggestion: str | None = None

    if kind == "missing":
        value, expected = MISSING, "a value (this key is required)"
    elif kind == "extra_forbidden":
        # Never the value: an unknown key is often a misspelt known one, and the value then a secret.
        key = located.path[-1] if located.path else None
        allowed = _allowed_keys(located.parent)
        suggestion = _suggest(key, allowed)
        value = UNKNOWN_KEY
        expected = "a known key" + ("" if suggestion else f" (allowed here: {', '.join(allowed)})")
    elif kind in _UNION_TAG_TYPES:
        discriminator = str(ctx.get("discriminator", "'backend'")).strip("'\"")
        tags = sorted(discriminator_tags(located.union_members or []))
        path = f"{path}.{discriminator}" if located.path else discriminator
        value = value.get(discriminator, MISSING) if isinstance(value, Mapping) else MISSING
        expected = "one of " + ", ".join(repr(t) for t in tags) if tags else "a known kind"
        suggestion = _suggest(value, tags)
    elif kind == "invalid_key":
        expected = "a text key"
    elif kind in _NOT_A_MAPPING_TYPES:
        expected = EXPECTED_MAPPING
    elif kind == "string_pattern_mismatch":
        expected = _PATTERN_HINTS.get(path) or f"text matching {ctx.get('pattern')}"
    else:
        expected = _strip_msg(str(err.get("msg", "a valid value")))

    if isinstance(value, float) and not math.isfinite(value):
        value = Summary(repr(value))  # shown as found, yet no JSON consumer chokes on it
    if isinstance(value, Mapping) and kind not in _NOT_A_MAPPING_TYPES:
        keys = ", ".join(str(k) for k in list(value)[:8]) + (", ..." if len(value) > 8 else "")
        value = Summary(f"a mapping with keys {{{keys}}}")
    if kind in ("missing", "extra_forbidden") or kind in _UNION_TAG_TYPES:
        pass  # a code, never what was found; or the backend's name, shown to suggest the nearest
    elif _is_secret_location(located):
        value = Summary(REDACTED)
    elif not isinstance(value, Summary) and located.leaf is not None and (
        holds_secret(located.leaf) or _is_section(located.leaf)
    ):
        # Where a section (mqtt, its tls part) was expected, what was found may be its content, a
        # credential among it: say what kind of value it was, not what it said.
        value = describe(value)
    return ConfigIssue(path, value, expected, suggestion)
