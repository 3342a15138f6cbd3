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

# The versions `make test-matrix` runs the suite on (the README's Compatibility section has the results).
MATRIX_VERSIONS ?= 2.10.5 2.11.2 3.0.6 3.1.8 3.2.2 $(DEFAULT_AIRFLOW)

# Extra pins per Airflow series, installed with it: upper bounds its own metadata leaves open and that
# later releases of those packages broke (dag.test() fails). Why: docs/compatibility.md, "Pins, and why"
# (the README's Install section lists them for users installing without Airflow's constraints file).
AIRFLOW_SERIES := $(word 1,$(subst ., ,$(AIRFLOW_VERSION))).$(word 2,$(subst ., ,$(AIRFLOW_VERSION)))
# ObjectStoragePath on Airflow 2.x breaks with universal-pathlib 0.3 ("detected protocol file which is
# incompatible"); Airflow's own 2.10/2.11 constraints files pin 0.2.6.
PINS_2.10 := universal-pathlib<0.3
PINS_2.11 := universal-pathlib<0.3
PINS_3.0 := fastapi<0.118 universal-pathlib<0.3
PINS_3.2 := fastapi<0.137 svcs<26
AIRFLOW_PINS ?= $(PINS_$(AIRFLOW_SERIES))

UV_BOOT := .uv
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/$(UV_BOOT)/bin/uv)
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)

.PHONY: test test-matrix lint venv clean

$(UV):
	$(PYTHON) -m venv $(UV_BOOT)
	$(UV_BOOT)/bin/pip install --quiet --disable-pip-version-check uv

$(STAMP): pyproject.toml Makefile | $(UV)
	test -x $(VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install --quiet -e ".[test,lint]" "apache-airflow==$(AIRFLOW_VERSION)" \
		$(foreach pin,$(AIRFLOW_PINS),"$(pin)")
	@# Bytecode once, here: with PYTHONDONTWRITEBYTECODE set, every Airflow process (the CLI in tests,
	@# the demo) would otherwise recompile some 2,000 modules. A few packages ship files that do not
	@# compile on purpose, hence the `|| true`.
	$(VENV)/bin/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $@

venv: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The transfer through a real S3 API (tests/s3): a local moto server written through s3:// with the
# Amazon provider's filesystem. Its own venv: the Amazon provider, s3fs and moto add some 57 packages
# and 210 MB to the test venv, which the provider itself never needs.
S3_VENV := .venv-s3
S3_STAMP := $(S3_VENV)/.installed-$(DEFAULT_AIRFLOW)
S3_PACKAGES := "apache-airflow-providers-amazon[s3fs]" "moto[server]"

$(S3_STAMP): pyproject.toml Makefile | $(UV)
	test -x $(S3_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(S3_VENV)
	VIRTUAL_ENV=$(CURDIR)/$(S3_VENV) $(UV) pip install --quiet -e ".[test]" "apache-airflow==$(DEFAULT_AIRFLOW)" \
		$(S3_PACKAGES)
	touch $@

.PHONY: test-s3
test-s3: $(S3_STAMP)
	$(S3_VENV)/bin/python -m pytest tests/s3 $(PYTEST_ARGS)

# The example DAGs end to end against a local Telzino emulator (example_dags/demo.py); files in .demo/.
.PHONY: demo
demo: $(STAMP)
	$(VENV)/bin/python example_dags/demo.py

# One line per version with its pass/fail counts; exits non-zero if any version fails.
test-matrix: | $(UV)
	$(PYTHON) .ci/matrix.py $(MATRIX_VERSIONS)

# Benchmarks against the emulator, in a venv of their own: the HTTP provider (the peer) is installed
# there only, never as a dependency. One table on stdout, figures in benchmarks/results.json;
# the README's Performance section explains them. BENCH_ARGS="--only 1,5" runs a subset.
BENCH_VENV := benchmarks/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed-$(DEFAULT_AIRFLOW)
BENCH_ARGS ?=

.PHONY: bench
$(BENCH_STAMP): pyproject.toml benchmarks/requirements.txt | $(UV)
	test -x $(BENCH_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(BENCH_VENV)
	VIRTUAL_ENV=$(CURDIR)/$(BENCH_VENV) $(UV) pip install --quiet -e . "apache-airflow==$(DEFAULT_AIRFLOW)" \
		-r benchmarks/requirements.txt
	touch $@

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m benchmarks $(BENCH_ARGS)

# The provider inside a real deployment (PostgreSQL, scheduler, triggerer, DAG processor, API server or
# webserver, each its own process), torn down at the end; logs in .e2e/<version>/logs/. The e2e venv is
# the test venv plus e2e/requirements.txt. E2E_SCENARIOS=1,3 runs a subset. docs/running-in-production.md.
E2E_SCENARIOS ?= 1,2,3,4,5,6
E2E_STAMP := $(VENV)/.installed-e2e-$(AIRFLOW_VERSION)

.PHONY: e2e
$(E2E_STAMP): $(STAMP) e2e/requirements.txt
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install --quiet -r e2e/requirements.txt
	touch $@

e2e: $(E2E_STAMP)
	$(VENV)/bin/python -m e2e --scenarios $(E2E_SCENARIOS)

lint: $(STAMP)
	$(VENV)/bin/ruff check telzino_provider airflow_provider_telzino tests example_dags benchmarks e2e
	@# Ruff's Airflow rules (preview only) on the package and the examples users copy.
	$(VENV)/bin/ruff check --preview --select AIR telzino_provider airflow_provider_telzino example_dags
	$(VENV)/bin/ruff format --check telzino_provider airflow_provider_telzino tests example_dags benchmarks e2e
	$(VENV)/bin/mypy telzino_provider

clean:
	rm -rf .venv .venv-* $(UV_BOOT) .airflow-home .demo .matrix .e2e
