"""Spark properties for the lakehouse's Iceberg catalog, built once from the settings.

The session factory (spark_jobs/session.py) and the deployment's generated
spark-defaults.conf (lakehouse/deploy.py) both start from these, so a job run by
hand, by Airflow or in a container sees the same catalog. No secrets here: the S3
keys reach Spark at runtime or through the environment, never through this conf.
"""

from __future__ import annotations

from lakehouse.settings import Settings

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"


def catalog_conf(settings: Settings) -> dict[str, str]:
    cat = f"spark.sql.catalog.{settings.catalog.name}"
    return {
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
        "spark.sql.defaultCatalog": settings.catalog.name,
        cat: "org.apache.iceberg.spark.SparkCatalog",
        f"{cat}.type": "rest",
        f"{cat}.uri": settings.catalog.rest_uri,
        # Nessie selects its warehouse by name (not an s3:// URI) from this.
        f"{cat}.warehouse": settings.catalog.warehouse,
        f"{cat}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{cat}.s3.endpoint": settings.s3.endpoint_url,
        # S3-compatible servers on one host name have no per-bucket DNS names.
        f"{cat}.s3.path-style-access": "true",
        f"{cat}.client.region": settings.s3.region,
        # Other writers (pyiceberg publishes signals, maintenance runs elsewhere) commit
        # to the same tables; a cached table would plan reads on a stale snapshot.
        f"{cat}.cache-enabled": "false",
    }
