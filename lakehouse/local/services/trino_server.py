"""Trino for the local stack (`lakehouse local up --with trino`), on the same Nessie
Iceberg REST catalog and S3 server as Spark and DuckDB.

- The server is the ``io.trino:trino-server`` tarball from Maven Central (pinned in
  lakehouse/engines/artifacts.py, fetched by ``./init.sh --trino``), unpacked once into the
  cache beside it: only ``lib/`` and the two plugins used (iceberg, the password file
  authenticator). Each plugin Trino finds is loaded at start, so fewer plugins start
  faster.
- It runs on a Java 24+ (lakehouse.engines.java.trino_java_home), as ``java @jvm.config``
  straight from the checkout, not through Trino's launcher script, so the stack records
  and stops the JVM itself.
- Clients: HTTPS on ``local.trino_port`` (a self-signed certificate for 127.0.0.1,
  made once per state directory) with user ``lakehouse`` and a generated password
  (``<state_dir>/secrets/TRINO_PASSWORD``). Trino accepts passwords only over HTTPS;
  requests to its HTTP port are refused ("Authentication over HTTP is not enabled").
  That HTTP port (``local.trino_internal_port``) carries Trino's own node-to-node
  calls, signed with a generated shared secret. Both ports bind 127.0.0.1 only.
- Every file that holds a secret (the S3 keys in the catalog file, the shared secret,
  the TLS key) is owner-only under ``<state_dir>/trino/etc``; none is on argv.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import secrets
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

import requests

from lakehouse.config import paths
from lakehouse.engines import artifacts
from lakehouse.engines.java import trino_java_home
from lakehouse.engines.spark_conf import is_loopback
from lakehouse.errors import LakehouseError, StackError
from lakehouse.local.files import properties_text, write_private
from lakehouse.local.service import Port, Service

ARTIFACT_KEY = "trino-server"
USER = "lakehouse"
PASSWORD_FILE = "TRINO_PASSWORD"
SHARED_SECRET_FILE = "TRINO_SHARED_SECRET"
#: what is unpacked from the 821 MB tarball (of its ~60 plugins, the ones used here)
UNPACKED = ("lib/", "plugin/iceberg/", "plugin/password-authenticators/", "NOTICE")
# Trino's file authenticator checks PBKDF2WithHmacSHA1 hashes ("iterations:salt:hash",
# hex) or bcrypt; hashlib does the former, and bcrypt is not in the lock.
_PBKDF2_ITERATIONS = 10_000


class TrinoQueryError(LakehouseError):
    """Trino answered a statement with an error (its message is in this one)."""


def install_dir() -> Path:
    art = artifacts.ARTIFACTS[ARTIFACT_KEY]
    return paths.cache_dir() / "trino" / f"trino-server-{art.version}"


def _unpacked_marker() -> Path:
    return install_dir() / ".lakehouse-unpacked"


def is_installed() -> bool:
    """True when the server is unpacked from the pinned tarball."""
    marker = _unpacked_marker()
    return marker.is_file() and marker.read_text().strip() == artifacts.ARTIFACTS[ARTIFACT_KEY].sha256


def ensure_installed() -> Path:
    """The unpacked server, from the verified tarball; unpacked once (a marker names the
    tarball's sha256), into a temporary directory renamed into place, so an interrupted
    unpack is never taken for a finished one."""
    art = artifacts.ARTIFACTS[ARTIFACT_KEY]
    home = install_dir()
    if is_installed():
        return home
    if not artifacts.artifact_path(ARTIFACT_KEY).is_file():
        raise StackError(
            f"the Trino server ({art.coordinate}, {art.size // 1_000_000} MB) is not fetched: run ./init.sh --trino "
            f"(or `lakehouse artifacts fetch {ARTIFACT_KEY}`)"
        )
    tarball = artifacts.require(ARTIFACT_KEY)
    staging = home.with_name(home.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    top = f"trino-server-{art.version}/"

    def wanted(name: str) -> bool:
        return name.startswith(top) and name[len(top) :].startswith(UNPACKED)

    # The plugins hard-link jars they share with lib/ and with each other, some from
    # plugins left out here. Those targets are kept aside (_shared/, which Trino does
    # not scan). Two streaming passes (a link always follows its target in the tar;
    # random access into a gzip stream would re-read it from the start each time).
    with tarfile.open(tarball, "r|gz") as tar:
        outside = {m.linkname for m in tar if m.islnk() and wanted(m.name) and not wanted(m.linkname)}
    placed: dict[str, Path] = {}
    with tarfile.open(tarball, "r|gz") as tar:
        for member in tar:
            name = member.name
            if name == top or not (wanted(name) or name in outside):
                continue
            inner = name[len(top) :]
            target = staging / (inner if wanted(name) else f"_shared/{inner}")
            if member.islnk():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(placed[member.linkname], target)
            else:
                member.name = str(target.relative_to(staging))
                tar.extract(member, staging, filter="data")
            placed[name] = target
    (staging / ".lakehouse-unpacked").write_text(art.sha256 + "\n")
    shutil.rmtree(home, ignore_errors=True)
    staging.replace(home)
    return home


def password_hash(password: str, salt: bytes | None = None, iterations: int = _PBKDF2_ITERATIONS) -> str:
    """A password file entry's hash as Trino's file authenticator reads it."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations, dklen=64)
    return f"{iterations}:{salt.hex()}:{digest.hex()}"


def _subject_name(host: str):  # type: ignore[no-untyped-def]  # -> x509.GeneralName
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:  # a host name: the compose service's
        return x509.DNSName(host)


def self_signed(host: str) -> tuple[bytes, bytes]:
    """A key and a certificate for ``host`` (an address or a name; and localhost), PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lakehouse local trino")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([_subject_name(host), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


class TrinoService(Service):
    name = "trino"
    stop_timeout = 30.0

    @property
    def url(self) -> str:
        return f"https://{self.settings.local.bind_host}:{self.settings.local.trino_port}"

    def ports(self) -> list[Port]:
        local = self.settings.local
        return [
            Port("trino", local.trino_port, "LAKEHOUSE_LOCAL__TRINO_PORT"),
            Port("internal", local.trino_internal_port, "LAKEHOUSE_LOCAL__TRINO_INTERNAL_PORT"),
        ]

    # -- files --------------------------------------------------------------------

    @property
    def etc_dir(self) -> Path:
        return self.state_dir / "etc"

    @property
    def certificate(self) -> Path:
        """The server's certificate: clients verify TLS against it (not secret)."""
        return self.state_dir / "tls" / "trino-cert.pem"

    @property
    def password_file(self) -> Path:
        return self.settings.local.secrets_dir / PASSWORD_FILE

    def password(self) -> str | None:
        try:
            return self.password_file.read_text().strip() or None
        except OSError:
            return None

    def _secret(self, filename: str) -> str:
        path = self.settings.local.secrets_dir / filename
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.parent.chmod(0o700)
            write_private(path, secrets.token_urlsafe(32) + "\n", exclusive=True)
        return path.read_text().strip()

    def config_properties(self, shared_secret: str) -> dict[str, str]:
        local = self.settings.local
        host = local.bind_host
        return {
            # One node: the coordinator runs the query tasks too.
            "coordinator": "true",
            "node-scheduler.include-coordinator": "true",
            # Node properties live here as well: without the launcher there is one file.
            "node.environment": "lakehouse",
            "node.id": "lakehouse-local",
            "node.bind-ip": host,
            "node.internal-address": host,
            "http-server.http.port": str(local.trino_internal_port),
            "discovery.uri": f"http://{host}:{local.trino_internal_port}",
            "http-server.https.enabled": "true",
            "http-server.https.port": str(local.trino_port),
            "http-server.https.keystore.path": str(self.etc_dir / "trino.pem"),
            "http-server.authentication.type": "PASSWORD",
            "password-authenticator.config-files": str(self.etc_dir / "password-authenticator.properties"),
            "internal-communication.shared-secret": shared_secret,
            "plugin.dir": str(install_dir() / "plugin"),
            "catalog.config-dir": str(self.etc_dir / "catalog"),
            # The heap is small on purpose (a 2-core machine shared with Spark); Trino
            # takes 30 % of it per query by default.
            "query.max-memory": "512MB",
        }

    def catalog_properties(self) -> dict[str, str]:
        """The Iceberg connector on Nessie's REST catalog with the stack's catalog token,
        reading S3 with the stack's keys
        (Nessie's request signing is off and it vends no credentials; Trino supports
        neither for this setup, so it brings its own, as Spark does)."""
        s = self.settings
        key, secret = s.s3.require_credentials()
        return {
            "connector.name": "iceberg",
            "iceberg.catalog.type": "rest",
            "iceberg.rest-catalog.uri": s.catalog.rest_uri,
            "iceberg.rest-catalog.warehouse": s.catalog.warehouse,
            # Nessie requires the stack's bearer token; OAUTH2 with a static token sends
            # it as is (no token endpoint: there is no identity provider).
            "iceberg.rest-catalog.security": "OAUTH2",
            "iceberg.rest-catalog.oauth2.token": s.catalog.require_token(),
            "fs.native-s3.enabled": "true",
            "s3.endpoint": s.s3.endpoint_url,
            "s3.path-style-access": "true",
            "s3.region": s.s3.region,
            "s3.aws-access-key": key,
            "s3.aws-secret-key": secret,
        }

    def jvm_options(self, java_home: str) -> list[str]:
        # One archive per JDK: a JVM ignores (and rewrites) an archive another one made.
        jdk = hashlib.sha256(java_home.encode()).hexdigest()[:10]
        archive = install_dir().parent / f"trino-{artifacts.TRINO_VERSION}-{jdk}.jsa"
        return [
            f"-Xmx{self.settings.local.trino_heap.upper()}",
            # Start-up is the cost here, not long queries: a class-data archive (the JVM
            # writes it at its first exit, into the cache beside the server) and C1 only
            # start it much faster (figures: docs/benchmarks.md).
            f"-XX:SharedArchiveFile={archive}",
            "-XX:+AutoCreateSharedArchive",
            # Every stack on the machine shares the archive: one that two JVMs wrote at
            # once fails its checksum and is ignored instead of mapped.
            "-XX:+VerifySharedSpaces",
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:ReservedCodeCacheSize=256M",
            "-Djdk.attach.allowAttachSelf=true",
            "-XX:+EnableDynamicAgentLoading",
            # No --enable-native-access: the JDK's own class-data archive was made without
            # it, and the mismatch logs a CDS error at every start (JNA warns instead).
            "-Dfile.encoding=UTF-8",
            # Read as a system property (Trino's launcher passes it so too), before the
            # configuration dump that log.properties silences.
            f"-Dlog.levels-file={self.etc_dir / 'log.properties'}",
        ]

    def prepare(self) -> None:
        host = self.settings.local.bind_host
        if not is_loopback(host):
            raise StackError(
                f"trino would listen on {host}, which is not a loopback address. "
                "Set LAKEHOUSE_LOCAL__BIND_HOST=127.0.0.1."
            )
        ensure_installed()
        super().prepare()
        self.state_dir.chmod(0o700)
        (self.etc_dir / "catalog").mkdir(parents=True, exist_ok=True)
        self.etc_dir.chmod(0o700)
        self.certificate.parent.mkdir(parents=True, exist_ok=True)
        keystore = self.etc_dir / "trino.pem"
        if not (keystore.exists() and self.certificate.exists()):
            key_pem, cert_pem = self_signed(host)
            write_private(keystore, (key_pem + cert_pem).decode())
            self.certificate.write_bytes(cert_pem)
        password = self._secret(PASSWORD_FILE)
        shared = self._secret(SHARED_SECRET_FILE)
        write_private(self.etc_dir / "password.db", f"{USER}:{password_hash(password)}\n")
        write_private(
            self.etc_dir / "password-authenticator.properties",
            properties_text(
                {"password-authenticator.name": "file", "file.password-file": str(self.etc_dir / "password.db")}
            ),
        )
        write_private(self.etc_dir / "config.properties", properties_text(self.config_properties(shared)))
        # Bootstrap logs every configuration property at start-up and masks only those
        # Trino marks sensitive; the S3 access key id is not one (the canary found it).
        # Its logger is named plain "Bootstrap".
        write_private(self.etc_dir / "log.properties", "Bootstrap=WARN\n")
        catalog_file = self.etc_dir / "catalog" / f"{self.settings.catalog.name}.properties"
        write_private(catalog_file, properties_text(self.catalog_properties()))
        java_home = trino_java_home(self.settings.local.trino_java_home)
        (self.etc_dir / "jvm.config").write_text("\n".join(self.jvm_options(java_home)) + "\n")

    def command(self) -> list[str]:
        java = Path(trino_java_home(self.settings.local.trino_java_home)) / "bin" / "java"
        return [
            str(java),
            f"@{self.etc_dir / 'jvm.config'}",
            "-cp",
            str(install_dir() / "lib" / "*"),
            f"-Dconfig={self.etc_dir / 'config.properties'}",
            "io.trino.server.TrinoServer",
        ]

    def is_healthy(self) -> bool:
        """Trino's public info over HTTPS, verified against this stack's certificate (so
        the server is ours), says it has finished starting."""
        if not self.certificate.exists():
            return False
        try:
            resp = requests.get(f"{self.url}/v1/info", verify=str(self.certificate), timeout=2)
            return resp.status_code == 200 and resp.json().get("starting") is False
        except (requests.RequestException, ValueError):
            return False

    # -- a client -----------------------------------------------------------------

    def query(self, sql: str, *, timeout: float = 120.0) -> list[list[Any]]:
        """Run one statement over Trino's client REST protocol; its rows, as JSON values.

        Hand-written (a POST, then following ``nextUri``) because the ``trino`` client
        package is not in the lock; this is all the tests and the CLI need.
        """
        password = self.password()
        if password is None:
            raise StackError(f"no Trino password at {self.password_file}; run `lakehouse local up --with trino`")
        session = requests.Session()
        session.auth = (USER, password)
        session.headers["X-Trino-User"] = USER
        # Per request: requests lets $REQUESTS_CA_BUNDLE override a session's verify.
        verify = str(self.certificate)
        deadline = time.monotonic() + timeout
        resp = session.post(f"{self.url}/v1/statement", data=sql.encode(), verify=verify, timeout=30)
        resp.raise_for_status()
        doc = resp.json()
        rows: list[list[Any]] = []
        while True:
            rows.extend(doc.get("data") or [])
            if doc.get("error"):
                raise TrinoQueryError(f"trino: {doc['error'].get('message', doc['error'])}")
            next_uri = doc.get("nextUri")
            if not next_uri:
                return rows
            if time.monotonic() > deadline:
                session.delete(next_uri, verify=verify, timeout=10)
                raise TrinoQueryError(f"trino: no result within {timeout:.0f} s")
            resp = session.get(next_uri, verify=verify, timeout=30)
            resp.raise_for_status()
            doc = resp.json()
