# The two set-up commands of the README are `make run` and `make test`; the rest are helpers.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
RUN_STAMP := $(VENV)/.installed-run-stamp
# Hashed lock files compiled from pyproject.toml by `make lock` (uv): every package pinned, every file hashed.
LOCK_RUNTIME := requirements/runtime.txt
LOCK_DEV := requirements/dev.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test interop install lock lint lint-imports typecheck migrations-check bench bench-smoke totp ci clean screenshots node

# `make run` needs only the runtime dependencies (quicker first start); tests and linters add the dev ones.
# Both install from the lock with --require-hashes (a file whose hash differs is refused), then the project
# itself without dependencies; `pip check` fails if pyproject.toml asks for something the lock lacks.
$(RUN_STAMP): $(LOCK_RUNTIME) pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "Impossible de créer $(VENV) : installez python3-venv (Python >= 3.11)."; exit 1; }
	@echo "Installation des dépendances dans $(VENV) (une minute environ la première fois)…"
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK_RUNTIME)
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) $(LOCK_DEV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK_DEV)
	$(PY) -m pip check
	@touch $(STAMP)

install: $(STAMP)

## make lock: recompile both lock files after a change to pyproject.toml's dependencies (commit them).
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" --quiet
lock:
	@test -x $(VENV)/bin/uv || { test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PY) -m pip install --quiet uv; }
	$(UV_COMPILE) $(UV_ARGS) -o $(LOCK_RUNTIME)
	$(UV_COMPILE) $(UV_ARGS) --extra dev -c $(LOCK_RUNTIME) -o $(LOCK_DEV)

## make run: install, migrate, seed the demo, start web + worker + beat + SMTP gateway and submission; Ctrl-C stops all.
run: $(RUN_STAMP)
	$(PY) scripts/devrun.py

# Node packages of the browser tests (axe-core), of the icon sprite (lucide-static) and of
# bench_lighthouse.py (lighthouse): package-lock.json.
node_modules/.package-lock.json: package-lock.json
	@command -v npm >/dev/null || { echo "npm est absent : installez Node.js 20 (apt-get install nodejs npm)."; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error

node: node_modules/.package-lock.json

## make test: the whole suite on PostgreSQL (DATABASE_URL, default local) and Redis (REDIS_URL).
test: $(STAMP) node
	@bash scripts/ensure_services.sh
	@bash scripts/ensure_chromium.sh
	@bash scripts/ensure_postfix.sh
	@bash scripts/ensure_imap_clients.sh
	@# pytest exits 5 when it collected no test: not a failure of the suite, say so and go on.
	@$(PY) -m pytest -n $${PYTEST_WORKERS:-2} --dist loadgroup $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest n'a trouvé aucun test (code 5) ; considéré comme réussi."; exit 0; fi; \
	  exit $$rc

## make interop: the interop tests against a private Debian Postfix (tests/interop/; also part of make test).
interop: $(STAMP)
	@bash scripts/ensure_services.sh
	@bash scripts/ensure_postfix.sh
	$(PY) -m pytest -m interop -rs tests/interop $(PYTEST_ARGS)

## make totp EMAIL=alice.martin@demo.mssante.fr: the current second-factor code of a demo account.
totp: $(RUN_STAMP)
	@test -n "$(EMAIL)" || { echo "Usage : make totp EMAIL=alice.martin@demo.mssante.fr"; exit 2; }
	@MSSANTE_DEV=1 $(PY) manage.py demo_totp "$(EMAIL)"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## make lint-imports: the dependency contracts of docs/design.md (.importlinter; imports inside functions count).
lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	MSSANTE_TESTING=1 $(VENV)/bin/mypy apps mssante_web mssante_lib

migrations-check: $(STAMP)
	MSSANTE_TESTING=1 DATABASE_URL=sqlite:///var/migrations-check.sqlite3 $(PY) manage.py makemigrations --check --dry-run

bench-smoke: $(STAMP) node
	@bash scripts/ensure_services.sh
	$(PY) bench/run_all.py --smoke

## make bench: every benchmark at full size (minutes; figures go to docs/benchmarks.md). Lighthouse
## (bench_lighthouse.py) needs node_modules (npm ci) and Chromium.
bench: $(STAMP) node
	@bash scripts/ensure_services.sh
	$(PY) bench/run_all.py

## make screenshots: desktop and phone screenshots of the main pages into docs/screenshots/ (demo data:
## start `make run` first; SCREENSHOTS_BASE if it is not on http://127.0.0.1:8000).
screenshots: $(STAMP)
	@bash scripts/ensure_chromium.sh
	MSSANTE_DEV=1 $(PY) scripts/screenshots.py --base $${SCREENSHOTS_BASE:-http://127.0.0.1:8000} --out docs/screenshots

ci:
	bash .ci/run

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
