# Quick start: `make run`, then `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
BENCH_SCALE ?= 1000000
export DO_NOT_TRACK := 1
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: venv run test test-spark test-fast ui up down status sandbox bench clean spark-install spark-java spark-up spark-down spark-status

$(BIN)/dagster: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# CSS/JS of the Great Expectations Data Docs, from npm into the venv: the pages then work offline (lib/data_docs.py).
DATA_DOCS_ASSETS := $(VENV)/share/cur-data-docs-vendor/fingerprint

$(DATA_DOCS_ASSETS): dagster_project/lib/data_docs.py | $(BIN)/dagster
	$(BIN)/python -m dagster_project.lib.data_docs vendor

venv: $(BIN)/dagster $(DATA_DOCS_ASSETS)

run: venv
	$(BIN)/python -m sandbox run $(if $(SCALE),--scale $(SCALE))

# Both tiers lint and check formatting first (ruff, config in pyproject.toml): a finding stops before the tests start.
# `make test` installs pyspark and Java for the Spark tests, the parity test among them (marker spark: the marts built
# on a real Spark cluster equal the DuckDB build, docs/scaling.md); `make test-spark` runs the Spark tests alone.
test: venv spark-install spark-java
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

test-spark: venv spark-install spark-java
	$(BIN)/python -m pytest -m spark

# The unit tier for the inner loop (under 2 minutes): no dbt build, no Dagster run, no Superset, no Spark.
test-fast: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -m "not integration and not superset and not spark"

ui: venv
	$(BIN)/python -m sandbox ui --port 3000

# The deployment (docs/data_engineer.md): code server, dagster-daemon and webserver as long-running processes,
# pid files in data/run/, logs in data/logs/; PostgreSQL instance storage when CUR_DAGSTER_PG_URL is set.
up: venv
	$(BIN)/python -m dagster_project.deploy up

down:
	$(BIN)/python -m dagster_project.deploy down

status:
	$(BIN)/python -m dagster_project.deploy status

sandbox: venv
	$(BIN)/python -m sandbox serve

# The benchmark (docs/performance.md): `make bench` runs 1M appeals, `make bench SCALE=N` any other scale;
# `ENGINE=spark` also builds the warehouse on Spark beside DuckDB (docs/scaling.md).
bench: venv $(if $(filter spark,$(ENGINE)),spark-install spark-java)
	$(BIN)/python -m bench.pipeline --scale $(if $(filter command line environment,$(origin SCALE)),$(SCALE),$(BENCH_SCALE)) $(if $(ENGINE),--engine $(ENGINE))

# Apache Spark (docs/scaling.md): the optional extra `.[spark]` (pyspark with Spark's jars, dbt-spark) and Java 17,
# then a standalone master and two workers on 127.0.0.1 (pid files in data/run/, logs in data/logs/).
$(VENV)/.spark-installed: pyproject.toml | $(BIN)/dagster
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@

spark-install: $(VENV)/.spark-installed

spark-java:
	@command -v java >/dev/null || { echo "installing Java 17 (openjdk-17-jre-headless) for Spark"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -q && $$SUDO apt-get install -y -q openjdk-17-jre-headless; }

spark-up: spark-install spark-java
	$(BIN)/python -m dagster_project.spark_cluster up

spark-down:
	$(BIN)/python -m dagster_project.spark_cluster down

spark-status:
	$(BIN)/python -m dagster_project.spark_cluster status

include superset/Makefile.inc

clean:
	rm -rf data
