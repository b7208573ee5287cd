"""docker/Dockerfile: pinned bases, one Python minor for Spark's driver and executors,
the jars pinned in lakehouse/engines/artifacts.py, and a build context that holds what it copies."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from typing import Any

import pytest
from deployfiles import DOCKER_DIR, ROOT, Dockerfile, parse_spark_defaults

from lakehouse.engines import artifacts, deploy


def _python_minor(image: str) -> str:
    """The Python minor an image runs, read from its tag."""
    repository, _, tag = image.partition(":")
    if repository.rsplit("/", 1)[-1] == "python":
        m = re.match(r"(\d+\.\d+)", tag)
    else:
        m = re.search(r"-python(\d+\.\d+)", tag)
    assert m, f"cannot tell the Python version of {image}: use python:<x.y.z>-* or an image tagged -python<x.y>"
    return m.group(1)


def _target_of(service: dict[str, Any]) -> str:
    return service["build"]["target"]


def test_external_base_images_are_pinned(dockerfile: Dockerfile) -> None:
    assert dockerfile.syntax and re.fullmatch(r"docker/dockerfile:\d+\.\d+(\.\d+)?", dockerfile.syntax), (
        f"pin the Dockerfile frontend to a version, got {dockerfile.syntax}"
    )
    for stage in dockerfile.stages.values():
        if stage.base in dockerfile.stages or stage.base == "scratch":
            continue
        assert "$" not in stage.base, f"stage {stage.name}: write the base image literally, not via ARG"
        tag = stage.base.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest" and re.search(r"\d", tag), f"stage {stage.name}: {stage.base} is not pinned"


def test_compose_targets_exist(services: dict[str, dict[str, Any]], dockerfile: Dockerfile) -> None:
    for name, service in services.items():
        if "build" in service:
            assert _target_of(service) in dockerfile.stages, f"{name}: no stage {_target_of(service)}"


def test_spark_drivers_and_executors_run_the_same_python_minor(
    services: dict[str, dict[str, Any]], dockerfile: Dockerfile
) -> None:
    # Executors run in the Spark workers; drivers in spark-connect, in the Airflow worker
    # (client mode, spark.engine: submit) and in Jupyter. PySpark refuses to run when
    # the minors differ.
    roles = ("spark-master", "spark-worker", "spark-connect", "airflow-worker", "jupyter")
    minors = {role: _python_minor(dockerfile.root_image(_target_of(services[role]))) for role in roles}
    assert len(set(minors.values())) == 1, f"Python minors differ: {minors}"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    lower = re.search(r">=\s*(\d+\.\d+)", requires).group(1)
    assert set(minors.values()) == {lower}, f"images run {minors}, pyproject.toml requires {requires}"


def test_the_airflow_image_is_the_locked_airflow_version(dockerfile: Dockerfile) -> None:
    lock = (ROOT / "requirements.lock").read_text()
    locked = re.search(r"^apache-airflow==(\S+)$", lock, re.M).group(1)
    base = dockerfile.root_image("airflow")
    assert base.startswith(f"apache/airflow:{locked}-"), f"{base} vs apache-airflow=={locked} in requirements.lock"
    installs = " ".join(dockerfile.stages["airflow"].args_of("RUN"))
    assert f'"apache-airflow=={locked}"' in installs, "name the Airflow version when installing into its image"


def test_jars_are_the_pinned_artifacts(dockerfile: Dockerfile) -> None:
    added = set()
    for args in dockerfile.stages["jars"].args_of("ADD"):
        m = re.fullmatch(r"--checksum=sha256:([0-9a-f]{64}) (\S+) /jars/", args)
        assert m, f"jars stage: every ADD pins a sha256 and lands in /jars/: {args}"
        added.add((m.group(2), m.group(1)))
    wanted = {(a.url, a.sha256) for a in artifacts.ARTIFACTS.values() if a.key.startswith("iceberg-")}
    assert added == wanted


@pytest.mark.parametrize("stage", ["lakehouse", "airflow"])
def test_spark_running_stages_carry_jars_config_and_java(dockerfile: Dockerfile, stage: str) -> None:
    instructions = dockerfile.stages[stage].instructions
    copies = [re.sub(r"--chown=\S+ ", "", args) for name, args in instructions if name == "COPY"]
    env = " ".join(args for name, args in instructions if name == "ENV")
    assert f"--from=jars /jars/ {deploy.JARS_DIR}/" in copies
    assert f"docker/spark/spark-defaults.conf {deploy.SPARK_CONF_DIR}/spark-defaults.conf" in copies
    assert "--from=java /opt/java/openjdk /opt/java/openjdk" in copies
    assert f"SPARK_CONF_DIR={deploy.SPARK_CONF_DIR}" in env
    assert "JAVA_HOME=/opt/java/openjdk" in env
    assert "LAKEHOUSE_HOME=/opt/lakehouse" in env
    assert "AWS_REQUEST_CHECKSUM_CALCULATION=when_required" in env
    # spark_jobs.session looks the jars up through lakehouse.engines.artifacts (<cache dir>/jars)
    # and needs them verified; the marker files must be written while building.
    cache = re.search(r"LAKEHOUSE_CACHE_DIR=(\S+)", env)
    assert cache and f"{cache.group(1)}/jars" == deploy.JARS_DIR, "LAKEHOUSE_CACHE_DIR must hold the baked jars"
    runs = [args for name, args in instructions if name == "RUN"]
    assert "lakehouse artifacts fetch iceberg-spark-runtime iceberg-aws-bundle" in runs


def test_java_is_17(dockerfile: Dockerfile) -> None:
    # Spark 4.1 runs on Java 17 or 21; the stack (local and images) runs it on 17.
    assert re.match(r"eclipse-temurin:17\.", dockerfile.stages["java"].base)


def test_the_iceberg_runtime_matches_the_spark_line(dockerfile: Dockerfile) -> None:
    # An Iceberg runtime is built for one Spark minor; pyspark ships the Connect server.
    adds = " ".join(dockerfile.stages["jars"].args_of("ADD"))
    assert f"iceberg-spark-runtime-{artifacts.SPARK_SCALA}/{artifacts.ICEBERG_VERSION}/" in adds
    assert artifacts.SPARK_VERSION.startswith(artifacts.SPARK_SCALA.split("_")[0] + ".")
    assert "spark-connect" not in adds


def test_nessie_image_matches_the_native_runner(services: dict[str, dict[str, Any]]) -> None:
    assert services["nessie"]["image"] == f"ghcr.io/projectnessie/nessie:{artifacts.NESSIE_VERSION}"


def _dockerignore_allows(path: str, patterns: list[str]) -> bool:
    """BuildKit's rule: the last matching pattern wins; a `!` pattern re-includes."""
    included = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch(prefix, body) for prefix in prefixes) or (
            body.startswith("**/") and any(fnmatch(part, body[3:]) for part in parts)
        ):
            included = negate
    return included


def _ignore_patterns() -> list[str]:
    text = (DOCKER_DIR / "Dockerfile.dockerignore").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile: Dockerfile) -> None:
    patterns = _ignore_patterns()
    for stage in dockerfile.stages.values():
        for args in stage.args_of("COPY"):
            words = [w for w in args.split() if not w.startswith("--")]
            if any(w.startswith("--from=") for w in args.split()):
                continue
            for source in words[:-1]:
                assert (ROOT / source).exists(), f"stage {stage.name}: COPY {source}: not in the repository"
                assert _dockerignore_allows(source, patterns), (
                    f"stage {stage.name}: COPY {source}: excluded by docker/Dockerfile.dockerignore"
                )


@pytest.mark.parametrize(
    "path",
    [".env", ".venv/bin/python", ".git/config", ".lakehouse/secrets/x", "docker/secrets/endpoints.env", "config/.env"],
)
def test_local_state_and_secrets_stay_out_of_the_build_context(path: str) -> None:
    assert not _dockerignore_allows(path, _ignore_patterns())


def test_spark_defaults_conf_is_generated_from_the_profile(docker_settings) -> None:
    committed = (ROOT / deploy.SPARK_DEFAULTS_PATH).read_text()
    assert committed == deploy.render_spark_defaults(docker_settings), (
        "docker/spark/spark-defaults.conf is stale: python -m lakehouse.engines.deploy spark-defaults --write"
    )


def test_spark_defaults_configure_the_nessie_rest_catalog(docker_settings) -> None:
    props = parse_spark_defaults((ROOT / deploy.SPARK_DEFAULTS_PATH).read_text())
    cat = f"spark.sql.catalog.{docker_settings.catalog.name}"
    assert props[cat] == "org.apache.iceberg.spark.SparkCatalog"
    assert props[f"{cat}.type"] == "rest"
    assert props[f"{cat}.uri"] == docker_settings.catalog.rest_uri
    assert props[f"{cat}.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert props[f"{cat}.s3.endpoint"] == docker_settings.s3.endpoint_url
    assert props[f"{cat}.s3.path-style-access"] == "true"
    assert props["spark.sql.extensions"] == "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
    assert not any("secret" in key or "access-key" in key for key in props), "keys come from the environment"
