"""Where the project's files are: the checkout, its config, caches and local state."""

from __future__ import annotations

import os
from pathlib import Path

# The package is installed editable from the checkout (init.sh), so the checkout is
# two levels above this file (lakehouse/config/). Images that install it elsewhere set LAKEHOUSE_HOME.
PROJECT_ROOT = Path(os.environ.get("LAKEHOUSE_HOME", Path(__file__).resolve().parents[2]))


def config_dir() -> Path:
    return Path(os.environ.get("LAKEHOUSE_CONFIG_DIR", PROJECT_ROOT / "config"))


def profiles_dir() -> Path:
    return config_dir() / "profiles"


def endpoints_dir() -> Path:
    return Path(os.environ.get("LAKEHOUSE_ENDPOINTS_DIR", config_dir() / "endpoints"))


def cache_dir() -> Path:
    """Downloaded artifacts (jars). Outside the checkout so clean clones reuse them."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lakehouse"
    return Path(os.environ.get("LAKEHOUSE_CACHE_DIR", default))
