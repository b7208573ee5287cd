"""The Redis Lua scripts of the queue and the rate limiter: ``.lua`` files in this
package, composed at load time.

Redis Lua has no ``require``: a script is one text. So each script names the
fragments it uses in a first line ``--! include: <name> ...``; the loader puts
``common.lua`` (clock, formatting, the fencing check), the named fragments and the
constants the scripts need (as Lua locals, defined in Python once) in front of it.
Every script is built from the files alone, so ``redis-cli --eval`` on the output of
``script_text(name)`` runs exactly what the queue runs.

Constants: the run-id pattern is ``lakehouse.queue.jobs.RUN_ID_PATTERN`` (a Python
regular expression), translated here into a Lua pattern, so it is written once.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from lakehouse.queue.jobs import RUN_ID_MAX_LENGTH, RUN_ID_PATTERN

_INCLUDE = re.compile(r"^--! include:(?P<names>[ \w]*)$")
COMMON = "common"


class LuaScriptError(ValueError):
    """A script or fragment is missing or malformed (a packaging or editing mistake)."""


def _read(name: str) -> str:
    path = resources.files(__name__).joinpath(f"{name}.lua")
    if not path.is_file():
        raise LuaScriptError(
            f"no Lua file {name}.lua in the lakehouse.queue.lua package; reinstall the package "
            "(the .lua files are package data in pyproject.toml) or fix the include"
        )
    return path.read_text(encoding="utf-8")


def lua_pattern(regex: str) -> str:
    """Translate the small regex subset the run-id pattern uses into a Lua pattern:
    anchors, character classes, ``\\d`` (also ``\\d{n}``), ``*``/``+``/``?`` and plain
    letters, digits and ``_``. Anything else is refused rather than mistranslated."""
    out: list[str] = []
    i, n = 0, len(regex)
    while i < n:
        c = regex[i]
        if c in "^$" and (i == 0 or i == n - 1):
            atom = c
            i += 1
        elif c == "[":
            end = regex.find("]", i + 1)
            if end < 0:
                raise LuaScriptError(f"unclosed character class in {regex!r}")
            body = regex[i + 1 : end]
            if not re.fullmatch(r"(?:[A-Za-z0-9_\-]|\\d)+", body):
                raise LuaScriptError(f"character class [{body}] in {regex!r} has no safe Lua translation")
            atom = "[" + body.replace("\\d", "%d") + "]"
            i = end + 1
        elif regex.startswith("\\d", i):
            atom = "%d"
            i += 2
        elif c.isalnum() or c == "_":
            atom = c
            i += 1
        else:
            raise LuaScriptError(f"{c!r} at {i} of {regex!r} has no safe Lua translation")
        count = re.match(r"\{(\d+)\}", regex[i:])
        if count:
            out.append(atom * int(count.group(1)))
            i += count.end()
        elif i < n and regex[i] in "*+?":
            out.append(atom + regex[i])
            i += 1
        else:
            out.append(atom)
    return "".join(out)


def _lua_string(value: str) -> str:
    if not re.fullmatch(r"[ -~]*", value) or "\\" in value:
        raise LuaScriptError(f"constant {value!r} must be printable ASCII without backslashes")
    return "'" + value.replace("'", "\\'") + "'"


def constants() -> dict[str, str | int]:
    """What every script may use besides its KEYS and ARGV (defined in Python once)."""
    return {"RUN_ID_PATTERN": lua_pattern(RUN_ID_PATTERN), "RUN_ID_MAX_LENGTH": RUN_ID_MAX_LENGTH}


@cache
def script_text(name: str) -> str:
    """The full text of one script: constants, common.lua, its includes, itself."""
    body = _read(name)
    first, _, rest = body.partition("\n")
    includes: list[str] = []
    if first.startswith("--!"):
        match = _INCLUDE.match(first)
        if not match:
            raise LuaScriptError(f"{name}.lua: first line {first!r} is not '--! include: <fragment> ...'")
        includes = match.group("names").split()
        body = rest
    parts = [
        f"local {key} = {value if isinstance(value, int) else _lua_string(value)}" for key, value in constants().items()
    ]
    for fragment in (COMMON, *includes):
        parts.append(f"-- [{fragment}.lua]\n" + _read(fragment))
    parts.append(f"-- [{name}.lua]\n" + body)
    return "\n".join(parts)
