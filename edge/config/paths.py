"""Relative paths in a config file mean "next to this file", whatever the working directory.

An operator runs ``gate-edge check --config /etc/gate-edge/gate.yaml`` from anywhere, and systemd
starts the daemon in its StateDirectory: a path that depended on the working directory would name a
different file each time. So before validation every relative value of a ``Path`` field (found by
walking the schema, so a new field is covered without a list to update) and of a field marked
:data:`edge.config.schema.FILE_OR_URL` that is not a URL is joined to the file's folder.

Only files get this: a mapping validated directly (tests, tools) keeps its paths as given.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from edge.config.errors import discriminator_tags, is_model, union_members, unwrap
from edge.config.schema import FILE_OR_URL, GateConfig

# rtsp://, http://, file:// ...: a URL is handed to the camera library as it is.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def resolve_relative_paths(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A copy of a config file's raw mapping with its relative paths made absolute against ``folder``.

    Values of the wrong type are left alone for validation to report.
    """
    return _resolve(GateConfig, data, Path(folder).absolute())


def _resolve(model: type[BaseModel], raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    out = dict(raw)
    for name, fld in model.model_fields.items():
        if name not in raw:
            continue
        value = raw[name]
        if _is_path_field(fld) or (FILE_OR_URL in fld.metadata and isinstance(value, str) and not _URL.match(value)):
            out[name] = _absolute(value, folder)
            continue
        sub = _model_for(fld.annotation, value)
        if sub is not None and isinstance(value, dict):
            out[name] = _resolve(sub, value, folder)
    return out


def _is_path_field(fld: FieldInfo) -> bool:
    annotation = unwrap(fld.annotation)
    if annotation is Path:
        return True
    members = union_members(annotation)
    return members is not None and Path in members and all(m is Path for m in members)


def _model_for(annotation: Any, value: Any) -> type[BaseModel] | None:
    """The model a raw mapping at a field will be validated as (a tagged union: by its tag)."""
    annotation = unwrap(annotation)
    if is_model(annotation):
        return typing.cast(type[BaseModel], annotation)
    members = union_members(annotation) or []
    models = [m for m in members if is_model(m)]
    if len(models) == 1:
        return typing.cast(type[BaseModel], models[0])
    tags = discriminator_tags(models)
    for field_name in ("backend",):  # the schema's one discriminator
        tag = value.get(field_name) if isinstance(value, dict) else None
        if isinstance(tag, str) and tag in tags:
            return tags[tag]
    return None


def _absolute(value: Any, folder: Path) -> Any:
    if isinstance(value, (str, PurePath)) and str(value) and not Path(value).is_absolute():
        return str(folder / value)
    return value
