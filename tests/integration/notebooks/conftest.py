"""The analyst's path on the shared test stack: the local Jupyter service started on a
free port. The ingested endpoint the notebooks read (``ingested``) is in
tests/integration/conftest.py, shared with the other engines' tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lakehouse.config.settings import load_settings
from lakehouse.local.services.jupyter_server import JupyterService
from tests.conftest import free_port


@pytest.fixture(scope="session")
def jupyter(stack) -> Iterator[JupyterService]:
    """The stack's Jupyter service (`up --with jupyter`) on a free port."""
    from lakehouse.local.stack import LocalStack

    saved = os.environ.get("LAKEHOUSE_LOCAL__JUPYTER_PORT")
    os.environ["LAKEHOUSE_LOCAL__JUPYTER_PORT"] = str(free_port())
    server = LocalStack(load_settings(), services=(JupyterService,))
    try:
        server.up()
        yield JupyterService(server.settings)
    finally:
        server.stop_service(JupyterService.name)
        if saved is None:
            os.environ.pop("LAKEHOUSE_LOCAL__JUPYTER_PORT", None)
        else:
            os.environ["LAKEHOUSE_LOCAL__JUPYTER_PORT"] = saved
