"""The Redis Lua scripts (the queue's and the rate limiter's) are composed from package
files, with the run-id pattern taken from lakehouse.queue.jobs rather than copied by hand."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from lakehouse.queue.jobs import RUN_ID_MAX_LENGTH, RUN_ID_PATTERN
from lakehouse.queue.lua import LuaScriptError, lua_pattern, script_text

pytestmark = pytest.mark.unit

QUEUE_SCRIPTS = ("enqueue", "lease", "reap", "heartbeat", "ack", "release", "dead_letter_leased", "retry_dead")
SCRIPTS = (*QUEUE_SCRIPTS, "ratelimit_acquire", "ratelimit_pause")


def test_the_run_id_pattern_is_translated_not_mirrored() -> None:
    # The pattern the scripts used to carry as a hand-written copy.
    assert lua_pattern(RUN_ID_PATTERN) == "^[a-z][a-z0-9_]*__%d%d%d%d%d%d%d%dT%d%d%d%dZ$"
    text = script_text("lease")
    assert f"local RUN_ID_PATTERN = '{lua_pattern(RUN_ID_PATTERN)}'" in text
    assert f"local RUN_ID_MAX_LENGTH = {RUN_ID_MAX_LENGTH}" in text


@pytest.mark.parametrize("regex", [r"^(a|b)$", r"^a.b$", r"^a{1,3}$", r"^[^a]$", r"^a-b$"])
def test_constructs_without_a_safe_translation_are_refused(regex: str) -> None:
    with pytest.raises(LuaScriptError):
        lua_pattern(regex)


def test_every_script_is_built_from_files_with_its_fragments_once() -> None:
    files = {p.name for p in resources.files("lakehouse.queue.lua").iterdir() if p.name.endswith(".lua")}
    assert {f"{s}.lua" for s in SCRIPTS} <= files
    for name in SCRIPTS:
        text = script_text(name)
        assert not text.splitlines()[0].startswith("--!")
        headers = re.findall(r"^-- \[(\w+)\.lua\]$", text, flags=re.MULTILINE)
        assert headers[0] == "common" and headers[-1] == name
        assert len(headers) == len(set(headers))
    # The shared blocks exist once, in a fragment, and both of their users call them.
    for fn, users in (("queue_fresh", ("enqueue", "retry_dead")), ("requeue_at_head", ("reap", "release"))):
        for name in users:
            body = script_text(name).split(f"-- [{name}.lua]")[1]
            assert f"{fn}(" in body and f"function {fn}" not in body
