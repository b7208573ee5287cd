"""What every notebook kernel starts with, in the local stack's Jupyter and the compose
image's alike (``from lakehouse.analyst import *`` is the whole start-up file of both).

    settings                the resolved settings (secrets masked when printed)
    catalog()               pyiceberg's REST client for Nessie (one per kernel)
    spark()                 a Spark Connect session on the stack's engine
                            (``spark.connect_url``, the server's token added here)
    duckdb(name)            a DuckDB connection with the table's scan registered as a
                            view named like the table (``market.trades`` -> ``market_trades``)
    nessie_commits(n)       the branch's newest Nessie commits (hash, time, message)
    catalog_at(hash)        a read-only view of the catalog as it was at a Nessie commit
    table_history(name)     the table's snapshots, one per Nessie commit that changed it
    table_at(name, sid)     the table as of one of those snapshots (time travel)

Nothing connects at kernel start: each helper connects on first use, so a notebook
opens while Nessie or Spark is still starting (or restarting). Engines (pyspark,
DuckDB) are imported inside the helpers, never when this module is.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from lakehouse.config.settings import Settings, load_settings
from lakehouse.engines.engine import ensure_engine
from lakehouse.engines.pyspark_session import make_active
from lakehouse.engines.spark_conf import catalog_token_conf, client_connect_url, connect_channel
from lakehouse.errors import LakehouseError
from lakehouse.tables.catalog import catalog_properties, load_catalog
from lakehouse.tables.catalog_auth import bearer_headers

if TYPE_CHECKING:
    import duckdb as duckdb_module
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table
    from pyspark.sql import SparkSession

__all__ = [
    "NessieCommit",
    "TableVersion",
    "catalog",
    "catalog_at",
    "duckdb",
    "duckdb_table",
    "nessie_commits",
    "settings",
    "spark",
    "table_at",
    "table_history",
]

_HASH = re.compile(r"^[0-9a-f]{8,64}$")


class _LazySettings:
    """The kernel's settings, loaded on first attribute access (a profile error then
    shows in the cell that needed them, not as a kernel that fails to start)."""

    @functools.cached_property
    def _loaded(self) -> Settings:
        return load_settings()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loaded, name)

    def __repr__(self) -> str:
        return repr(self._loaded)


settings: Any = _LazySettings()


def _settings() -> Settings:
    loaded: Settings = settings._loaded if isinstance(settings, _LazySettings) else settings
    return loaded


class NessieError(LakehouseError):
    """Nessie's own API (commits, references) answered with an error."""


def catalog() -> Catalog:
    """pyiceberg's REST catalog client on the settings' Nessie branch."""

    return load_catalog(_settings())


@functools.cache
def spark() -> SparkSession:
    """A Spark Connect client session on the stack's engine.

    The local stack's server is (re)started first if it is not running; elsewhere
    (compose) the platform runs it. The token is read from the settings and goes
    only into the connection this builds.
    """

    current = _settings()
    ensure_engine(current)
    return _connect_session(current)


def _connect_session(current: Settings) -> SparkSession:
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    url = current.spark.connect_url
    if not url:
        raise LakehouseError("spark.connect_url is not set; set LAKEHOUSE_SPARK__CONNECT_URL=sc://host:port")
    channel = connect_channel(client_connect_url(url, current.spark.require_connect_token()))
    # What SparkSession.builder.remote() sets: functions built from here on are Connect ones.
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    session = RemoteSparkSession(connection=channel)
    make_active(session)
    session.conf.set("spark.sql.session.timeZone", "UTC")
    for name, value in catalog_token_conf(current).items():
        session.conf.set(name, value)
    return session  # type: ignore[return-value]  # the Connect class stands in for pyspark.sql's


def _view_name(identifier: str) -> str:
    return re.sub(r"\W", "_", identifier)


def duckdb(
    identifier: str,
    connection: duckdb_module.DuckDBPyConnection | None = None,
    *,
    snapshot_id: int | None = None,
    row_filter: str | None = None,
) -> duckdb_module.DuckDBPyConnection:
    """A DuckDB connection over one Iceberg table's scan (pyiceberg plans it from the
    table's metadata; only the matching files are read), registered as a view named
    like the table with dots as underscores: ``duckdb("market.trades").sql("select
    count(*) from market_trades")``. ``snapshot_id`` reads an earlier snapshot."""
    import duckdb as duckdb_module

    connection = connection or duckdb_module.connect()
    table = catalog().load_table(identifier)
    scan = (
        table.scan(snapshot_id=snapshot_id, row_filter=row_filter)
        if row_filter
        else table.scan(snapshot_id=snapshot_id)
    )
    return scan.to_duckdb(table_name=_view_name(identifier), connection=connection)


#: the compose start-up file's earlier name for duckdb()
duckdb_table = duckdb


@dataclass(frozen=True)
class NessieCommit:
    hash: str
    committed_at: datetime
    message: str


def _nessie_api(current: Settings) -> str:
    parsed = urlparse(current.catalog.uri)
    return f"{parsed.scheme}://{parsed.netloc}/api/v2"


def nessie_commits(limit: int = 20) -> list[NessieCommit]:
    """The newest commits of the settings' branch, newest first (Nessie's API v2)."""
    import requests

    current = _settings()
    branch = current.catalog.branch
    resp = requests.get(
        f"{_nessie_api(current)}/trees/{branch}/history",
        params={"max-records": limit},
        headers=bearer_headers(current),
        timeout=30,
    )
    if resp.status_code != 200:
        raise NessieError(f"Nessie answered {resp.status_code} listing the commits of {branch!r}: {resp.text[:300]}")
    commits = []
    for entry in resp.json().get("logEntries", [])[:limit]:
        meta = entry["commitMeta"]
        when = datetime.fromisoformat(meta["commitTime"].replace("Z", "+00:00")).astimezone(UTC)
        commits.append(NessieCommit(hash=meta["hash"], committed_at=when, message=meta.get("message", "")))
    return commits


@dataclass(frozen=True)
class TableVersion:
    """One commit of the branch that changed a table: the Iceberg snapshot it made current."""

    commit: str
    committed_at: datetime
    snapshot_id: int
    message: str


def table_history(identifier: str, limit: int = 200) -> list[TableVersion]:
    """The table's snapshots as the branch's commits recorded them, newest first.

    Nessie keeps only the current snapshot in a table's served metadata (earlier ones
    are not in ``table.snapshots()``); its commit log is the table's history. Looks at
    the newest ``limit`` commits of the branch.
    """
    import requests

    current = _settings()
    key = identifier.split(".")
    resp = requests.get(
        f"{_nessie_api(current)}/trees/{current.catalog.branch}/history",
        params={"max-records": str(limit), "fetch": "ALL"},
        headers=bearer_headers(current),
        timeout=30,
    )
    if resp.status_code != 200:
        raise NessieError(f"Nessie answered {resp.status_code} listing the history of {identifier}: {resp.text[:300]}")
    versions = []
    for entry in resp.json().get("logEntries", [])[:limit]:
        meta = entry["commitMeta"]
        for op in entry.get("operations") or []:
            content = op.get("content") or {}
            if op.get("type") == "PUT" and op["key"]["elements"] == key and content.get("snapshotId", -1) >= 0:
                when = datetime.fromisoformat(meta["commitTime"].replace("Z", "+00:00")).astimezone(UTC)
                versions.append(TableVersion(meta["hash"], when, int(content["snapshotId"]), meta.get("message", "")))
    return versions


def table_at(identifier: str, snapshot_id: int) -> Table:
    """The table as of one of its snapshots (a ``snapshot_id`` from table_history()):
    loaded at the Nessie commit that made it current; ``.scan(snapshot_id=...)`` reads it."""
    for version in table_history(identifier):
        if version.snapshot_id == snapshot_id:
            return catalog_at(version.commit).load_table(identifier)
    raise NessieError(
        f"{identifier} has no snapshot {snapshot_id} in the branch's recent history; "
        f"table_history({identifier!r}) lists the ones it has"
    )


def catalog_at(commit_hash: str) -> Catalog:
    """The catalog as it was at one Nessie commit of the branch (read-only: Nessie
    refuses writes to a detached reference). Tables load as they were then."""
    if not _HASH.match(commit_hash):
        raise NessieError(f"{commit_hash!r} is not a Nessie commit hash (hex, as nessie_commits() lists them)")
    from pyiceberg.catalog import load_catalog as _load

    current = _settings()
    props = catalog_properties(current)
    props["uri"] = f"{current.catalog.rest_uri}@{commit_hash}"
    return _load(f"{current.catalog.name}@{commit_hash[:12]}", **props)
