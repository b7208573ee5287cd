"""Deployment config derived from a settings profile, so docker/ cannot drift from it.

`config/profiles/docker.yaml` says where containers find each other; this module turns
it into what the Compose deployment needs: Spark's ``spark-defaults.conf`` (baked into
the images and mounted over them) and the non-secret part of Nessie's environment.
The unit tests in ``tests/unit/docker`` check ``docker/`` against these functions, so a
change to the profile that the deployment does not follow fails there.

    python -m lakehouse.deploy spark-defaults            # print it for the docker profile
    python -m lakehouse.deploy spark-defaults --write     # regenerate docker/spark/spark-defaults.conf
    python -m lakehouse.deploy spark-defaults --check     # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from lakehouse import paths
from lakehouse.catalog_auth import NESSIE_PUBLIC_KEY_PROPERTY, nessie_auth_properties
from lakehouse.settings import Settings, load_settings
from lakehouse.spark_auth import AUTH_CONF
from lakehouse.spark_conf import catalog_conf

DEPLOY_PROFILE = "docker"

# Where the images keep what Spark needs; the same paths in every image, so a driver
# (an Airflow worker, Jupyter) and the executors (Spark workers) agree on the classpath.
JARS_DIR = "/opt/lakehouse/jars"
SPARK_CONF_DIR = "/opt/lakehouse/spark-conf"

# Nessie reads its S3 key pair from a "secret" named here; the name and secret of that
# entry are filled from the deployment's environment by Compose, never from a profile.
NESSIE_S3_SECRET = "nessie.catalog.secrets.s3-default"

SPARK_DEFAULTS_PATH = Path("docker") / "spark" / "spark-defaults.conf"


def spark_defaults(settings: Settings) -> dict[str, str]:
    """Spark properties for the Iceberg REST catalog served by Nessie, and Spark's
    authentication (whose secret each container adds: lakehouse.spark_auth).

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
        # each container adds it to a private copy (python -m lakehouse.spark_auth exec).
        **AUTH_CONF,
    }


def render_spark_defaults(settings: Settings) -> str:
    lines = [
        f"# Generated from config/profiles/{settings.profile}.yaml by",
        "#   python -m lakehouse.deploy spark-defaults --write",
        "# Do not edit by hand: change the profile and regenerate (a unit test compares them).",
        "# S3 keys are not here: Spark's S3FileIO reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.",
    ]
    props = spark_defaults(settings)
    width = max(len(key) for key in props)
    lines.extend(f"{key:<{width}}  {value}" for key, value in props.items())
    return "\n".join(lines) + "\n"


def parse_spark_defaults(text: str) -> dict[str, str]:
    """Spark's own format: ``key<whitespace>value``; ``#`` starts a comment line."""
    props: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        props[key] = value.strip()
    return props


def nessie_environment(settings: Settings) -> dict[str, str]:
    """Nessie's non-secret settings as dot-notation Quarkus keys.

    Dot notation on purpose: Quarkus cannot map SCREAMING_SNAKE names back to keys that
    contain hyphens (``default-options``, ``path-style-access``) and silently ignores
    them, which leaves Nessie on defaults that fail at its first S3 call.
    """
    s3 = "nessie.catalog.service.s3.default-options"
    warehouse = settings.catalog.warehouse
    return {
        "nessie.catalog.default-warehouse": warehouse,
        f"nessie.catalog.warehouses.{warehouse}.location": settings.catalog.warehouse_location,
        f"{s3}.endpoint": settings.s3.endpoint_url,
        f"{s3}.path-style-access": "true",
        f"{s3}.region": settings.s3.region,
        f"{s3}.access-key": f"urn:nessie-secret:quarkus:{NESSIE_S3_SECRET}",
        # No STS here to vend credentials: every client brings its own S3 keys.
        f"{s3}.request-signing-enabled": "false",
        "quarkus.http.port": str(settings.catalog.port),
        # Bearer tokens required; the public key they are checked against comes from
        # .env (NESSIE_OIDC_PUBLIC_KEY), like the secrets.
        **{k: v for k, v in nessie_auth_properties("").items() if k != NESSIE_PUBLIC_KEY_PROPERTY},
    }


def _spark_defaults_command(args: argparse.Namespace) -> int:
    text = render_spark_defaults(load_settings(args.profile))
    target = paths.PROJECT_ROOT / SPARK_DEFAULTS_PATH
    if args.check:
        if not target.is_file() or target.read_text() != text:
            print(
                f"{target} does not match config/profiles/{args.profile}.yaml; "
                "regenerate it with: python -m lakehouse.deploy spark-defaults --write",
                file=sys.stderr,
            )
            return 1
        return 0
    if args.write:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"wrote {target}")
        return 0
    sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse.deploy", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    spark = sub.add_parser("spark-defaults", help="spark-defaults.conf for the Compose deployment")
    spark.add_argument("--profile", default=DEPLOY_PROFILE)
    mode = spark.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {SPARK_DEFAULTS_PATH}")
    mode.add_argument("--check", action="store_true", help="exit 1 if the committed file is stale")
    spark.set_defaults(func=_spark_defaults_command)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
