"""Typed settings: one model, loaded from a profile in config/profiles/ with
environment-variable overrides.

Precedence, highest first: explicit keyword arguments, environment variables
(``LAKEHOUSE_<SECTION>__<FIELD>``), the profile file, the defaults below. Secrets
(S3 keys, Redis password) are never read from the profile: they come from the
environment or from secret files (``LAKEHOUSE_SECRETS_DIR``, and for the local
stack ``<state_dir>/secrets``), and are held as ``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from lakehouse.config import paths
from lakehouse.config.safe_yaml import describe_error, load_yaml
from lakehouse.config.worker import WorkerSettings
from lakehouse.endpoints.slots import cron_problem
from lakehouse.errors import MissingSecretError, SettingsError, UnknownProfileError
from lakehouse.queue.config import QueueSettings

if TYPE_CHECKING:
    import redis

ENV_PREFIX = "LAKEHOUSE_"
PROFILE_ENV = "LAKEHOUSE_PROFILE"
SECRETS_DIR_ENV = "LAKEHOUSE_SECRETS_DIR"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RedisSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(16379, ge=1, le=65535)
    db: int = Field(0, ge=0)
    password: SecretStr | None = None

    def client(self, **kwargs: Any) -> redis.Redis:
        import redis  # imported lazily: CLI start-up time

        return redis.Redis(
            host=self.host,
            port=self.port,
            db=self.db,
            password=self.password.get_secret_value() if self.password else None,
            decode_responses=True,
            **kwargs,
        )

    @property
    def display_url(self) -> str:
        """For humans and logs: never carries the password."""
        return f"redis://{self.host}:{self.port}/{self.db}"


class S3Settings(_Section):
    endpoint_url: str = "http://127.0.0.1:18333"
    region: str = "us-east-1"
    bucket: str = "warehouse"
    raw_prefix: str = "raw"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None

    @property
    def port(self) -> int:
        parsed = urlparse(self.endpoint_url)
        return parsed.port or (443 if parsed.scheme == "https" else 80)

    def require_credentials(self) -> tuple[str, str]:
        if self.access_key_id is None or self.secret_access_key is None:
            raise MissingSecretError(
                "the S3 key pair (access_key_id, secret_access_key)",
                _secret_places("s3__access_key_id") + _secret_places("s3__secret_access_key"),
            )
        return self.access_key_id.get_secret_value(), self.secret_access_key.get_secret_value()


class CatalogSettings(_Section):
    name: str = "lakehouse"
    uri: str = "http://127.0.0.1:19120/iceberg"
    branch: str = "main"
    warehouse: str = "warehouse"
    warehouse_location: str = "s3://warehouse/"
    namespaces: list[str] = Field(default_factory=lambda: ["default", "scraper"])
    # The bearer token every catalog client sends (Nessie refuses requests without it):
    # the local stack mints it (secret file); compose takes it from .env. Never in a profile.
    token: SecretStr | None = None
    # How long a token the local stack mints is valid; `up` mints a new one when a
    # quarter of this is left (lakehouse.tables.catalog_auth says why tokens are long-lived).
    token_lifetime_days: int = Field(365, ge=1, le=3650)

    def require_token(self) -> str:
        if self.token is None:
            raise MissingSecretError("the catalog's bearer token (catalog.token)", _secret_places("catalog__token"))
        return self.token.get_secret_value()

    @property
    def rest_uri(self) -> str:
        """Iceberg REST clients address a Nessie branch as the last path segment."""
        return f"{self.uri.rstrip('/')}/{self.branch}"

    @property
    def port(self) -> int:
        return urlparse(self.uri).port or 80


class SparkSettings(_Section):
    master: str = "local[2]"
    # How the ingest DAGs run their transform: "connect", a client session on the
    # long-running Spark Connect server (no driver JVM per task), or "submit",
    # spark-submit in client mode (a driver JVM per task, on spark.master).
    engine: Literal["connect", "submit"] = "connect"
    # Who writes an overwrite table's slots in raw_to_table: "arrow", Parquet written by
    # pyarrow in the job's process and committed through the Iceberg catalog (no
    # per-row conversion in the JVM: lakehouse/transform/writers.py), or "spark", Spark's
    # DataFrameWriterV2 overwrite. Table DDL, schema evolution and merge tables are
    # always Spark's.
    table_writer: Literal["arrow", "spark"] = "arrow"
    # sc://host:port of that server, never with the token in it. Unset: the local
    # stack's server (sc://localhost:<local.spark_connect_port>).
    connect_url: str | None = Field(None, pattern=r"^sc://[^/\s;]+:\d+/?$")
    # The server's shared token; clients add it to the URL only when they connect.
    # The local stack generates it (secret file); never in a profile.
    connect_token: SecretStr | None = None

    def require_connect_token(self) -> str:
        if self.connect_token is None:
            raise MissingSecretError(
                "the Spark Connect token (spark.connect_token)", _secret_places("spark__connect_token")
            )
        return self.connect_token.get_secret_value()

    # The shared secret of Spark's own RPC (spark.authenticate) between a driver, a
    # standalone master, its workers and their executors. Local-mode Spark makes its
    # own per process; a standalone cluster needs this one on every side. The local
    # stack generates it (secret file); compose takes it from .env. Never in a profile.
    auth_secret: SecretStr | None = None

    def require_auth_secret(self) -> str:
        if self.auth_secret is None:
            raise MissingSecretError(
                "the Spark RPC secret (spark.auth_secret) a standalone Spark cluster requires",
                _secret_places("spark__auth_secret"),
            )
        return self.auth_secret.get_secret_value()


class AirflowSettings(_Section):
    """How the DAGs wait and retry; the local stack's Airflow UI port."""

    api_port: int = 18081
    # wait_for_crawl watches a crawl this long in its own task before it defers to the
    # triggerer: a slot's crawl usually ends within a second or two, and a deferral
    # costs a second task start; a longer crawl frees the executor slot after this.
    inline_wait_seconds: float = Field(5.0, ge=0)
    crawl_timeout_seconds: float = Field(3600.0, gt=0)
    task_retries: int = Field(3, ge=0)
    retry_delay_seconds: float = Field(30.0, ge=0)
    # The endpoint whose table the example downstream DAG (dags/daily_aggregate.py)
    # aggregates per day, scheduled on that table's Asset; null leaves the example out.
    daily_aggregate_endpoint: str | None = Field("sandbox_trades", pattern=r"^[a-z][a-z0-9_]*$")


class FreshnessSettings(_Section):
    """When `lakehouse freshness` calls an endpoint late, and how far back `lakehouse
    signals` looks for missing slots."""

    # Late: the newest landed slot ended more than one schedule interval plus this ago.
    grace_seconds: float = Field(600.0, ge=0)
    # Slots of each endpoint's schedule checked for gaps, newest first (96 = a day at 15 min).
    window_slots: int = Field(96, ge=1, le=10_000)
    # How often the lakehouse_sla DAG checks the endpoints that declare `sla:` (cron).
    sla_schedule: str = "*/15 * * * *"

    @field_validator("sla_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:

        problem = cron_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip()


class LineageSettings(_Section):
    """Where Airflow's OpenLineage provider sends the events of every task
    (lakehouse.engines.airflow_env): ``file`` (one JSON event per line), ``console`` (the task
    log), ``http`` (a collector such as Marquez, at ``url``) or ``none``."""

    transport: Literal["file", "console", "http", "none"] = "file"
    # file: unset means <airflow home>/openlineage/events.jsonl.
    file_path: Path | None = None
    # http: the collector's base URL (the client posts to <url>/api/v1/lineage).
    url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    # The OpenLineage job namespace of this Airflow (jobs are named <dag_id>.<task_id>).
    namespace: str = Field("lakehouse", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _url_for_http(self) -> LineageSettings:
        if self.transport == "http" and not self.url:
            raise ValueError("transport http needs url (the OpenLineage collector, e.g. http://marquez:5000)")
        return self


class WeedPorts(_Section):
    """SeaweedFS opens more than its S3 port; a second stack must move them all."""

    s3_grpc: int = 18334
    master: int = 19333
    master_grpc: int = 19334
    volume: int = 19340
    volume_grpc: int = 19341
    filer: int = 18888
    filer_grpc: int = 18889
    # The admin server (no UI) that `weed mini` always starts. Its gRPC port is this
    # plus 10000: SeaweedFS' maintenance workers derive it so, whatever a flag says.
    admin: int = Field(18346, ge=1, le=55535)


class SparkClusterSettings(_Section):
    """The optional standalone Spark cluster of the local stack (`up --with spark`)."""

    # Away from Spark's defaults (7077, 8080, 8081), which other stacks on a machine take.
    master_port: int = 17077
    master_webui_port: int = 18180
    worker_port: int = 17078
    worker_webui_port: int = 18181
    worker_cores: int = Field(2, ge=1)
    worker_memory: str = Field("2g", pattern=r"^\d+[kmgt]$")


class LocalStackSettings(_Section):
    state_dir: Path = Field(default_factory=lambda: paths.PROJECT_ROOT / ".lakehouse")
    bind_host: str = "127.0.0.1"
    startup_timeout_seconds: float = Field(120, gt=0)
    nessie_management_port: int = 19000
    nessie_heap: str = "512m"
    weed_ports: WeedPorts = Field(default_factory=WeedPorts)
    spark_cluster: SparkClusterSettings = Field(default_factory=SparkClusterSettings)
    # Away from Spark Connect's default 15002, which a developer's own server may hold.
    spark_connect_port: int = Field(15102, ge=1, le=65535)
    # The Connect server is one long-lived driver for every slot: its heap is sized on
    # purpose (with Spark's default 1g it died of heap exhaustion on the third
    # 1M-row write).
    spark_connect_driver_memory: str = Field("3g", pattern=r"^\d+[kmgt]$")
    # Spark event logs of the Connect server, in <state_dir>/spark-connect/events: off
    # by default (they grow with every job); the test session turns them on so the
    # secrets canary can search them.
    spark_connect_event_log: bool = False
    # JupyterLab (`up --with jupyter`); not 18888, which SeaweedFS's filer takes.
    jupyter_port: int = Field(18890, ge=1, le=65535)
    # Trino (`up --with trino`): HTTPS with a password for clients on trino_port; plain
    # HTTP on trino_internal_port for its own node-to-node calls (shared secret).
    trino_port: int = Field(18443, ge=1, le=65535)
    trino_internal_port: int = Field(18444, ge=1, le=65535)
    trino_heap: str = Field("1g", pattern=r"^\d+[kmgt]$")
    # A JDK 24+ for Trino; unset: found (lakehouse.engines.java.trino_java_home).
    trino_java_home: Path | None = None

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        env_ignore_empty=True,
    )

    profile: str = "local"
    redis: RedisSettings = Field(default_factory=RedisSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    airflow: AirflowSettings = Field(default_factory=AirflowSettings)
    freshness: FreshnessSettings = Field(default_factory=FreshnessSettings)
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    local: LocalStackSettings = Field(default_factory=LocalStackSettings)

    @model_validator(mode="after")
    def _default_connect_url(self) -> Settings:
        # The local stack's server, spelled `localhost`: with a token, the PySpark 4.1
        # client uses TLS unless the host is exactly `localhost` (then gRPC local
        # credentials), and the server speaks no TLS.
        if self.spark.connect_url is None:
            self.spark.connect_url = f"sc://localhost:{self.local.spark_connect_port}"
        return self

    def redacted(self) -> dict[str, Any]:
        """A JSON-able view for `lakehouse settings`: SecretStr dumps as '**********'."""
        return self.model_dump(mode="json")


# Secret fields: the nested path and the environment variable that holds them.
SECRET_FIELDS: dict[tuple[str, str], str] = {
    ("s3", "access_key_id"): "LAKEHOUSE_S3__ACCESS_KEY_ID",
    ("s3", "secret_access_key"): "LAKEHOUSE_S3__SECRET_ACCESS_KEY",
    ("redis", "password"): "LAKEHOUSE_REDIS__PASSWORD",
    ("spark", "connect_token"): "LAKEHOUSE_SPARK__CONNECT_TOKEN",
    ("spark", "auth_secret"): "LAKEHOUSE_SPARK__AUTH_SECRET",
    ("catalog", "token"): "LAKEHOUSE_CATALOG__TOKEN",
}


def _secret_dirs(state_dir: Path | None = None) -> list[Path]:
    dirs = []
    if os.environ.get(SECRETS_DIR_ENV):
        dirs.append(Path(os.environ[SECRETS_DIR_ENV]))
    if state_dir is not None:
        dirs.append(state_dir / "secrets")
    return dirs


def _secret_places(field: str) -> list[str]:
    env = ENV_PREFIX + field.upper()
    places = [f"environment variable {env}"]
    places.append(
        f"file {env} in ${SECRETS_DIR_ENV}"
        + (f" ({os.environ[SECRETS_DIR_ENV]})" if os.environ.get(SECRETS_DIR_ENV) else " (not set)")
    )
    places.append(f"file {env} in the local stack's secrets dir (written by `lakehouse local up`)")
    return places


def read_secret_files(state_dir: Path | None) -> dict[str, dict[str, str]]:
    """Secret files named like their environment variables (Docker secrets style)."""
    found: dict[str, dict[str, str]] = {}
    for (section, field), env_name in SECRET_FIELDS.items():
        if os.environ.get(env_name):
            continue
        for directory in _secret_dirs(state_dir):
            candidate = directory / env_name
            if candidate.is_file():
                found.setdefault(section, {})[field] = candidate.read_text().strip()
                break
    return found


def available_profiles() -> list[str]:
    return sorted(p.stem for p in paths.profiles_dir().glob("*.yaml"))


def _read_profile(profile: str) -> tuple[Path, dict[str, Any]]:
    path = paths.profiles_dir() / f"{profile}.yaml"
    if not path.is_file():
        raise UnknownProfileError(profile, available_profiles(), str(paths.profiles_dir()))
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        where, detail = describe_error(exc)
        raise SettingsError(f"{path}: {where + ': ' if where else ''}not valid YAML: {detail}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    for (section, field), env_name in SECRET_FIELDS.items():
        if field in (data.get(section) or {}):
            raise SettingsError(
                f"{path}: {section}.{field} is a secret and may not be written in a profile; "
                f"set {env_name} in the environment or a secret file instead"
            )
    return path, data


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(profile: str | None = None, **overrides: Any) -> Settings:
    """Load the settings for `profile` (default: $LAKEHOUSE_PROFILE, else ``local``).

    ``overrides`` are nested dicts by section, e.g. ``redis={"port": 26379}``; tests
    use them to run a stack on free ports.
    """
    profile = profile or os.environ.get(PROFILE_ENV) or "local"
    path, profile_data = _read_profile(profile)
    profile_data = _deep_merge(profile_data, {"profile": profile})
    try:
        settings = _build(profile_data, {}, overrides)
        # Secret files are looked up after a first pass, because where the local
        # stack keeps its generated keys depends on the (overridable) state_dir.
        secrets = read_secret_files(settings.local.state_dir if profile == "local" else None)
        if secrets:
            settings = _build(profile_data, secrets, overrides)
    except ValidationError as exc:
        raise SettingsError(_describe_validation_error(exc, path)) from exc
    return settings


def _build(profile_data: dict[str, Any], secrets: dict[str, Any], overrides: dict[str, Any]) -> Settings:
    class _Profiled(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # Highest first; pydantic-settings deep-merges the layers.
            return (
                init_settings,
                env_settings,
                InitSettingsSource(settings_cls, init_kwargs=secrets),
                InitSettingsSource(settings_cls, init_kwargs=profile_data),
            )

    built = _Profiled(**overrides)
    # Hand out the plain class so callers can pickle/compare settings normally.
    return Settings.model_construct(**{name: getattr(built, name) for name in Settings.model_fields})


def _describe_validation_error(exc: ValidationError, path: Path) -> str:
    lines = [f"invalid settings (profile file {path}, or a {ENV_PREFIX}* environment variable):"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        env_name = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
        lines.append(f"  - {loc}: {err['msg']} (in the profile, or {env_name})")
    return "\n".join(lines)
