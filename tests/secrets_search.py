"""The search both secrets canaries run (tests/integration/reliability/test_reliability_canary.py
and tests/integration/lakehouse_airflow/test_reliability_canary_airflow.py): canary
values looked for, literally, in every blob they are handed, with a count per kind of
place so a test can prove it searched something of each kind."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SecretSearch:
    canaries: dict[str, str]
    searched: dict[str, int] = field(default_factory=dict)
    found: list[tuple[str, list[str]]] = field(default_factory=list)

    def check(self, kind: str, where: str, blob: bytes) -> None:
        self.searched[kind] = self.searched.get(kind, 0) + 1
        hits = [name for name, value in self.canaries.items() if value.encode() in blob]
        if hits:
            self.found.append((where, hits))

    def check_redis(self, client: Any) -> None:
        """Every key of the Redis database and its value, read as a client sees it
        (a DUMP would hide long strings in LZF compression)."""
        for key, value in redis_values(client):
            self.check("redis key", f"redis key {key!r}", f"{key} {value}".encode())

    def check_s3(self, s3: Any, buckets: list[str]) -> None:
        """Every object of these buckets: its key and its body."""
        for bucket in buckets:
            for listing in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in listing.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    self.check("s3 object", f"s3://{bucket}/{obj['Key']}", obj["Key"].encode() + body)


def redis_values(client: Any) -> Iterator[tuple[Any, object]]:
    readers = {
        "string": client.get,
        "hash": client.hgetall,
        "list": lambda k: client.lrange(k, 0, -1),
        "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        "set": client.smembers,
        "stream": lambda k: client.xrange(k),
    }
    for key in client.scan_iter(match="*", count=1000):
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        yield key, readers[kind](key) if kind in readers else ""
