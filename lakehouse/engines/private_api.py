"""Version gates for the foreign private APIs the project calls, one adapter each.

A private symbol may change in any release; only the exact pins in requirements.lock
keep a call to one working. So each adapter names the symbol and the parameters it
passes in a :class:`PrivateApi`, and resolves it at first use: a symbol that is gone
or takes other parameters raises :class:`PrivateApiChangedError`, naming the
installed and the pinned version, before anything is written. Each adapter has a
contract test (tests/unit/lakehouse/...) that fails the same way on an upgrade.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, cast

from lakehouse.config import paths
from lakehouse.errors import LakehouseError

LOCK_FILE = "requirements.lock"


class PrivateApiChangedError(LakehouseError):
    def __init__(self, api: PrivateApi, detail: str) -> None:
        self.api = api
        super().__init__(
            f"{api.distribution} {installed_version(api.distribution)} changed the private API "
            f"{api.module}.{api.qualname} that {api.adapter} calls: {detail}. lakehouse is written "
            f"against {api.distribution}=={pinned_version(api.distribution)} ({LOCK_FILE}): install "
            f"that (./init.sh), or port {api.adapter} and its contract test to the new version."
        )


def installed_version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "(not installed)"


def pinned_version(distribution: str) -> str:
    """The version requirements.lock pins, or "(not pinned)" when the lock is not at hand
    (an image that installs the package without the checkout)."""
    lock = paths.PROJECT_ROOT / LOCK_FILE
    prefix = f"{distribution.lower()}=="
    if lock.is_file():
        for line in lock.read_text().splitlines():
            if line.lower().startswith(prefix):
                return line[len(prefix) :].split()[0]
    return "(not pinned)"


@dataclass(frozen=True)
class PrivateApi:
    """One private callable of a foreign distribution, as an adapter calls it."""

    distribution: str  # as pinned in requirements.lock
    module: str
    qualname: str  # "function" or "Class.method"
    keywords: tuple[str, ...]  # the parameters the adapter passes, every one by keyword
    adapter: str  # the module that calls it (the one to port)

    def resolve(self) -> Callable[..., Any]:
        """The callable, once it is checked to exist and to take exactly what the adapter
        passes: each of ``keywords``, and no other parameter without a default."""
        try:
            found: Any = importlib.import_module(self.module)
            for part in self.qualname.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError) as exc:
            raise PrivateApiChangedError(self, f"it is gone ({exc})") from exc
        try:
            parameters = inspect.signature(found).parameters
        except (TypeError, ValueError) as exc:
            raise PrivateApiChangedError(self, f"its signature cannot be read ({exc})") from exc
        missing = [
            k for k in self.keywords if k not in parameters or parameters[k].kind is inspect.Parameter.POSITIONAL_ONLY
        ]
        required = [
            name
            for name, p in parameters.items()
            if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            and name not in self.keywords
        ]
        if missing or required:
            raise PrivateApiChangedError(
                self,
                f"it takes ({', '.join(parameters)}); the adapter passes ({', '.join(self.keywords)})",
            )
        return cast("Callable[..., Any]", found)
