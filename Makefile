# Wangyin — the two commands of the quick start are `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
PYTHON  ?= python3

.PHONY: install demo serve test lint typecheck security bandit audit pytest chromium haproxy bench verify clean ha-packages drill pgbackrest axe

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

# Install, migrate var/wangyin.db, seed demo data, print the logins, serve on :8000 (IPv4+IPv6).
demo: install
	$(BIN)/wangyin demo

serve: install
	$(BIN)/wangyin serve

# Debian's chromium for the browser tests (never a downloaded browser build), and a CJK
# font so its screenshots show Chinese text instead of empty boxes.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=zh | grep -q . ; } || { \
	  echo "installing Debian chromium and a CJK font for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium fonts-wqy-microhei >/dev/null; }

# axe-core for the browser tests' accessibility checks (issue 9 §7): Debian's npm, then the
# version pinned in package-lock.json into ./node_modules; the tests never fetch it.
axe:
	@test -f node_modules/axe-core/axe.min.js || { \
	  command -v npm >/dev/null 2>&1 || { apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }; \
	  npm ci --no-audit --no-fund --ignore-scripts; }

# Debian's patroni, etcd-server and postgresql-15 for the failover drill and its test
# (issue 8 §3): installed when missing, never configured or started as services.
ha-packages:
	@sh scripts/install-ha.sh

# The failover drill: a private Patroni cluster (primary + synchronous standby), the app on
# it under transfer load, SIGKILL of the primary; prints RPO and RTO (docs/operations.md).
drill: install ha-packages
	$(PY) -m wangyin.ops.drill

# Debian's HAProxy for the several-nodes tests (tests/chaos/test_nodes.py) and for
# production's load balancer (deploy/haproxy/); installed, never started as a service here.
haproxy:
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || { \
	  echo "installing Debian haproxy for the several-nodes tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    haproxy >/dev/null; }

# Debian's pgBackRest: PostgreSQL backups and point-in-time restore (`wangyin backup`,
# `wangyin restore`, tests/chaos/test_backup_drill.py); installed when missing.
pgbackrest:
	@command -v pgbackrest >/dev/null 2>&1 || { \
	  echo "installing Debian pgbackrest for backups and the backup drill"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    pgbackrest >/dev/null; }

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

# Security checks in `make test`: bandit (no high-severity finding in src).
# pip-audit (no known vulnerability in any pinned dependency) is `make audit`: it needs
# PyPI's per-version JSON API or OSV, and this project's machines reach neither (PyPI's
# mirror answers 404 for /pypi/<name>/<version>/json, OSV is unreachable). With --strict
# an unaudited pin fails, so it is not part of `make test` until a machine can reach them.
security: bandit

bandit: install
	$(BIN)/bandit -q -r src -lll

audit: install
	@$(BIN)/pip-audit --strict --progress-spinner off --no-deps --disable-pip \
	    -r requirements.lock || { \
	  echo "pip-audit FAILED: a known vulnerability, or a pinned package it could not audit" \
	    "(vulnerability service unreachable or without data for that version; see above)."; \
	  exit 1; }

pytest: install chromium ha-packages haproxy pgbackrest axe
	$(BIN)/pytest -n 2

test: lint typecheck security pytest

bench: install
	$(BIN)/wangyin bench

verify: install
	$(BIN)/wangyin verify

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
