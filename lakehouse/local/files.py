"""Files the local services are started with: owner-only, and Java properties text."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` readable by the owner only (keys, passwords, tokens).

    ``exclusive``: fail with FileExistsError rather than replace an existing file.
    Otherwise an existing file is truncated and narrowed to 0600 as well: the mode
    given to O_CREAT applies only to a file it creates.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _escape_value(value: str) -> str:
    # java.util.Properties treats backslashes, line breaks and leading spaces specially.
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "\\" + escaped if escaped.startswith(" ") else escaped


def _escape_key(key: str) -> str:
    out = _escape_value(key)
    for ch in "=: #!":
        out = out.replace(ch, "\\" + ch)
    return out


def properties_text(props: Mapping[str, str]) -> str:
    """``props`` in java.util.Properties format (what Quarkus and spark-submit read)."""
    return "".join(f"{_escape_key(k)}={_escape_value(v)}\n" for k, v in props.items())
