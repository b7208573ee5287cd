"""Load endpoint configs from YAML and report every problem with its file and field path.

``validate_all`` never stops at the first broken file: the DAG factory builds the
endpoints that are fine and shows the rest as errors, so one typo does not take every
DAG down with it.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lakehouse.config import paths
from lakehouse.config.safe_yaml import describe_error, parse_yaml
from lakehouse.endpoints.models import NAME_MAX, NAME_RE, EndpointConfig
from lakehouse.endpoints.parent_rules import validated
from lakehouse.errors import EndpointConfigError, EndpointConfigsError

SUFFIXES = (".yaml", ".yml")

# A credential written into YAML instead of an environment variable name: say where it goes.
SECRET_KEYS: dict[str, str] = {
    "token": "token_env",
    "key": "key_env",
    "api_key": "key_env",
    "username": "username_env",
    "password": "password_env",
    "secret": "token_env or key_env",
    "client_id": "client_id_env",
    "client_secret": "client_secret_env",
}


def display_path(path: Path) -> str:
    """Relative to the working directory when below it: the form people click on."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """The line of the deepest YAML node on the error's path (its parent when missing)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node.value[part]
        else:
            found = None
        if found is None:
            if isinstance(node, yaml.MappingNode):
                # A key pydantic reports as unknown is present: point at the key itself.
                key: yaml.Node | None = next((k for k, _ in node.value if getattr(k, "value", None) == part), None)
                if key is not None:
                    return key.start_mark.line + 1
            return line
        node = found
        line = node.start_mark.line + 1
    return line


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types behind an annotation: Optional, unions and Annotated removed."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg) if t is not type(None)]
    return [annotation]


def _tag(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None:
        return None
    args = typing.get_args(field.annotation)
    return args[0] if len(args) == 1 and isinstance(args[0], str) else None


def _walk(loc: Sequence[str | int]) -> tuple[list[str | int], type[BaseModel] | None]:
    """Render pydantic's error location as a field path, dropping the union tags pydantic
    inserts (``pagination.offset.offset_param`` -> ``pagination.offset_param``), and
    return the model found at the end of the path (None if it is not one model)."""
    parts: list[str | int] = []
    candidates: list[Any] = [EndpointConfig]
    for part in loc:
        models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if isinstance(part, int):
            parts.append(part)
            candidates = [t for c in candidates if typing.get_origin(c) is list for t in _unwrap(typing.get_args(c)[0])]
            continue
        if len(models) > 1:
            tagged = [m for m in models if _tag(m) == part]
            if tagged:  # a discriminated-union tag, not a key the user wrote
                candidates = tagged
                continue
        parts.append(part)
        candidates = []
        for model in models:
            field = model.model_fields.get(part) or next(
                (f for f in model.model_fields.values() if f.alias == part), None
            )
            if field is not None:
                candidates.extend(_unwrap(field.annotation))
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return parts, models[0] if len(models) == 1 else None


def field_path(parts: Sequence[str | int]) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return text or "(top level)"


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _problems(exc: ValidationError, node: yaml.Node | None) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        parts, _ = _walk(loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and loc:
            key = str(loc[-1])
            if key in SECRET_KEYS and "auth" in loc:
                message = (
                    f"secrets never go in YAML: put the value in an environment variable "
                    f"and name that variable with {SECRET_KEYS[key]}"
                )
            else:
                _, parent = _walk(loc[:-1])
                allowed = _field_names(parent) if parent is not None else []
                guess = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
                message = f"unknown key {key!r}" + (f"; did you mean {guess[0]!r}?" if guess else "")
                if allowed:
                    message += f" (allowed: {', '.join(allowed)})"
        line = _line_of(node, parts)
        problems.append((field_path(parts), message + (f" (line {line})" if line else "")))
    return problems


def parse_endpoint(text: str, source: str, stem: str | None = None) -> EndpointConfig:
    """Validate one config's YAML text; ``source`` names it in errors, ``stem`` (the file
    name without suffix) must equal the endpoint name when given."""
    try:
        data, node = parse_yaml(text)
    except yaml.YAMLError as exc:
        where, detail = describe_error(exc)
        raise EndpointConfigError(source, [(where, f"invalid YAML: {detail}")]) from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise EndpointConfigError(
            source, [("", f"the file is {kind}; an endpoint config is a mapping starting with name:, request:, ...")]
        )
    try:
        config = EndpointConfig.model_validate(data)
    except ValidationError as exc:
        raise EndpointConfigError(source, _problems(exc, node)) from None
    if stem is not None and config.name != stem:
        raise EndpointConfigError(
            source,
            [
                (
                    "name",
                    f"{config.name!r} must equal the file name {stem!r}: rename the file to {config.name}.yaml "
                    f"or fix name (line {_line_of(node, ('name',))})",
                )
            ],
        )
    return config


def endpoint_path(name: str, directory: Path | None = None) -> Path:
    """Where endpoint ``name``'s config lives: ``<name>.yaml`` or ``<name>.yml`` (the
    suffixes validate_all reads), in ``directory`` or the endpoints directory. The
    ``.yaml`` path when neither exists, for the caller's error message."""
    directory = directory or paths.endpoints_dir()
    # A name is never a path: '../x', '/etc/x' or a look-alike letter would read a file
    # outside the endpoints directory (or one that no DAG and no worker knows).
    if not NAME_RE.fullmatch(name) or len(name) > NAME_MAX:
        raise EndpointConfigError(
            display_path(directory),
            [
                (
                    "name",
                    f"{name[:80]!r}{'…' if len(name) > 80 else ''} is not an endpoint name: use lowercase ASCII "
                    f"letters, digits and '_', starting with a letter, at most {NAME_MAX} characters "
                    "(the config file is <name>.yaml in this directory)",
                )
            ],
        )
    for suffix in SUFFIXES:
        if (directory / f"{name}{suffix}").is_file():
            return directory / f"{name}{suffix}"
    return directory / f"{name}{SUFFIXES[0]}"


def load_endpoint(path: Path) -> EndpointConfig:
    """One config file, validated; raises EndpointConfigError naming the file and field."""
    source = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EndpointConfigError(source, [("", f"cannot read the file: {exc.strerror or exc}")]) from None
    return parse_endpoint(text, source, stem=path.stem)


def config_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file() and not p.name.startswith("."))


def _cross_file_problems(
    loaded: list[tuple[Path, EndpointConfig]],
) -> tuple[list[EndpointConfig], list[EndpointConfigError]]:
    """Rules that span files: unique names, one table per endpoint, one rate per shared key."""
    configs: list[EndpointConfig] = []
    errors: list[EndpointConfigError] = []
    names: dict[str, Path] = {}
    tables: dict[str, Path] = {}
    limits: dict[str, tuple[Path, EndpointConfig]] = {}
    for path, config in loaded:
        source = display_path(path)
        problems: list[tuple[str, str]] = []
        if config.name in names:
            problems.append(
                (
                    "name",
                    f"{config.name!r} is already used by {display_path(names[config.name])}; "
                    "endpoint names must be unique",
                )
            )
        if config.table is not None and config.table.identifier in tables:
            problems.append(
                (
                    "table",
                    f"{config.table.identifier} is already written by "
                    f"{display_path(tables[config.table.identifier])}; "
                    "two endpoints would overwrite each other's partitions",
                )
            )
        shared = limits.get(config.rate_limit_key)
        if shared is not None:
            other_path, other = shared
            if (other.rate_limit.per_second, other.rate_limit.burst) != (
                config.rate_limit.per_second,
                config.rate_limit.burst,
            ):
                problems.append(
                    (
                        "rate_limit",
                        (
                            f"shares key {config.rate_limit_key!r} with {display_path(other_path)}, which declares "
                            f"{other.rate_limit.describe()}; "
                            "endpoints sharing a key must declare the same rate and burst"
                        ),
                    )
                )
        if problems:
            errors.append(EndpointConfigError(source, problems))
            continue
        names[config.name] = path
        if config.table is not None:
            tables[config.table.identifier] = path
        limits.setdefault(config.rate_limit_key, (path, config))
        configs.append(config)
    return configs, errors


def validate_all(directory: Path | None = None) -> tuple[list[EndpointConfig], list[EndpointConfigError]]:
    """Every valid config in ``directory`` and one error per broken file, never stopping early."""
    directory = directory or paths.endpoints_dir()
    if not directory.is_dir():
        return [], [
            EndpointConfigError(
                display_path(directory),
                [
                    (
                        "",
                        "no such directory: create it, "
                        "or point LAKEHOUSE_ENDPOINTS_DIR (or --dir) at the endpoint configs",
                    )
                ],
            )
        ]
    loaded: list[tuple[Path, EndpointConfig]] = []
    errors: list[EndpointConfigError] = []
    for path in config_files(directory):
        try:
            loaded.append((path, load_endpoint(path)))
        except EndpointConfigError as exc:
            errors.append(exc)
    configs, cross = _cross_file_problems(loaded)

    configs, graph = validated(configs, loaded, display_path)
    return configs, errors + cross + graph


def load_endpoints(directory: Path | None = None) -> list[EndpointConfig]:
    """Every config in ``directory`` (default: config/endpoints); raises if any is broken."""
    directory = directory or paths.endpoints_dir()
    configs, errors = validate_all(directory)
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise EndpointConfigsError(display_path(directory), errors)
    return configs


def declared_namespaces(configs: Iterable[EndpointConfig]) -> list[str]:
    """The Iceberg namespaces the configs' tables live in: bootstrap these before any job runs."""
    return sorted({config.table.namespace for config in configs if config.table is not None})
