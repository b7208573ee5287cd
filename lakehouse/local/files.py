"""Files the local services are started with: owner-only, and Java properties text."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

#: what every process of the stack creates files with: owner-only
PRIVATE_UMASK = 0o077


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


@contextmanager
def private_umask() -> Iterator[None]:
    """Files and directories created meanwhile (by this process) are owner-only."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def make_private(root: Path) -> int:
    """Remove group and other permissions from ``root`` and everything under it (a
    state dir an older version left readable). Symlinks are not followed. Returns how
    many entries changed."""
    changed = 0
    paths = [root]
    for directory, dirnames, filenames in os.walk(root):
        paths += [Path(directory, name) for name in (*dirnames, *filenames)]
    for path in paths:
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue  # removed meanwhile (a service's temporary file)
        if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
            continue
        try:
            path.chmod(stat.S_IMODE(st.st_mode) & ~0o077)
        except FileNotFoundError:
            continue
        changed += 1
    return changed


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
