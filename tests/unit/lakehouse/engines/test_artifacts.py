"""Pinned jars: verification, markers, and the errors that say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.engines import artifacts
from lakehouse.errors import ChecksumMismatchError, MissingArtifactError


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAKEHOUSE_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_every_artifact_is_pinned_to_a_sha256() -> None:
    for art in artifacts.ARTIFACTS.values():
        assert len(art.sha256) == 64 and int(art.sha256, 16) >= 0
        assert art.url.startswith("https://") and art.url.endswith(art.filename)


def test_missing_jar_names_it_and_says_how_to_get_it() -> None:
    with pytest.raises(MissingArtifactError, match=r"nessie-quarkus.*Run ./init.sh"):
        artifacts.require("nessie")


def test_a_corrupt_jar_is_refused(cache: Path) -> None:
    path = artifacts.artifact_path("iceberg-aws-bundle")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the jar")
    with pytest.raises(ChecksumMismatchError, match="does not match the pinned"):
        artifacts.require("iceberg-aws-bundle")
    assert not artifacts.is_verified("iceberg-aws-bundle")


def test_a_verified_jar_is_not_hashed_again(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = artifacts.artifact_path("iceberg-aws-bundle")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"pretend jar")
    monkeypatch.setitem(
        artifacts.ARTIFACTS,
        "iceberg-aws-bundle",
        artifacts.Artifact(
            **{**artifacts.ARTIFACTS["iceberg-aws-bundle"].__dict__, "sha256": artifacts.sha256_of(path)}
        ),
    )
    assert artifacts.require("iceberg-aws-bundle") == path
    assert artifacts.is_verified("iceberg-aws-bundle")
    path.write_bytes(b"changed after verification")
    assert not artifacts.is_verified("iceberg-aws-bundle")
