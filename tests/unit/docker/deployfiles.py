"""Readers for the Compose deployment's files, shared by the tests in this folder.

There is no Docker engine where these tests run, so they read docker/compose.yaml and
docker/Dockerfile the way Compose and BuildKit would: YAML with anchors and merge keys,
then Compose's variable interpolation (with the values of .env.example), then checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
DOCKER_DIR = ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

# Compose's interpolation syntax: $$ (a literal $), $VAR, ${VAR}, ${VAR:-default},
# ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+replacement}, ${VAR+replacement}.
_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)


class MissingVariableError(Exception):
    pass


@dataclass(frozen=True)
class VariableUse:
    name: str
    op: str  # "" for a bare reference
    arg: str


def variable_uses(text: str) -> list[VariableUse]:
    uses = []
    for m in _VAR.finditer(text):
        if m.group("escaped"):
            continue
        if m.group("plain"):
            uses.append(VariableUse(m.group("plain"), "", ""))
        else:
            uses.append(VariableUse(m.group("name"), m.group("op") or "", m.group("arg") or ""))
    return uses


def interpolate_text(text: str, env: dict[str, str]) -> str:
    def replace(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("plain") or m.group("name")
        op, arg = m.group("op") or "", m.group("arg") or ""
        value = env.get(name)
        unset_or_empty = not value
        if op in (":?", "?") and (value is None if op == "?" else unset_or_empty):
            raise MissingVariableError(f"{name}: {arg}")
        if op == ":-":
            return arg if unset_or_empty else value
        if op == "-":
            return arg if value is None else value
        if op == ":+":
            return "" if unset_or_empty else arg
        if op == "+":
            return "" if value is None else arg
        return value or ""

    return _VAR.sub(replace, text)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose interpolates every string value (after YAML parsing, so anchors are
    already expanded); keys are left alone."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    if isinstance(node, str):
        return interpolate_text(node, env)
    return node


@dataclass
class EnvExample:
    required: dict[str, str]  # uncommented KEY=value lines: the secrets
    optional: dict[str, str]  # "# KEY=value" lines: optional, shown with their default


def parse_env_example(text: str) -> EnvExample:
    required, optional = {}, {}
    for line in text.splitlines():
        m = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if not m:
            continue
        (optional if m.group(1) else required)[m.group(2)] = m.group(3)
    return EnvExample(required, optional)


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, args)

    def args_of(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


@dataclass
class Dockerfile:
    syntax: str | None
    stages: dict[str, Stage]

    def root_image(self, stage: str) -> str:
        """The external image a stage is ultimately built on."""
        base = self.stages[stage].base
        while base in self.stages:
            base = self.stages[base].base
        return base


def parse_dockerfile(text: str) -> Dockerfile:
    syntax = None
    m = re.match(r"#\s*syntax=(\S+)", text)
    if m:
        syntax = m.group(1)
    # Join continuation lines, drop comments and blank lines.
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            parts = args.split()
            base = parts[0]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else f"#{len(stages)}"
            current = Stage(name=name, base=base)
            stages[name] = current
        elif current is not None:
            current.instructions.append((instruction, " ".join(args.split())))
    return Dockerfile(syntax=syntax, stages=stages)


def is_one_shot(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "")) == "no"


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def parse_spark_defaults(text: str) -> dict[str, str]:
    """Spark's own format: ``key<whitespace>value``; ``#`` starts a comment line."""
    props: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        props[key] = value.strip()
    return props
