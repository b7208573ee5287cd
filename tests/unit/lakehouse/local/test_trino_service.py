"""The local Trino service: what it is configured with (Nessie's REST catalog, the
stack's S3, loopback, HTTPS with a password), which files hold secrets (owner-only,
never argv), how the server is unpacked, and how its Java is found."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from lakehouse.config.settings import load_settings
from lakehouse.engines import artifacts, java
from lakehouse.errors import JavaNotFoundError, StackError
from lakehouse.local.services import trino_server
from lakehouse.local.services.trino_server import TrinoService
from lakehouse.local.stack import OPTIONAL_SERVICES

KEY, SECRET = "lhkeyid0123", "s3-secret-value-xyz"
CATALOG_TOKEN = "catalog-token-value"


@pytest.fixture()
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TrinoService:
    monkeypatch.setenv("LAKEHOUSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(trino_server, "ensure_installed", lambda: tmp_path / "cache" / "trino")
    monkeypatch.setattr(trino_server, "trino_java_home", lambda configured=None: "/opt/jdk-25")
    settings = load_settings(
        local={"state_dir": tmp_path / "state", "trino_port": 18543, "trino_internal_port": 18544},
        s3={"access_key_id": KEY, "secret_access_key": SECRET, "endpoint_url": "http://127.0.0.1:18333"},
        catalog={"uri": "http://127.0.0.1:18120/iceberg", "token": CATALOG_TOKEN},
    )
    return TrinoService(settings)


def _props(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_catalog_is_nessies_rest_catalog_on_the_stacks_s3(service: TrinoService) -> None:
    service.prepare()
    path = service.etc_dir / "catalog" / "lakehouse.properties"
    props = _props(path)
    assert props["connector.name"] == "iceberg" and props["iceberg.catalog.type"] == "rest"
    assert props["iceberg.rest-catalog.uri"] == "http://127.0.0.1:18120/iceberg/main"
    assert props["iceberg.rest-catalog.warehouse"] == "warehouse"
    assert props["fs.native-s3.enabled"] == "true" and props["s3.path-style-access"] == "true"
    assert props["s3.endpoint"] == "http://127.0.0.1:18333"
    assert (props["s3.aws-access-key"], props["s3.aws-secret-key"]) == (KEY, SECRET)
    # Nessie refuses requests without the stack's bearer token.
    assert props["iceberg.rest-catalog.security"] == "OAUTH2"
    assert props["iceberg.rest-catalog.oauth2.token"] == CATALOG_TOKEN
    assert "trino" in OPTIONAL_SERVICES


def test_loopback_https_with_a_password_and_http_only_for_itself(service: TrinoService) -> None:
    service.prepare()
    props = _props(service.etc_dir / "config.properties")
    assert props["node.bind-ip"] == "127.0.0.1" and props["discovery.uri"] == "http://127.0.0.1:18544"
    assert props["http-server.https.enabled"] == "true" and props["http-server.https.port"] == "18543"
    assert props["http-server.authentication.type"] == "PASSWORD"
    assert "http-server.authentication.allow-insecure-over-http" not in props
    assert len(props["internal-communication.shared-secret"]) >= 32
    assert service.url == "https://127.0.0.1:18543"
    assert [p.number for p in service.ports()] == [18543, 18544]
    password_db = (service.etc_dir / "password.db").read_text()
    password = service.password()
    assert password and password_db.startswith("lakehouse:10000:") and password not in password_db


def test_secrets_are_owner_only_and_on_no_command_line(service: TrinoService) -> None:
    service.prepare()
    password = service.password()
    assert password
    shared = _props(service.etc_dir / "config.properties")["internal-communication.shared-secret"]
    for name in ("config.properties", "password.db", "password-authenticator.properties", "trino.pem"):
        assert stat.S_IMODE((service.etc_dir / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((service.etc_dir / "catalog" / "lakehouse.properties").stat().st_mode) == 0o600
    assert stat.S_IMODE(service.password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(service.etc_dir.stat().st_mode) == 0o700
    argv = " ".join(service.command())
    for value in (KEY, SECRET, password, shared):
        assert value not in argv
    assert argv.startswith("/opt/jdk-25/bin/java @") and argv.endswith("io.trino.server.TrinoServer")
    jvm = (service.etc_dir / "jvm.config").read_text().split()
    assert "-Xmx1G" in jvm and not any(SECRET in opt or password in opt for opt in jvm)
    service.prepare()
    assert service.password() == password, "kept across ups"
    assert b"BEGIN CERTIFICATE" in service.certificate.read_bytes()


def test_refuses_a_non_loopback_bind_host(tmp_path: Path) -> None:
    svc = TrinoService(load_settings(local={"state_dir": tmp_path, "bind_host": "0.0.0.0"}))
    with pytest.raises(StackError, match="not a loopback address"):
        svc.prepare()


def _fake_tarball(path: Path) -> None:
    top = f"trino-server-{artifacts.TRINO_VERSION}/"
    with tarfile.open(path, "w:gz") as tar:

        def add(name: str, data: bytes = b"", link: str | None = None) -> None:
            info = tarfile.TarInfo(top + name)
            if link is not None:
                info.type, info.linkname = tarfile.LNKTYPE, top + link
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if link is None else None)

        add("lib/shared.jar", b"lib jar")
        add("plugin/delta-lake/delta-only.jar", b"delta jar")
        add("plugin/iceberg/iceberg.jar", b"iceberg jar")
        add("plugin/iceberg/shared.jar", link="lib/shared.jar")
        add("plugin/iceberg/delta-only.jar", link="plugin/delta-lake/delta-only.jar")
        add("plugin/mysql/mysql.jar", b"mysql jar")
        add("bin/launcher", b"#!/bin/sh")


def test_unpacks_only_what_is_used_once_hard_links_included(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_CACHE_DIR", str(tmp_path))
    tarball = artifacts.artifact_path("trino-server")
    tarball.parent.mkdir(parents=True)
    _fake_tarball(tarball)
    art = artifacts.ARTIFACTS["trino-server"]
    fake = artifacts.Artifact(
        **{**art.__dict__, "sha256": artifacts.sha256_of(tarball), "size": tarball.stat().st_size}
    )
    monkeypatch.setitem(artifacts.ARTIFACTS, "trino-server", fake)
    assert not trino_server.is_installed()
    home = trino_server.ensure_installed()
    assert trino_server.is_installed()
    assert sorted(p.name for p in (home / "plugin").iterdir()) == ["iceberg"]  # delta-lake, mysql left out
    assert not (home / "bin").exists()
    assert (home / "plugin/iceberg/shared.jar").read_bytes() == b"lib jar"
    assert (home / "plugin/iceberg/delta-only.jar").read_bytes() == b"delta jar"
    assert (home / "plugin/iceberg/shared.jar").stat().st_ino == (home / "lib/shared.jar").stat().st_ino
    (home / "lib/shared.jar").write_bytes(b"touched")
    assert trino_server.ensure_installed() == home
    assert (home / "lib/shared.jar").read_bytes() == b"touched", "a second call unpacks nothing"


def test_trino_is_an_optional_artifact_left_out_of_the_default_fetch() -> None:
    art = artifacts.ARTIFACTS["trino-server"]
    assert art.optional and art.filename == "trino-server-476.tar.gz"
    assert art.url.endswith("/io/trino/trino-server/476/trino-server-476.tar.gz")
    assert "trino-server" not in artifacts.DEFAULT_KEYS and "nessie" in artifacts.DEFAULT_KEYS


def _fake_java(path: Path, version: str) -> Path:
    (path / "bin").mkdir(parents=True)
    exe = path / "bin" / "java"
    exe.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2026-04-21' >&2\n")
    exe.chmod(0o755)
    return path


def test_trino_java_prefers_the_setting_and_names_every_place_looked(tmp_path: Path) -> None:
    java.java_major.cache_clear()
    new = _fake_java(tmp_path / "jdk-26", "26.0.1")
    assert java.trino_java_home(new) == str(new)
    old = _fake_java(tmp_path / "jdk-17", "17.0.15")
    try:
        chosen = java.trino_java_home(old)
    except JavaNotFoundError as exc:
        assert "24 or newer" in str(exc) and f"{old}/bin/java is Java 17" in str(exc)
        assert "LAKEHOUSE_LOCAL__TRINO_JAVA_HOME" in str(exc)
    else:  # this machine has a JDK 24+ elsewhere (/usr/lib/jvm): the setting was passed over
        assert chosen != str(old) and (java.java_major(f"{chosen}/bin/java") or 0) >= 24


def test_a_missing_server_says_how_to_fetch_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_CACHE_DIR", str(tmp_path))
    with pytest.raises(StackError, match=r"run ./init.sh --trino"):
        trino_server.ensure_installed()
