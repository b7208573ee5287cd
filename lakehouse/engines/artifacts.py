"""Jars the stack needs, pinned by version and sha256, fetched from Maven Central.

The checksums are pinned here rather than read from Maven's .sha1 files next to the
jar: a checksum fetched from the same place as the file proves only that the
transfer finished, not that the file is the one this project was tested with.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lakehouse.config import paths
from lakehouse.errors import ChecksumMismatchError, LakehouseError, MissingArtifactError

MAVEN_CENTRAL = os.environ.get("LAKEHOUSE_MAVEN_REPO", "https://repo1.maven.org/maven2")

ICEBERG_VERSION = "1.12.0"
# Iceberg's Spark runtime is built for one Spark minor version and one Scala version.
SPARK_SCALA = "4.1_2.13"
NESSIE_VERSION = "0.108.8"
# pyspark (and pyspark-client) in pyproject.toml are pinned to this version; pyspark 4
# ships the Spark Connect server jar itself, so no separate Connect artifact is needed.
SPARK_VERSION = "4.1.3"
# The last Trino whose server tarball is on Maven Central (477 and later are not); it
# needs Java 24 or newer (lakehouse.engines.java.trino_java_home finds one).
TRINO_VERSION = "476"


@dataclass(frozen=True)
class Artifact:
    key: str
    group: str
    artifact: str
    version: str
    sha256: str
    size: int
    classifier: str = ""
    role: str = ""
    packaging: str = "jar"
    # Fetched only on request (`lakehouse artifacts fetch KEY`, `./init.sh --trino`), not
    # by a plain `fetch` nor required by `list --check`: `make demo` never needs them.
    optional: bool = False

    @property
    def filename(self) -> str:
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{suffix}.{self.packaging}"

    @property
    def url(self) -> str:
        return f"{MAVEN_CENTRAL}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.filename}"

    @property
    def coordinate(self) -> str:
        tail = f":{self.classifier}" if self.classifier else ""
        return f"{self.group}:{self.artifact}:{self.version}{tail}"


ARTIFACTS: dict[str, Artifact] = {
    a.key: a
    for a in (
        Artifact(
            key="nessie",
            group="org.projectnessie.nessie",
            artifact="nessie-quarkus",
            version=NESSIE_VERSION,
            classifier="runner",
            sha256="a58ebde6dc6df68266433d1d087c6cc497103df7a71a0275575f6fca71b167f7",
            size=275878889,
            role="Nessie catalog server (runner jar, needs Java 21+)",
        ),
        Artifact(
            key="iceberg-spark-runtime",
            group="org.apache.iceberg",
            artifact=f"iceberg-spark-runtime-{SPARK_SCALA}",
            version=ICEBERG_VERSION,
            sha256="3123c3798af642dd537230923548e013ef41cc28b6626e5225808cf5670a0f82",
            size=48309426,
            role="Iceberg for Spark: SparkCatalog, DataFrameWriterV2, SQL extensions",
        ),
        Artifact(
            key="iceberg-aws-bundle",
            group="org.apache.iceberg",
            artifact="iceberg-aws-bundle",
            version=ICEBERG_VERSION,
            sha256="dd7e49ffa4ac9b215bed846581991259e3aec9bb2fa08d6cec029c46cd66d957",
            size=69034612,
            role="AWS SDK v2 and S3FileIO for Spark",
        ),
        Artifact(
            key="trino-server",
            group="io.trino",
            artifact="trino-server",
            version=TRINO_VERSION,
            sha256="cfd5accde17e8ebd251eeeb78aed1f490e77bb3a164d95a0f454bf8a7c1cbd3f",
            size=821045832,
            packaging="tar.gz",
            optional=True,
            role="Trino server (`lakehouse local up --with trino`, needs Java 24+)",
        ),
    )
}

#: what a plain `lakehouse artifacts fetch` and `./init.sh` fetch
DEFAULT_KEYS = tuple(key for key, art in ARTIFACTS.items() if not art.optional)


def jars_dir() -> Path:
    return paths.cache_dir() / "jars"


def artifact_path(key: str) -> Path:
    return jars_dir() / ARTIFACTS[key].filename


SPARK_JAR_KEYS = ("iceberg-spark-runtime", "iceberg-aws-bundle")


def spark_jars() -> list[Path]:
    return [artifact_path(key) for key in SPARK_JAR_KEYS]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_verified(key: str) -> bool:
    """True when the jar is present and was verified against its pinned checksum.

    Hashing 275 MB on every `local up` costs seconds, so a verified jar gets a marker
    holding its checksum, size and mtime; any change to the file invalidates it.
    """
    art = ARTIFACTS[key]
    path = artifact_path(key)
    marker = _marker(path)
    if not (path.is_file() and marker.is_file()):
        return False
    stat = path.stat()
    return marker.read_text().strip() == f"{art.sha256} {stat.st_size} {int(stat.st_mtime)}"


def require(key: str) -> Path:
    """The path of a verified artifact, or MissingArtifactError saying how to get it."""
    if not is_verified(key):
        path = artifact_path(key)
        if path.is_file():
            verify(key)
        else:
            raise MissingArtifactError(f"{ARTIFACTS[key].coordinate} ({ARTIFACTS[key].role})", str(path))
    return artifact_path(key)


def verify(key: str) -> None:
    art = ARTIFACTS[key]
    path = artifact_path(key)
    actual = sha256_of(path)
    if actual != art.sha256:
        raise ChecksumMismatchError(art.coordinate, art.sha256, actual)
    stat = path.stat()
    _marker(path).write_text(f"{art.sha256} {stat.st_size} {int(stat.st_mtime)}\n")


ProgressHook = Callable[[int, int], None]


def fetch(key: str, on_progress: ProgressHook | None = None) -> bool:
    """Download and verify one artifact. Returns False when it was already there."""
    import requests
    from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

    if is_verified(key):
        return False
    art = ARTIFACTS[key]
    path = artifact_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        try:
            verify(key)
            return False
        except ChecksumMismatchError:
            path.unlink()

    partial = path.with_name(path.name + ".part")

    @retry(
        retry=retry_if_exception_type((requests.ConnectionError, requests.Timeout, requests.HTTPError)),
        stop=stop_after_attempt(4),
        wait=wait_exponential(multiplier=1, max=20),
        reraise=True,
    )
    def _download() -> None:
        # Resume a partial download: these jars are large and connections do drop.
        have = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(art.url, stream=True, timeout=60, headers=headers) as resp:
            if resp.status_code == 404:
                raise LakehouseError(f"{art.coordinate} is not on {MAVEN_CENTRAL} ({art.url}: 404)")
            resp.raise_for_status()
            if have and resp.status_code != 206:
                have_local = 0
                mode = "wb"
            else:
                have_local = have
                mode = "ab"
            total = art.size
            done = have_local
            with partial.open(mode) as fh:
                for chunk in resp.iter_content(chunk_size=1 << 20):
                    fh.write(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(done, total)

    _download()
    actual = sha256_of(partial)
    if actual != art.sha256:
        partial.unlink()
        raise ChecksumMismatchError(art.coordinate, art.sha256, actual)
    partial.replace(path)
    stat = path.stat()
    _marker(path).write_text(f"{art.sha256} {stat.st_size} {int(stat.st_mtime)}\n")
    return True
