"""Bad input, endpoint configs: generated malformed configs next to the shipped ones.

Each malformed file is refused with its file name and the field path; the valid
configs in the same directory still validate, still build jobs and still get DAGs.
``LAKEHOUSE_RELIABILITY_LONG=1`` runs 500 cases instead of 50.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from reliability_fuzz import MUTATIONS, ROOT, SHIPPED, malformed_configs

from lakehouse.endpoints import load_endpoint, validate_all
from lakehouse.errors import EndpointConfigError
from lakehouse.pipeline.steps import job_for_slot

LONG = os.environ.get("LAKEHOUSE_RELIABILITY_LONG") == "1"
CASES = malformed_configs(500 if LONG else 50, seed=12)
SLOT = datetime(2024, 1, 2, 3, 0, tzinfo=UTC)


def _names_field(message: str, filename: str, field: str) -> bool:
    return re.search(rf"{re.escape(filename)}: {re.escape(field)}(?:[.:\[ ])", message) is not None


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fuzz") / "endpoints"
    directory.mkdir()
    for path in SHIPPED.glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    for case in CASES:
        (directory / case.filename).write_text(case.text(), encoding="utf-8")
    return directory


def test_every_family_is_generated() -> None:
    assert {c.kind for c in CASES} == set(MUTATIONS)
    assert len({c.name for c in CASES}) == len(CASES)
    # Deterministic: the same seed gives the same documents.
    assert [c.text() for c in malformed_configs(len(CASES), seed=12)] == [c.text() for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}-{c.kind}" for c in CASES])
def test_malformed_config_names_file_and_field(case, tmp_path: Path) -> None:
    path = tmp_path / case.filename
    path.write_text(case.text(), encoding="utf-8")
    with pytest.raises(EndpointConfigError) as info:
        load_endpoint(path)
    message = str(info.value)
    assert _names_field(message, case.filename, case.field), message
    assert len(message) < 3000, f"the error should be short enough to read: {len(message)} chars"


def test_validate_cli_refuses_each_and_keeps_the_valid(fuzz_dir: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("lakehouse")), "validate", "--dir", str(fuzz_dir)],
        cwd=fuzz_dir.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error  ")]
    for case in CASES:
        mine = [line for line in errors if f"{case.filename}: " in line]
        assert mine, f"{case.filename} ({case.kind}) not reported:\n{proc.stderr[-3000:]}"
        assert any(_names_field(line + " ", case.filename, case.field) for line in mine), (case.kind, mine)
    for path in SHIPPED.glob("*.yaml"):
        assert re.search(rf"^ok  {path.stem}  ", proc.stdout, re.M), proc.stdout
    assert f"{len(list(SHIPPED.glob('*.yaml')))} endpoint(s) ok, {len(CASES)} file(s)" in proc.stderr
    assert elapsed < 60


def test_valid_configs_still_build_jobs(fuzz_dir: Path) -> None:
    configs, errors = validate_all(fuzz_dir)
    assert sorted(c.name for c in configs) == sorted(p.stem for p in SHIPPED.glob("*.yaml"))
    assert len(errors) == len(CASES)
    for config in configs:
        job = job_for_slot(config, SLOT, SLOT + timedelta(minutes=15), "raw")
        assert job.raw_prefix.startswith(f"raw/{config.name}/")


def test_valid_configs_still_get_dags(fuzz_dir: Path) -> None:
    ingest = pytest.importorskip("lakehouse_airflow.ingest")
    dags = ingest.build_ingest_dags(fuzz_dir)
    assert sorted(dags) == sorted(f"ingest_{p.stem}" for p in SHIPPED.glob("*.yaml"))


def test_a_config_that_validates_builds_its_jobs() -> None:
    """House rule 5: a rule that can refuse a job later is checked at validation. Mutate
    shipped configs at random (seeded) in ways that may or may not be valid; every
    one that validates must also build a crawl job."""
    import copy
    import random

    rng = random.Random(7)
    bases = {p.stem: yaml.safe_load(p.read_text()) for p in SHIPPED.glob("*.yaml")}
    built = refused = 0
    for i in range(300 if LONG else 60):
        doc = copy.deepcopy(bases[rng.choice(sorted(bases))])
        doc["name"] = f"prop_{i}"
        request = doc["request"]
        pick = rng.randrange(6)
        if pick == 0:
            request.setdefault("headers", {})[rng.choice(["X-Api-Key", "X-Trace", "Cookie", "x-api-key"])] = "v"
        elif pick == 1:
            request.setdefault("params", {})[rng.choice(["token", "Token", "page_token", "key", "q"])] = "v"
        elif pick == 2:
            request["auth"] = {
                "type": "api_key",
                "in": rng.choice(["header", "query"]),
                "name": rng.choice(["X-Key", "x_key", "api.key", "k"]),
                "key_env": "SANDBOX_TOKEN",
            }
        elif pick == 3:
            request["url"] = rng.choice(["http://127.0.0.1:1/a b", "http://127.0.0.1:1/ä", "http://h/x/y"])
        elif pick == 4:
            doc["pagination"] = {"type": "link_header", "max_pages": rng.choice([10, 999_999, 1_000_000])}
        else:
            request["method"] = rng.choice(["get", "POST"])
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"prop_{os.getpid()}_{i}" / f"prop_{i}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
        try:
            config = load_endpoint(path)
        except EndpointConfigError:
            refused += 1
            continue
        finally:
            shutil.rmtree(path.parent)
        job_for_slot(config, SLOT, SLOT + timedelta(minutes=15), "raw")  # must not raise
        built += 1
    assert built and refused


def test_root_is_the_checkout() -> None:
    assert (ROOT / "lakehouse").is_dir()
