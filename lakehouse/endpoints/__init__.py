"""Endpoint configs: the models, the YAML loader and the helpers the crawler shares.

Import from here; the submodules are split by role (models, loader, templates, jsonpath).
"""

from lakehouse.endpoints.auth import ApiKeyAuth, BasicAuth, BearerAuth, NoAuth, OAuth2ClientCredentials
from lakehouse.endpoints.jsonpath import JsonPathError, extract
from lakehouse.endpoints.loader import (
    declared_namespaces,
    endpoint_path,
    load_endpoint,
    load_endpoints,
    parse_endpoint,
    validate_all,
)
from lakehouse.endpoints.models import (
    Column,
    CursorPagination,
    EndpointConfig,
    Incremental,
    LinkHeaderPagination,
    NoPagination,
    OffsetPagination,
    PagePagination,
    Parent,
    RateLimit,
    Request,
    ResponseMap,
    Retry,
    Table,
)
from lakehouse.endpoints.templates import PLACEHOLDERS
from lakehouse.errors import EndpointConfigError, EndpointConfigsError

__all__ = [
    "PLACEHOLDERS",
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "Column",
    "CursorPagination",
    "EndpointConfig",
    "EndpointConfigError",
    "EndpointConfigsError",
    "Incremental",
    "JsonPathError",
    "LinkHeaderPagination",
    "NoAuth",
    "NoPagination",
    "OAuth2ClientCredentials",
    "OffsetPagination",
    "PagePagination",
    "Parent",
    "RateLimit",
    "Request",
    "ResponseMap",
    "Retry",
    "Table",
    "declared_namespaces",
    "endpoint_path",
    "extract",
    "load_endpoint",
    "load_endpoints",
    "parse_endpoint",
    "validate_all",
]
