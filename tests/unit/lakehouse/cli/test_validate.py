from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from lakehouse.cli.commands import validate

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[4]
GOOD = {
    "name": "good",
    "request": {"url": "http://127.0.0.1:18080/v1/page"},
    "pagination": {"type": "page", "page_param": "page", "page_size": 50},
    "rate_limit": {"requests_per_minute": 30},
    "schedule": "@hourly",
}


def app() -> typer.Typer:
    app = typer.Typer()
    validate.register(app)

    @app.callback()
    def _root() -> None:  # keeps `validate` a subcommand, as in the real CLI
        pass

    return app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app(), ["validate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_shipped_configs_pass() -> None:
    code, out, err = run("--dir", str(ROOT / "config" / "endpoints"))
    assert code == 0, err
    assert "ok  sandbox_trades  pagination offset  rate 20/s burst 1 shared as 'sandbox'" in out
    assert "5 endpoint(s) ok" in out


def test_errors_name_file_and_field_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(GOOD))
    broken = dict(GOOD, name="broken", pagination={"type": "offset", "limit_param": "limit", "page_size": 10})
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(dict(GOOD, name="typo", schedul="@daily")))
    code, out, err = run("--dir", str(tmp_path))
    assert code == 1
    assert "ok  good  pagination page  rate 30/min burst 1" in out
    assert "broken.yaml: pagination.offset_param: Field required" in err
    assert "typo.yaml: schedul: unknown key 'schedul'; did you mean 'schedule'?" in err
    assert "1 endpoint(s) ok, 2 file(s) with" in err


def test_an_sla_is_shown_and_a_bad_one_refused(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(dict(GOOD, sla="1h30m")))
    (tmp_path / "late.yaml").write_text(yaml.safe_dump(dict(GOOD, name="late", sla="0s")))
    code, out, err = run("--dir", str(tmp_path))
    assert code == 1
    assert "ok  good  pagination page  rate 30/min burst 1  schedule '@hourly'  sla 1h30m" in out
    assert "late.yaml: sla: must be a positive duration" in err


def test_empty_directory_fails(tmp_path: Path) -> None:
    code, _, err = run("--dir", str(tmp_path))
    assert code == 1 and "nothing to validate" in err


def test_installed_command_exit_codes(tmp_path: Path) -> None:
    """Through the real entry point, whose error handling differs from CliRunner's."""
    (tmp_path / "bad.yaml").write_text("name: bad\nrequest: {url: x}\n")
    command = [sys.executable, "-c", "from lakehouse.cli import main; main()", "validate", "--dir"]
    ok = subprocess.run(
        [*command, str(ROOT / "config" / "endpoints")], capture_output=True, text=True, timeout=120, check=False
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*command, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 1
    assert "bad.yaml: request.url:" in bad.stderr and "bad.yaml: rate_limit: Field required" in bad.stderr


def test_an_unreachable_catalog_is_said_not_passed_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No stack: the live-table check cannot run. A warning by default (the config checks
    still gate), an error with --live require, nothing with --live off."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LAKEHOUSE_CATALOG__URI", f"http://127.0.0.1:{port}/iceberg")
    monkeypatch.setenv("LAKEHOUSE_S3__ACCESS_KEY_ID", "unit")
    monkeypatch.setenv("LAKEHOUSE_S3__SECRET_ACCESS_KEY", "unit-secret")
    table = {"namespace": "market", "name": "good", "columns": [{"name": "id", "path": "id", "type": "long"}]}
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(dict(GOOD, table=table)))

    code, out, err = run("--dir", str(tmp_path))
    assert code == 0, err
    assert f"warning  live tables not checked: the Iceberg catalog at http://127.0.0.1:{port}" in err
    assert "could not be reached" in err and "--live off" in err
    assert out.strip().endswith("1 endpoint(s) ok in " + str(tmp_path) + "; live tables not checked")

    code, _, err = run("--dir", str(tmp_path), "--live", "require")
    assert code == 1
    assert "error  live tables not checked" in err and "(--live require)" in err

    code, out, err = run("--dir", str(tmp_path), "--live", "off")
    assert code == 0 and "not checked" not in err + out
