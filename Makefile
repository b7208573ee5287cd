# The two quick-start commands. Both run ./init.sh first, which installs what is
# missing and otherwise changes nothing.
.PHONY: install install-test demo lint test test-unit up down status

install:
	./init.sh

# The integration suite also runs Trino (tests/integration/lakehouse/local/test_trino.py).
install-test:
	./init.sh --trino

demo: install
	.venv/bin/lakehouse demo

# ruff (lint + format check) and mypy, configured in pyproject.toml; never rewrites files.
lint: install
	.ci/lint

test: install-test lint
	.venv/bin/pytest

test-unit: install
	.venv/bin/pytest -m unit

up: install
	.venv/bin/lakehouse local up

down:
	.venv/bin/lakehouse local down

status:
	.venv/bin/lakehouse local status
