# The two quick-start commands. Both run ./init.sh first, which installs what is
# missing and otherwise changes nothing.
.PHONY: install demo lint test test-unit up down status

install:
	./init.sh

demo: install
	.venv/bin/lakehouse demo

# ruff (lint + format check) and mypy, configured in pyproject.toml; never rewrites files.
lint: install
	.ci/lint

test: install lint
	.venv/bin/pytest

test-unit: install
	.venv/bin/pytest -m unit

up: install
	.venv/bin/lakehouse local up

down:
	.venv/bin/lakehouse local down

status:
	.venv/bin/lakehouse local status
