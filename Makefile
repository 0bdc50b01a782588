# README's two commands: `make run` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
# uv from the PATH, or bootstrapped from PyPI into .tools/ on a machine that lacks it.
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
MANAGE := $(UV) run --frozen python manage.py
PORT ?= 8000

.PHONY: run test install lint format vendor migrate seed ci bench-seed clean

run: install migrate ## Set up, load demo data when empty, start web + worker + beat
	$(MANAGE) wallet_dev_certificates
	$(MANAGE) seed_demo --if-empty
	$(MANAGE) seed_demo_campaigns
	$(MANAGE) seed_demo_loyalty
	$(MANAGE) rebuild_kpis
	$(MANAGE) demo_users --url http://127.0.0.1:$(PORT)/
	PORT=$(PORT) $(UV) run --frozen python scripts/run_dev.py

test: install lint ## Set up, then lint, checks and the whole test suite
	$(MANAGE) makemigrations --check --dry-run
	$(MANAGE) check
	$(UV) run --frozen pytest -n 2 --dist loadgroup

install: .tools/bin/uv .venv/.synced locale/.compiled

.tools/bin/uv:
	@if ! command -v uv >/dev/null 2>&1; then \
		$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv; \
	else mkdir -p .tools/bin && ln -sf "$$(command -v uv)" .tools/bin/uv; fi

.venv/.synced: pyproject.toml uv.lock
	$(UV) sync --frozen
	@touch $@

locale/.compiled: $(wildcard locale/*/LC_MESSAGES/*.po)
	$(UV) run --frozen python scripts/compile_translations.py
	@touch $@

migrate: install
	$(MANAGE) migrate --noinput

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen python scripts/check_translations.py
	$(UV) run --frozen lint-imports

format: install
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

vendor: install ## Refresh the vendored CSS framework and icons (npm) and Plotly (its Python package)
	UV=$(UV) bash scripts/vendor_static.sh

bench-seed: install
	$(UV) run --frozen python bench/seed_demo.py

clean:
	rm -rf var .venv .tools locale/.compiled
