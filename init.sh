#!/usr/bin/env bash
# Fresh machine to working install, idempotently: a second run changes nothing and
# says so. Needs Python 3.11 and root (or sudo) for Debian packages.
#
#   ./init.sh            the local (embedded, no Docker) install
#   ./init.sh --docker   also prepare the Docker Compose deployment (docker/)
#   ./init.sh --trino    also fetch and unpack Trino (821 MB; `make test` needs it)
#   ./init.sh --check    report what is missing, change nothing (exit 1 if anything is)
set -euo pipefail

cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
UV_VERSION=0.13.9
STAMP="$VENV/.lakehouse-install-stamp"
# uv lives outside the venv: `uv pip sync` makes the venv exactly the lock file.
TOOLS="$ROOT/.tools"
UV="$TOOLS/bin/uv"

DOCKER=0
CHECK=0
TRINO=0
for arg in "$@"; do
  case "$arg" in
    --docker) DOCKER=1 ;;
    --check) CHECK=1 ;;
    --trino) TRINO=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "init.sh: unknown option $arg (see ./init.sh --help)" >&2; exit 2 ;;
  esac
done

changed=()
missing=()
if [ -t 1 ]; then say() { printf '\033[1m[init]\033[0m %s\n' "$*"; }; else say() { printf '[init] %s\n' "$*"; }; fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "init.sh: '$*' needs root; run as root or install sudo" >&2; exit 1; fi
}

apt_updated=0
apt_install() {
  if [ "$CHECK" -eq 1 ]; then missing+=("debian:$*"); return; fi
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  changed+=("installed $*")
}

# --- system packages --------------------------------------------------------------
if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
# Debian starts a system-wide redis on 6379 after install; the stack runs its own
# on another port, so the packaged service is left as Debian configured it.

java17=""
for candidate in "${JAVA_HOME:-}/bin/java" "$(command -v java || true)" /usr/lib/jvm/*17*/bin/java; do
  [ -x "$candidate" ] || continue
  if "$candidate" -version 2>&1 | grep -q 'version "17'; then java17=$candidate; break; fi
done
if [ -z "$java17" ]; then
  apt_install openjdk-17-jre-headless
fi

# The Airflow UI browser test drives Debian's Chromium headless through its chromedriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt_install chromium chromium-driver fonts-liberation
fi

# --- Python environment -------------------------------------------------------------
PY=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    PY=$(command -v "$candidate"); break
  fi
done
if [ -z "$PY" ]; then
  echo "init.sh: Python 3.11 is required (python3.11 or python3 of version 3.11 on PATH)" >&2
  exit 1
fi

want_stamp=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
have_stamp=$(cat "$STAMP" 2>/dev/null || true)
if [ "$want_stamp" != "$have_stamp" ] || [ ! -x "$VENV/bin/lakehouse" ]; then
  if [ "$CHECK" -eq 1 ]; then missing+=("python environment (.venv) out of date"); else
    [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PY" -m venv "$VENV"; }
    if ! "$UV" --version 2>/dev/null | grep -q "$UV_VERSION"; then
      say "installing uv $UV_VERSION into $TOOLS (fast, lock-exact installs)"
      PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check --upgrade --target "$TOOLS" "uv==$UV_VERSION"
    fi
    say "installing locked dependencies (requirements.lock)"
    # Bytecode now, not in every Airflow task process that imports Airflow and pyiceberg
    # (uv writes none by default, and a PYTHONDONTWRITEBYTECODE shell never caches it).
    "$UV" pip sync -q --compile-bytecode -p "$VENV/bin/python" requirements.lock
    "$UV" pip install -q --compile-bytecode -p "$VENV/bin/python" --no-deps -e .
    echo "$want_stamp" > "$STAMP"
    changed+=("python environment")
  fi
fi

# --- jars from Maven Central (sha256-pinned) -----------------------------------------
if [ -x "$VENV/bin/lakehouse" ]; then
  if "$VENV/bin/lakehouse" artifacts list --check >/dev/null 2>&1; then
    :
  elif [ "$CHECK" -eq 1 ]; then
    missing+=("jars (lakehouse artifacts fetch)")
  else
    "$VENV/bin/lakehouse" artifacts fetch
    changed+=("jars")
  fi
fi

# --- Trino (optional: `lakehouse local up --with trino` and its test) ----------------
# Only on request: `make test` asks for it, `make demo` and a plain ./init.sh never
# download the 821 MB tarball.
if [ "$TRINO" -eq 1 ] && [ -x "$VENV/bin/python" ]; then
  if ! "$VENV/bin/python" -c 'from lakehouse.local.services.trino_server import is_installed; raise SystemExit(not is_installed())'; then
    if [ "$CHECK" -eq 1 ]; then missing+=("trino (lakehouse artifacts fetch trino-server)"); else
      "$VENV/bin/lakehouse" artifacts fetch trino-server
      say "unpacking Trino into the cache"
      "$VENV/bin/python" -c 'from lakehouse.local.services.trino_server import ensure_installed; ensure_installed()'
      changed+=("trino")
    fi
  fi
  # Trino 476 needs Java 24+; a Temurin 25 comes with these machines, and no registry
  # reached here has one to install, so a missing one is reported, not installed.
  if ! trino_java=$("$VENV/bin/python" -c 'from lakehouse.engines.java import trino_java_home; print(trino_java_home())' 2>&1); then
    say "no Java 24+ for Trino: its service and test are skipped (set LAKEHOUSE_LOCAL__TRINO_JAVA_HOME)"
    printf '%s\n' "$trino_java" | sed 's/^/  /' >&2
  fi
fi

# --- Docker Compose path (optional) -----------------------------------------------
if [ "$DOCKER" -eq 1 ]; then
  # RustFS runs as uid 10001 and fails silently on data directories it cannot write.
  for d in data/rustfs/data data/rustfs/applogs; do
    if [ ! -d "$d" ] || [ "$(stat -c %u "$d")" != 10001 ]; then
      if [ "$CHECK" -eq 1 ]; then missing+=("$d owned by 10001"); else
        mkdir -p "$d"; as_root chown -R 10001:10001 "$d"; changed+=("$d"); fi
    fi
  done
  for d in data/spark/jars data/airflow/logs data/notebooks; do
    [ -d "$d" ] || { [ "$CHECK" -eq 1 ] && missing+=("$d") || { mkdir -p "$d"; changed+=("$d"); }; }
  done
  if [ "$CHECK" -eq 0 ] && [ -x "$VENV/bin/python" ]; then
    jars=$("$VENV/bin/python" -c 'from lakehouse import artifacts as a; print(" ".join(str(p) for p in a.spark_jars()))')
    for jar in $jars; do
      if ! cmp -s "$jar" "data/spark/jars/$(basename "$jar")"; then
        cp "$jar" data/spark/jars/; changed+=("data/spark/jars/$(basename "$jar")")
      fi
    done
  fi
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    if ! docker network inspect data-platform >/dev/null 2>&1; then
      [ "$CHECK" -eq 1 ] && missing+=("docker network data-platform") || { docker network create data-platform >/dev/null; changed+=("docker network data-platform"); }
    fi
  else
    say "no Docker engine reachable: skipped creating the data-platform network"
  fi
fi

# --- summary ------------------------------------------------------------------------
if [ "$CHECK" -eq 1 ]; then
  if [ "${#missing[@]}" -eq 0 ]; then say "everything is installed"; exit 0; fi
  say "missing:"; printf '  - %s\n' "${missing[@]}"; exit 1
fi
if [ "${#changed[@]}" -eq 0 ]; then
  say "already set up: nothing changed"
else
  say "set up:"; printf '  - %s\n' "${changed[@]}"
fi
say "ready: $VENV/bin/lakehouse ($("$VENV/bin/lakehouse" --version 2>/dev/null || echo installed))"
