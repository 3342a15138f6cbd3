# Every target builds what it needs with uv; nothing installed by hand is assumed.
PYTHON ?= python3
DEFAULT_AIRFLOW := 3.3.2
AIRFLOW_VERSION ?= $(DEFAULT_AIRFLOW)
PYTEST_ARGS ?=

ifeq ($(AIRFLOW_VERSION),$(DEFAULT_AIRFLOW))
VENV := .venv
else
VENV := .venv-$(AIRFLOW_VERSION)
endif

UV_BOOT := .uv
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/$(UV_BOOT)/bin/uv)
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)

.PHONY: test lint venv clean

$(UV):
	$(PYTHON) -m venv $(UV_BOOT)
	$(UV_BOOT)/bin/pip install --quiet --disable-pip-version-check uv

$(STAMP): pyproject.toml | $(UV)
	test -x $(VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install --quiet -e ".[test,lint]" "apache-airflow==$(AIRFLOW_VERSION)"
	touch $@

venv: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check telzino_provider tests example_dags benchmarks
	$(VENV)/bin/ruff format --check telzino_provider tests example_dags benchmarks
	$(VENV)/bin/mypy telzino_provider

clean:
	rm -rf .venv .venv-* $(UV_BOOT) .airflow-home .demo
