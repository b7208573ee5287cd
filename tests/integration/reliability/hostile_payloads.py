"""Deterministic malformed and hostile crawl job payloads (issue 12, bad input).

``hostile_payloads(job_for, n, seed)`` builds ``n`` payloads from valid jobs (one slot
each, so no two share a run id) by breaking them one way each, and says what the
dead letter's reason must mention. They are pushed straight onto the ready list,
bypassing ``enqueue`` and its validation, as a buggy or malicious producer would.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lakehouse.queue.jobs import MAX_PAYLOAD_BYTES, CrawlJob


@dataclass(frozen=True)
class Hostile:
    kind: str
    payload: bytes
    says: str  # a substring the dead letter's reason must contain (case-insensitive)

    @property
    def stored(self) -> str:
        """The payload as its dead letter keeps it (non-UTF-8 bytes shown as '?')."""
        try:
            return self.payload.decode("utf-8")
        except UnicodeDecodeError:
            return "".join(chr(b) if b < 0x80 else "?" for b in self.payload)


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _families(job: CrawlJob, rng: random.Random) -> list[tuple[str, Callable[[], tuple[bytes, str]]]]:
    doc = json.loads(job.to_payload())
    suffix = job.raw_prefix.split("/", 1)[1]  # the layout part after the raw base "raw/"

    def with_(says: str, **changes: Any) -> Callable[[], tuple[bytes, str]]:
        return lambda: (_dump({**doc, **changes}), says)

    # What a v2 job carried: a v3 job names no URL, header or credential variable.
    v2_request = {"url": "http://127.0.0.1:18080/v1/offset", "auth": {"type": "bearer", "token_env": "SANDBOX_TOKEN"}}

    def request_with(says: str, **changes: Any) -> Callable[[], tuple[bytes, str]]:
        return lambda: (_dump({**doc, "request": {**v2_request, **changes}}), says)

    long_endpoint = "e" * 150
    return [
        ("schema_version", with_("schema_version", schema_version=rng.choice([0, 1, 2, 99, "3", None]))),
        (
            "oversized",
            lambda: (
                _dump({**doc, "description": "x" * (MAX_PAYLOAD_BYTES + rng.randrange(10, 200_000))}),
                "over the limit",
            ),
        ),
        ("wrong_type_attempts", with_("max_attempts", max_attempts=rng.choice(["3", 3.5, -1, 10**9, None]))),
        ("wrong_type_slot", with_("slot_start", slot_start=rng.choice([1704164400, "yesterday", [2024, 1, 2], None]))),
        ("request_in_job", with_("request", request=rng.choice([["GET", "http://x"], "http://x", 7, v2_request]))),
        ("wrong_type_force", with_("force", force=rng.choice(["yes", 1, {"a": 1}]))),
        ("unknown_field", with_("extra", extra={"x": 1})),
        ("unknown_endpoint", lambda: (_dump(_renamed(doc, job, "no_such_endpoint")), "no endpoint config")),
        (
            "run_id_traversal",
            with_(
                "no valid run_id",
                run_id=rng.choice(
                    [
                        "../" + job.run_id,
                        "../../etc/passwd",
                        "/" + job.run_id,
                        job.run_id + "/../x",
                        job.run_id.replace("__", "__../"),
                    ]
                ),
            ),
        ),
        (
            "raw_prefix_traversal",
            with_(
                "raw_prefix",
                raw_prefix=rng.choice(
                    ["../" + job.raw_prefix, "raw/../../" + suffix, "raw/../etc/" + suffix, "raw/./../" + suffix]
                ),
            ),
        ),
        (
            "raw_prefix_absolute",
            with_("raw_prefix", raw_prefix=rng.choice(["/" + job.raw_prefix, "/etc/" + suffix, "//" + suffix])),
        ),
        (
            "raw_prefix_outside_base",
            with_("raw base", raw_prefix=rng.choice(["warehouse/" + suffix, "market/" + suffix, suffix])),
        ),
        (
            "endpoint_lookalike",
            with_(
                "endpoint",
                endpoint=rng.choice(
                    [job.endpoint.replace("a", "\u0430", 1), job.endpoint + "\n", "\uff52" + job.endpoint[1:]]
                ),
            ),
        ),
        ("endpoint_overlong", with_("endpoint", endpoint=long_endpoint)),
        ("run_id_overlong", with_("no valid run_id", run_id=job.endpoint + "_" * 300 + "__20240102T0300Z")),
        (
            "credential_header",
            request_with("request", headers={rng.choice(["Authorization", "Cookie", "X-API-Key"]): "Bearer stolen"}),
        ),
        ("userinfo_url", request_with("request", url="http://user:pw@127.0.0.1:1/v1/offset")),
        (
            "secret_to_elsewhere",
            request_with(
                "request",
                url="http://127.0.0.1:1/collect",
                auth={"type": "bearer", "token_env": "LAKEHOUSE_S3__SECRET_ACCESS_KEY"},
            ),
        ),
        ("auth_in_job", with_("auth", auth={"type": "bearer", "token_env": "LAKEHOUSE_S3__SECRET_ACCESS_KEY"})),
        ("url_in_job", with_("url", url="http://127.0.0.1:1/collect")),
        (
            "config_hash_malformed",
            with_("config_hash", config_hash=rng.choice(["", "x" * 64, doc["config_hash"][:63]])),
        ),
        ("config_hash_other", with_("config_hash", config_hash=rng.choice(["0" * 64, "f" * 64]))),
        ("not_json", lambda: (rng.choice([b"{not json", b"", b"null", b'"a string"', b'{"run_id": ']), "")),
        ("json_array", lambda: (b"[1, 2, 3]", "not a JSON object")),
        ("invalid_utf8", lambda: (b'{"run_id": "\xff\xfe' + job.run_id.encode() + b'"}', "UTF-8")),
    ]


def _renamed(doc: dict[str, Any], job: CrawlJob, endpoint: str) -> dict[str, Any]:
    run_id = job.run_id.replace(job.endpoint, endpoint, 1)
    prefix = job.raw_prefix.replace(job.endpoint, endpoint).replace(job.run_id.replace(job.endpoint, endpoint), run_id)
    return {**doc, "endpoint": endpoint, "run_id": run_id, "raw_prefix": prefix}


def hostile_payloads(job_for: Callable[[int], CrawlJob], n: int = 50, seed: int = 12) -> list[Hostile]:
    """``n`` payloads, every family at least once (round robin), variants seeded;
    ``job_for(i)`` gives the valid job of slot ``i`` to break."""
    rng = random.Random(seed)
    out: list[Hostile] = []
    for i in range(n):
        families = _families(job_for(i + 1), rng)
        kind, make = families[i % len(families)]
        payload, says = make()
        out.append(Hostile(kind, payload, says))
    return out
