"""The version gate of the foreign private APIs: a changed symbol fails early, naming
the installed and the pinned version and the adapter to port."""

from __future__ import annotations

import re

import pytest

from lakehouse.engines.private_api import PrivateApi, PrivateApiChangedError, installed_version, pinned_version

pytestmark = pytest.mark.unit


def test_the_pins_are_read_from_the_lock_file():
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned_version("pyiceberg"))
    assert pinned_version("PySpark") == pinned_version("pyspark") != "(not pinned)"
    assert pinned_version("no-such-distribution") == "(not pinned)"
    assert installed_version("no-such-distribution") == "(not installed)"


@pytest.mark.parametrize(
    ("api", "detail"),
    [
        (PrivateApi("pyiceberg", "pyiceberg.io.pyarrow", "_no_such_function", (), "x.adapter"), "it is gone"),
        (PrivateApi("pyiceberg", "pyiceberg.no_such_module", "f", (), "x.adapter"), "it is gone"),
        # A parameter the adapter passes that the function no longer takes.
        (
            PrivateApi("pyiceberg", "pyiceberg.io.pyarrow", "_dataframe_to_data_files", ("dataframe",), "x.adapter"),
            "the adapter passes (dataframe)",
        ),
        # A new required parameter the adapter does not pass.
        (PrivateApi("pyiceberg", "pyiceberg.io.pyarrow", "_dataframe_to_data_files", ("df",), "x.adapter"), "takes ("),
    ],
)
def test_a_changed_private_api_is_a_named_error_naming_both_versions(api, detail):
    with pytest.raises(PrivateApiChangedError) as raised:
        api.resolve()
    message = str(raised.value)
    assert detail in message
    assert f"pyiceberg {installed_version('pyiceberg')} changed the private API" in message
    assert f"pyiceberg=={pinned_version('pyiceberg')} (requirements.lock)" in message
    assert "port x.adapter" in message
