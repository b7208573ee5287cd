"""Moved to :mod:`lakehouse.engines.java` (engine-free runtime discovery, shared by the stack
and the adapters); these names stay importable from here."""

from __future__ import annotations

from lakehouse.engines.java import NESSIE_JAVA_ENV, java_major, nessie_java, pyspark_home, spark_java_home

__all__ = ["NESSIE_JAVA_ENV", "java_major", "nessie_java", "pyspark_home", "spark_java_home"]
