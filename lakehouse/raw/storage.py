"""S3 access from the settings: one place that builds clients for the object store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.config.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover


def s3_client(s3: S3Settings, **config: object) -> S3Client:
    import boto3
    from botocore.config import Config

    key, secret = s3.require_credentials()
    # Path-style: S3-compatible servers on one host name have no per-bucket DNS.
    # "when_required": newer botocore sends CRC checksums some servers reject.
    defaults: dict[str, object] = {
        "s3": {"addressing_style": "path"},
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "retries": {"max_attempts": 5, "mode": "standard"},
    }
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(**{**defaults, **config}),
    )


def ensure_bucket(s3: S3Settings) -> bool:
    """Create the bucket if it is missing. Returns True when it was created."""
    from botocore.exceptions import ClientError

    client = s3_client(s3)
    try:
        client.head_bucket(Bucket=s3.bucket)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    client.create_bucket(Bucket=s3.bucket)
    return True


_MISSING_CODES = ("NoSuchKey", "404", "NotFound")


def read_object(client: S3Client, bucket: str, key: str) -> bytes | None:
    """The object's body, or None when there is no such key (other errors raise)."""
    from botocore.exceptions import ClientError

    try:
        body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
            return None
        raise
    return body


def object_exists(client: S3Client, bucket: str, key: str) -> bool:
    """One HEAD: True when the key exists (other errors raise)."""
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
            return False
        raise
    return True
