"""Deployment config derived from a settings profile, so docker/ cannot drift from it.

`config/profiles/docker.yaml` says where containers find each other; this module turns
it into what the Compose deployment needs: Spark's ``spark-defaults.conf`` (baked into
the images and mounted over them) and the compose Trino's files. The unit tests in
``tests/unit/docker`` check ``docker/`` against the profile (Nessie's environment
included), so a change to the profile that the deployment does not follow fails there.

    python -m lakehouse.engines.deploy spark-defaults            # print it for the docker profile
    python -m lakehouse.engines.deploy spark-defaults --write     # regenerate docker/spark/spark-defaults.conf
    python -m lakehouse.engines.deploy spark-defaults --check     # exit 1 if the committed file is stale
    python -m lakehouse.engines.deploy trino-etc --out DIR        # the compose Trino's password and TLS files
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from lakehouse.cli._errors import exit_code
from lakehouse.config import paths
from lakehouse.config.settings import Settings, load_settings
from lakehouse.engines.spark_auth import AUTH_CONF
from lakehouse.engines.spark_conf import catalog_conf
from lakehouse.local.files import properties_text, write_private
from lakehouse.local.services.trino_server import USER, password_hash, self_signed

DEPLOY_PROFILE = "docker"

# Where the images keep what Spark needs; the same paths in every image, so a driver
# (an Airflow worker, Jupyter) and the executors (Spark workers) agree on the classpath.
JARS_DIR = "/opt/lakehouse/jars"
SPARK_CONF_DIR = "/opt/lakehouse/spark-conf"

SPARK_DEFAULTS_PATH = Path("docker") / "spark" / "spark-defaults.conf"

# Trino in compose, as the local one: HTTPS with a password (user TRINO_USER, password
# TRINO_PASSWORD from .env), its HTTP port only for its own node-to-node calls (signed
# with a shared secret) and the public /v1/info the image's health check reads.
# `python -m lakehouse.engines.deploy trino-etc --out <dir>` writes the files into a volume the
# trino service reads them from (TRINO_ETC); the image's run-trino is pointed at them.
TRINO_ETC = "/etc/trino-auth"
TRINO_HOST = "trino"
TRINO_HTTPS_PORT = 8443
TRINO_HTTP_PORT = 8080
TRINO_PASSWORD_ENV = "TRINO_PASSWORD"
# The image's user (uid 1000) must read the files; nobody else may.
TRINO_UID = 1000


def spark_defaults(settings: Settings) -> dict[str, str]:
    """Spark properties for the Iceberg REST catalog served by Nessie, and Spark's
    authentication (whose secret each container adds: lakehouse.engines.spark_auth).

    No S3 keys: S3FileIO falls back to the AWS SDK's default chain, so every container
    gets ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` from the environment and the
    file stays free of secrets (it is committed and baked into images).
    """
    return {
        "spark.master": settings.spark.master,
        **catalog_conf(settings),
        # SQL INSERT OVERWRITE replaces only the partitions it writes, like
        # writeTo(...).overwritePartitions() does.
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        # The jars are baked into every image at the same path; putting them on the
        # classpath (rather than spark.jars) spares shipping ~110 MB to each executor.
        "spark.driver.extraClassPath": f"{JARS_DIR}/*",
        "spark.executor.extraClassPath": f"{JARS_DIR}/*",
        # Spark's RPC takes only JVMs with the shared secret, which is not in this file:
        # each container adds it to a private copy (python -m lakehouse.engines.spark_auth exec).
        **AUTH_CONF,
    }


def render_spark_defaults(settings: Settings) -> str:
    lines = [
        f"# Generated from config/profiles/{settings.profile}.yaml by",
        "#   python -m lakehouse.engines.deploy spark-defaults --write",
        "# Do not edit by hand: change the profile and regenerate (a unit test compares them).",
        "# S3 keys are not here: Spark's S3FileIO reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.",
    ]
    props = spark_defaults(settings)
    width = max(len(key) for key in props)
    lines.extend(f"{key:<{width}}  {value}" for key, value in props.items())
    return "\n".join(lines) + "\n"


def trino_config_properties(shared_secret: str, etc: str = TRINO_ETC) -> dict[str, str]:
    """config.properties of the compose Trino (one node): HTTPS with passwords only."""
    return {
        "coordinator": "true",
        "node-scheduler.include-coordinator": "true",
        "http-server.http.port": str(TRINO_HTTP_PORT),
        "discovery.uri": f"http://localhost:{TRINO_HTTP_PORT}",
        "http-server.https.enabled": "true",
        "http-server.https.port": str(TRINO_HTTPS_PORT),
        "http-server.https.keystore.path": f"{etc}/trino.pem",
        "http-server.authentication.type": "PASSWORD",
        "password-authenticator.config-files": f"{etc}/password-authenticator.properties",
        "internal-communication.shared-secret": shared_secret,
        "catalog.config-dir": "/etc/trino/catalog",
    }


def write_trino_etc(out: Path, password: str, *, owner: int | None = None) -> list[str]:
    """The compose Trino's secret files in ``out`` (owner-only; ``owner``: chown them to
    that uid, the Trino image's user). The TLS key and the shared secret are made once
    and kept (clients may pin the certificate); the password hash follows .env."""
    import secrets

    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    keystore, certificate, shared_file = out / "trino.pem", out / "trino-cert.pem", out / "shared-secret"
    if not keystore.exists():
        key_pem, cert_pem = self_signed(TRINO_HOST)
        write_private(keystore, (key_pem + cert_pem).decode())
        certificate.write_bytes(cert_pem)
    if not shared_file.exists():
        write_private(shared_file, secrets.token_urlsafe(32))
    files = {
        "password.db": f"{USER}:{password_hash(password)}\n",
        "password-authenticator.properties": properties_text(
            {"password-authenticator.name": "file", "file.password-file": f"{TRINO_ETC}/password.db"}
        ),
        "config.properties": properties_text(trino_config_properties(shared_file.read_text().strip())),
    }
    for name, text in files.items():
        write_private(out / name, text)
    written = sorted([*files, keystore.name, certificate.name, shared_file.name])
    if owner is not None:
        for path in [out, *(out / name for name in written)]:
            os.chown(path, owner, owner)
    return written


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help=__doc__.split("\n\n")[0] if __doc__ else None,
)


@app.command("spark-defaults")
def _spark_defaults_command(
    profile: str = typer.Option(DEPLOY_PROFILE, help="the settings profile to derive it from"),
    write: bool = typer.Option(False, "--write", help=f"write {SPARK_DEFAULTS_PATH}"),
    check: bool = typer.Option(False, "--check", help="exit 1 if the committed file is stale"),
) -> int:
    """spark-defaults.conf for the Compose deployment."""
    if write and check:
        raise typer.BadParameter("--write and --check exclude each other", param_hint="--write/--check")
    text = render_spark_defaults(load_settings(profile))
    target = paths.PROJECT_ROOT / SPARK_DEFAULTS_PATH
    if check:
        if not target.is_file() or target.read_text() != text:
            print(
                f"{target} does not match config/profiles/{profile}.yaml; "
                "regenerate it with: python -m lakehouse.engines.deploy spark-defaults --write",
                file=sys.stderr,
            )
            return 1
        return 0
    if write:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"wrote {target}")
        return 0
    sys.stdout.write(text)
    return 0


@app.command("trino-etc")
def _trino_etc_command(out: Path = typer.Option(Path(TRINO_ETC), help="where to write the files")) -> int:
    """The Compose Trino's TLS key, password file and config."""
    password = os.environ.get(TRINO_PASSWORD_ENV, "")
    if len(password) < 16:
        print(f"{TRINO_PASSWORD_ENV} is missing or shorter than 16 characters", file=sys.stderr)
        return 1
    written = write_trino_etc(out, password, owner=TRINO_UID if os.geteuid() == 0 else None)
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code(app, argv, prog_name="python -m lakehouse.engines.deploy")


if __name__ == "__main__":
    sys.exit(main())
