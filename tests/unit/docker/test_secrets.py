"""No credential is written into the deployment's files, and the files that hold real
ones are git-ignored."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from deployfiles import DOCKER_DIR, ENV_EXAMPLE, ROOT

# Defaults that ship with the images this stack uses, or that tutorials copy around.
KNOWN_DEFAULTS = re.compile(
    r"rustfsadmin|minioadmin|devadmin|s3cr3t|changeme123"
    r"|airflow:airflow|postgres:postgres|admin:admin"
    r"|PASSWORD\s*[:=]\s*['\"]?(airflow|postgres|nessie|admin|password|secret)\b",
    re.I,
)
# Pinned artifact checksums are long and random by design; they are not secrets.
CHECKSUM = re.compile(r"sha256:[0-9a-f]{64}")
URL = re.compile(r"\w+://\S+")
CANDIDATE = re.compile(r"[A-Za-z0-9+/_\-]{20,}={0,2}")
AWS_KEY_ID = re.compile(r"^(AKIA|ASIA)[0-9A-Z]{16}$")
HEX_KEY = re.compile(r"^[0-9a-f]{32,}$")


def _scanned_files() -> list[Path]:
    files = [ENV_EXAMPLE, ROOT / "docs" / "deploy.md"]
    for path in DOCKER_DIR.rglob("*"):
        if path.is_file() and "secrets" not in path.relative_to(DOCKER_DIR).parts[:1]:
            files.append(path)
    return [f for f in files if f.exists()]


def _entropy(token: str) -> float:
    counts = Counter(token)
    return -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())


def looks_like_a_secret(token: str) -> bool:
    """How generated keys look (hex; base64 with both cases and digits, close to
    random; an AWS key id) and how identifiers such as PIP_DISABLE_PIP_VERSION_CHECK,
    LAKEHOUSE_S3__ACCESS_KEY_ID or docker/jupyter/00-lakehouse do not."""
    if HEX_KEY.match(token) or AWS_KEY_ID.match(token):
        return True
    return (
        bool(re.search(r"\d", token))
        and bool(re.search(r"[a-z]", token))
        and bool(re.search(r"[A-Z]", token))
        and _entropy(token) >= 3.5
    )


def high_entropy_tokens(text: str) -> list[str]:
    text = CHECKSUM.sub(" ", text)
    text = URL.sub(" ", text)
    return [t for t in CANDIDATE.findall(text) if looks_like_a_secret(t)]


@pytest.mark.parametrize("path", _scanned_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_known_default_credentials(path: Path) -> None:
    hits = KNOWN_DEFAULTS.findall(path.read_text(errors="replace"))
    assert not hits, f"{path.relative_to(ROOT)}: known default credentials {hits}"


@pytest.mark.parametrize("path", _scanned_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_high_entropy_strings(path: Path) -> None:
    tokens = high_entropy_tokens(path.read_text(errors="replace"))
    assert not tokens, f"{path.relative_to(ROOT)}: these look like real secrets: {tokens}"


@pytest.mark.parametrize(
    "token",
    [
        "cHJhV1M1ZjBXVXEwVVVrdXpJeUw1cnVBMjhvdlhYaDU=",  # a Fernet key's shape
        "3f9a0c5e7b1d24680e2f4a6c8b0d1e3f5a7c9e1b3d5f7a9c",  # openssl rand -hex 24
        "AKIAIOSFODNN7EXAMPLE",  # an AWS access key id's shape
        "x3OJ39d6PxkAlra+zkVDmpgBPxOc0sR1TG2Fw+k3M+E",
    ],
)
def test_the_scan_catches_generated_keys(token: str) -> None:
    assert high_entropy_tokens(f"AIRFLOW__CORE__FERNET_KEY: {token}\n") == [token]


@pytest.mark.parametrize(
    "text",
    [
        "AWS_REQUEST_CHECKSUM_CALCULATION: when_required",
        "ADD --checksum=sha256:39ea09e6c03550a300b9d9ab498949836d2d434e441da4c12a943a086e396940 x",
        "https://repo1.maven.org/maven2/org/apache/iceberg/iceberg-spark-runtime-4.1_2.13/1.12.0/x.jar",
        "spark.sql.catalog.lakehouse.s3.path-style-access",
    ],
)
def test_the_scan_passes_identifiers_and_checksums(text: str) -> None:
    assert high_entropy_tokens(text) == []


def _git_ignored(path: str) -> bool:
    git = shutil.which("git")
    assert git, "git is needed to check .gitignore"
    result = subprocess.run([git, "check-ignore", "-q", path], cwd=ROOT, capture_output=True)
    assert result.returncode in (0, 1), result.stderr.decode()
    return result.returncode == 0


@pytest.mark.parametrize("path", [".env", "docker/secrets/endpoints.env"])
def test_files_with_real_secrets_are_git_ignored(path: str) -> None:
    assert _git_ignored(path), f"{path} holds real credentials and must be git-ignored"


def test_the_example_is_not_ignored() -> None:
    assert not _git_ignored(".env.example")
