"""The state dir's privacy helpers and SeaweedFS' security.toml: an older install's
readable files are narrowed, and every non-S3 port of `weed mini` asks for mutual TLS."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

from cryptography import x509

from lakehouse.local.files import make_private, private_umask
from lakehouse.local.local_ca import ensure_local_ca
from lakehouse.local.services.s3_server import security_toml


def test_make_private_narrows_an_old_install(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "airflow").mkdir(parents=True)
    db = state / "airflow" / "airflow.db"
    db.write_text("x")
    os.chmod(state, 0o755)
    os.chmod(state / "airflow", 0o775)
    os.chmod(db, 0o644)
    (state / "link").symlink_to(db)
    assert make_private(state) == 3
    assert [stat.S_IMODE(p.stat().st_mode) for p in (state, state / "airflow", db)] == [0o700, 0o700, 0o600]
    assert make_private(state) == 0


def test_files_made_under_the_private_umask_are_owner_only(tmp_path: Path) -> None:
    with private_umask():
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "f").write_text("x")
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "d" / "f").stat().st_mode) == 0o600


def test_the_local_ca_signs_a_node_pair_and_keeps_no_ca_key(tmp_path: Path) -> None:
    files = ensure_local_ca(tmp_path / "tls", ["127.0.0.1", "localhost"], common_name="test")
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == ["ca.crt", "node.crt", "node.key"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (files.ca, files.cert, files.key))
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    node = x509.load_pem_x509_certificate(files.cert.read_bytes())
    node.verify_directly_issued_by(ca)
    assert ensure_local_ca(tmp_path / "tls", ["127.0.0.1"], common_name="test") == files  # kept


def test_security_toml_asks_every_internal_port_for_a_client_certificate(tmp_path: Path) -> None:
    files = ensure_local_ca(tmp_path / "tls", ["127.0.0.1"], common_name="test")
    doc = tomllib.loads(security_toml(files))
    for component in ("master", "volume", "filer", "admin"):
        assert doc["https"][component]["ca"] == str(files.ca), component  # `ca` makes the client cert required
    for component in ("master", "volume", "filer", "s3", "admin", "worker", "client"):
        assert doc["grpc"][component]["key"] == str(files.key), component
    assert doc["grpc"]["ca"] == str(files.ca)
    assert doc["https"]["client"]["enabled"] is True
    keys = [doc["jwt"]["signing"]["key"], doc["jwt"]["signing"]["read"]["key"], doc["jwt"]["filer_signing"]["key"]]
    assert len(set(keys)) == 3 and all(len(k) == 64 for k in keys)
    assert security_toml(files) != security_toml(files)  # fresh JWT keys each start
