"""The manifest commit's decision logic (scrapworker.landing): an older attempt never
replaces a newer attempt's manifest, a lost race is decided again on what is there
now, and clean-up removes only older attempts' pages.

The S3 client is an in-memory fake with S3's conditional-write semantics (If-Match /
If-None-Match answer 412); tests/integration/scrapworker/test_worker_fencing.py proves
SeaweedFS behaves the same, and the whole fence with real workers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lakehouse.errors import LeaseLostError
from lakehouse.raw.layout import Manifest, ManifestPage, manifest_key, page_key, run_prefix, sha256_hex
from scrapworker.errors import LandingSupersededError, ManifestContendedError
from scrapworker.landing import (
    CommitAction,
    CurrentManifest,
    RawLanding,
    decide_commit,
    manifest_attempt,
)

pytestmark = pytest.mark.unit

SLOT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
RUN = "sbx__20250301T0900Z"
PREFIX = run_prefix("raw", "sbx", SLOT, RUN)


def _precondition_failed() -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "PreconditionFailed",
                "Message": "At least one of the pre-conditions you specified did not hold",
            },
            "ResponseMetadata": {"HTTPStatusCode": 412},
        },  # fmt: skip
        "PutObject",
    )


class FakeS3:
    """Objects in a dict; put_object honours IfMatch / IfNoneMatch like S3. ``before_put``
    runs just before each put is decided: a rival writer racing this one."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.before_put: Callable[[str], None] = lambda key: None
        self.puts: list[tuple[str, dict[str, str]]] = []

    @staticmethod
    def etag(body: bytes) -> str:
        return '"' + hashlib.md5(body).hexdigest() + '"'  # noqa: S324 - S3's ETag, not security

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")
        body = self.objects[Key]

        class _Body:
            def read(self) -> bytes:
                return body

        return {"Body": _Body(), "ETag": self.etag(body)}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str = "", **conditions: str) -> None:  # noqa: N803
        self.before_put(Key)
        self.puts.append((Key, conditions))
        there = self.objects.get(Key)
        if "IfNoneMatch" in conditions and there is not None:
            raise _precondition_failed()
        if "IfMatch" in conditions and (there is None or self.etag(there) != conditions["IfMatch"]):
            raise _precondition_failed()
        self.objects[Key] = Body

    def get_paginator(self, name: str) -> Any:
        objects = self.objects

        class _Pages:
            def paginate(self, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:  # noqa: N803
                yield {"Contents": [{"Key": k} for k in sorted(objects) if k.startswith(Prefix)]}

        return _Pages()

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> None:  # noqa: N803
        for obj in Delete["Objects"]:
            self.objects.pop(obj["Key"], None)


def _manifest(attempt: int | None, pages: int = 2) -> Manifest:
    listed = [
        ManifestPage(
            index=i,
            key=page_key(PREFIX, i, attempt),
            url=f"http://127.0.0.1:1/v1?page={i}",
            status_code=200,
            records=1,
            bytes=2,
            sha256=sha256_hex(b"[]"),
            fetched_at=SLOT,
            elapsed_seconds=0.0,
        )
        for i in range(1, pages + 1)
    ]
    return Manifest.build(
        run_id=RUN,
        endpoint="sbx",
        slot_start=SLOT,
        slot_end=SLOT + timedelta(minutes=15),
        prefix=PREFIX,
        pages=listed,
        started_at=SLOT,
        finished_at=SLOT,
        attempt=attempt,
    )


def _land(s3: FakeS3, manifest: Manifest, *, with_manifest: bool = True) -> None:
    for page in manifest.pages:
        s3.objects[page.key] = b"[]"
    if with_manifest:
        s3.objects[manifest.key] = manifest.to_json_bytes()


def _current_attempt(s3: FakeS3) -> int:
    return manifest_attempt(s3.objects[manifest_key(PREFIX)])


def _held() -> None:
    return None


@pytest.mark.parametrize(
    ("mine", "current", "action"),
    [
        (5, None, CommitAction.CREATE),
        (5, 0, CommitAction.REPLACE),  # a manifest from before attempt folders
        (5, 4, CommitAction.REPLACE),
        (5, 5, CommitAction.REPLACE),  # its own, from a write whose reply was lost
        (5, 6, CommitAction.REFUSE),
        (1_718_000_000_000, 1_718_000_000_001, CommitAction.REFUSE),
    ],
)
def test_only_a_newer_attempt_replaces_the_manifest(mine: int, current: int | None, action: CommitAction) -> None:
    there = None if current is None else CurrentManifest(etag='"x"', attempt=current)
    assert decide_commit(mine, there) is action


@pytest.mark.parametrize(
    ("body", "attempt"),
    [
        (b'{"attempt": 17}', 17),
        (b'{"run_id": "x"}', 0),  # before attempt folders
        (b'{"attempt": null}', 0),
        (b'{"attempt": true}', 0),
        (b'{"attempt": -3}', 0),
        (b'{"attempt": "9"}', 0),
        (b"[17]", 0),
        (b"not json", 0),
    ],
)
def test_the_current_attempt_is_read_without_trusting_the_body(body: bytes, attempt: int) -> None:
    assert manifest_attempt(body) == attempt


def test_a_first_landing_creates_the_manifest_only_if_absent() -> None:
    s3 = FakeS3()
    ours = _manifest(7)
    _land(s3, ours, with_manifest=False)
    assert RawLanding(s3, "b")._complete(ours, _held) == 0  # type: ignore[arg-type]
    assert _current_attempt(s3) == 7
    assert s3.puts[-1] == (ours.key, {"IfNoneMatch": "*"})


def test_a_rerun_replaces_an_older_manifest_and_then_removes_older_pages_only() -> None:
    s3 = FakeS3()
    legacy, old, newer = _manifest(None, 3), _manifest(4, 3), _manifest(9, 1)
    _land(s3, legacy, with_manifest=False)
    _land(s3, old)
    _land(s3, newer, with_manifest=False)  # a newer attempt still crawling: untouchable
    ours = _manifest(7)
    _land(s3, ours, with_manifest=False)
    old_etag = FakeS3.etag(s3.objects[old.key])
    removed = RawLanding(s3, "b")._complete(ours, _held)  # type: ignore[arg-type]
    assert _current_attempt(s3) == 7
    assert s3.puts[-1] == (ours.key, {"IfMatch": old_etag})
    assert removed == 6  # 3 legacy pages + 3 of attempt 4
    assert sorted(s3.objects) == sorted([ours.key, *(p.key for p in ours.pages), *(p.key for p in newer.pages)])


def test_an_older_attempt_never_replaces_a_newer_manifest_and_removes_its_own_pages() -> None:
    s3 = FakeS3()
    newer = _manifest(9)
    _land(s3, newer)
    stale = _manifest(7, 3)
    _land(s3, stale, with_manifest=False)
    before = dict(s3.objects)
    with pytest.raises(LandingSupersededError, match=r"a newer attempt \(lease 9\) landed run .* \(lease 7\)"):
        RawLanding(s3, "b")._complete(stale, _held)  # type: ignore[arg-type]
    assert not s3.puts, "nothing written"
    assert s3.objects == {k: v for k, v in before.items() if "attempt-7/" not in k}  # only its own pages went


def test_a_race_lost_between_read_and_write_is_decided_again() -> None:
    # The stale attempt read "no manifest", stalled, and meanwhile a newer attempt
    # committed: its If-None-Match write gets 412, it reads again and stands down.
    s3 = FakeS3()
    newer, stale = _manifest(9), _manifest(7)
    _land(s3, newer, with_manifest=False)
    _land(s3, stale, with_manifest=False)

    def rival_commits(key: str) -> None:
        if key == newer.key and key not in s3.objects:
            s3.objects[key] = newer.to_json_bytes()

    s3.before_put = rival_commits
    with pytest.raises(LandingSupersededError, match=r"lease 9"):
        RawLanding(s3, "b")._complete(stale, _held)  # type: ignore[arg-type]
    assert _current_attempt(s3) == 9
    assert all(p.key in s3.objects for p in newer.pages)
    # ...and the other way round: an older rival's commit in between is replaced.
    s3 = FakeS3()
    older, ours = _manifest(3), _manifest(7)
    _land(s3, older, with_manifest=False)
    _land(s3, ours, with_manifest=False)

    def older_commits(key: str) -> None:
        if key == ours.key and key not in s3.objects:
            s3.objects[key] = older.to_json_bytes()

    s3.before_put = older_commits
    RawLanding(s3, "b")._complete(ours, _held)  # type: ignore[arg-type]
    assert _current_attempt(s3) == 7
    etag = FakeS3.etag(older.to_json_bytes())
    assert [c for key, c in s3.puts if key == ours.key] == [{"IfNoneMatch": "*"}, {"IfMatch": etag}]
    assert not any("attempt-3/" in k for k in s3.objects)


def test_a_manifest_that_keeps_changing_is_a_named_error() -> None:
    s3 = FakeS3()
    ours = _manifest(7)
    flips = iter(range(1, 100))

    def another_older_each_time(key: str) -> None:
        s3.objects[key] = _manifest(next(flips) % 5 + 1, 0).to_json_bytes()

    s3.before_put = another_older_each_time
    with pytest.raises(ManifestContendedError, match="changed under 5 conditional writes"):
        RawLanding(s3, "b")._complete(ours, _held)  # type: ignore[arg-type]


def test_a_lost_lease_stops_the_commit_before_anything_is_read_or_written() -> None:
    s3 = FakeS3()
    ours = _manifest(7)
    _land(s3, ours, with_manifest=False)

    def lost() -> None:
        raise LeaseLostError(RUN, 7, "running", "w2")

    with pytest.raises(LeaseLostError):
        RawLanding(s3, "b")._complete(ours, lost)  # type: ignore[arg-type]
    assert not s3.puts and ours.key not in s3.objects
    # Its pages stay: it cannot tell whether its own manifest is current.
    assert all(p.key in s3.objects for p in ours.pages)


def test_a_landing_must_name_its_attempt() -> None:
    with pytest.raises(ValueError, match="must name its attempt"):
        RawLanding(FakeS3(), "b")._complete(_manifest(None), _held)  # type: ignore[arg-type]
