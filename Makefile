# govflow developer entry points. On a fresh machine they need only Python 3.10+ and make:
# the first run bootstraps uv and nox into .tools/ and builds every environment with uv.
#
#   make demo    the governed-pipeline demo (scripts/demo.sh) in the dev venv (.venv), then the
#                Airflow, Prefect and Dagster demos (nox -s demo_airflow demo_prefect demo_dagster)
#   make test    lint + mypy + core tests + the Airflow, Prefect and Dagster sessions
#   make lint    ruff check + mypy on src/core
#   make bench   benchmarks/run.py (BENCH_ARGS=--quick for a short run)
#   make clean   caches, builds, test environments; `make distclean` also removes .venv and .tools

SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# uv must use the interpreters installed here, never download a Python build.
export UV_PYTHON_DOWNLOADS := never

TOOLS := .tools
VENV := .venv
UV := $(TOOLS)/bin/uv
NOX := $(TOOLS)/bin/nox
DEV_EXTRAS := dev,testing,postgres,latchgate
NOX_ARGS ?=
BENCH_ARGS ?=

# The newest python3.1x (>= 3.10) that really runs (pyenv shims can exist yet fail), else python3.
# Override with `make test PYTHON=/path/to/python3.12`.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for candidate in python3.14 python3.13 python3.12 python3.11 python3.10 python3; do \
	  if $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then \
	    echo $$candidate; exit 0; fi; done; echo python3)
endif

.PHONY: help demo test lint bench clean distclean tools dev session-%

help:
	@echo "make demo      run the governed-pipeline demo (scripts/demo.sh), then in Airflow, Prefect and Dagster"
	@echo "make test      lint, mypy, core tests, then the airflow, prefect and dagster sessions"
	@echo "make lint      ruff check + mypy on src/core"
	@echo "make bench     run the benchmarks (BENCH_ARGS=--quick for a short run)"
	@echo "make clean     remove caches, builds and test environments (distclean: also .venv, .tools)"
	@echo "make session-X run one nox session, e.g. make session-core NOX_ARGS='-- -k canonical'"
	@echo "bootstrap interpreter: $(PYTHON)"

# --- bootstrap ----------------------------------------------------------------------------

$(TOOLS)/.bootstrapped:
	@if ! command -v "$(PYTHON)" >/dev/null 2>&1; then \
	  echo "error: no Python interpreter found ($(PYTHON)); install Python 3.10 or newer." >&2; exit 1; fi
	@if ! "$(PYTHON)" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then \
	  echo "error: govflow needs Python 3.10 or newer, but $(PYTHON) is $$("$(PYTHON)" -V 2>&1)." >&2; \
	  echo "       Install a newer Python, or point make at one: make $(MAKECMDGOALS) PYTHON=/path/to/python3.11" >&2; \
	  exit 1; fi
	@echo "==> bootstrapping uv and nox into $(TOOLS)/ with $$("$(PYTHON)" -V 2>&1) ($(PYTHON))"
	@[ -x $(TOOLS)/bin/python ] || "$(PYTHON)" -m venv $(TOOLS) || { \
	  echo "error: '$(PYTHON) -m venv' failed. On Debian/Ubuntu install the venv module:" >&2; \
	  echo "       apt-get install python3-venv   (or python3.X-venv for your version)" >&2; \
	  rm -rf $(TOOLS); exit 1; }
	@$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check 'uv>=0.5,<1' 'nox>=2025.2.9'
	@touch $@

tools: $(TOOLS)/.bootstrapped

# The dev venv (demo, benchmarks, editors): editable, rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml $(TOOLS)/.bootstrapped
	@echo "==> preparing the dev environment $(VENV)/"
	@[ -x $(VENV)/bin/python ] || $(UV) venv --quiet --python "$$(command -v $(PYTHON))" $(VENV)
	@$(UV) pip install --quiet --python $(VENV)/bin/python -e '.[$(DEV_EXTRAS)]'
	@touch $@

dev: $(VENV)/.installed

# --- targets ------------------------------------------------------------------------------

demo: $(VENV)/.installed
	@if [ ! -f scripts/demo.sh ]; then echo "error: scripts/demo.sh does not exist yet" >&2; exit 1; fi
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" bash scripts/demo.sh
	@echo; echo "==> the same story in Airflow: nox -s demo_airflow (scripts/demo_airflow.sh)"
	@$(NOX) --sessions demo_airflow $(NOX_ARGS)
	@echo; echo "==> and in Prefect: nox -s demo_prefect (scripts/demo_prefect.sh)"
	@$(NOX) --sessions demo_prefect $(NOX_ARGS)
	@echo; echo "==> and in Dagster: nox -s demo_dagster (scripts/demo_dagster.sh)"
	@$(NOX) --sessions demo_dagster $(NOX_ARGS)

test: $(TOOLS)/.bootstrapped
	@$(NOX) --sessions lint mypy core airflow prefect dagster $(NOX_ARGS)

lint: $(TOOLS)/.bootstrapped
	@$(NOX) --sessions lint mypy $(NOX_ARGS)

session-%: $(TOOLS)/.bootstrapped
	@$(NOX) --sessions $* $(NOX_ARGS)

bench: $(VENV)/.installed
	@$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf .nox build dist .demo .demo-airflow .demo-prefect .demo-dagster benchmarks/results .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -not -path './$(TOOLS)/*' -prune -exec rm -rf {} +
	find . -maxdepth 2 -name '*.egg-info' -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(TOOLS)
