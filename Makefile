# Everything a developer or CI needs, from a fresh clone, in one place.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

RUNTIME_LOCK := deploy/requirements.lock

.PHONY: install run test lint typecheck unit chromium java bench bench-export bench-api bench-scale eval wrk stress clean deploy bundle lock

install: $(STAMP)

# Re-install only when the project's dependency list or the runtime lock changes. The lock's pins (hashes
# dropped: pip cannot mix hashed constraints with an editable install) constrain the venv, so tests run the
# versions Lambda gets; the locked wheels for the template's runtime (and for this machine, for the bundle
# test) go to .venv/wheelhouse, from which `make bundle` installs offline.
$(STAMP): pyproject.toml $(RUNTIME_LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@sed -e '/--hash=/d' -e 's/ \\$$//' $(RUNTIME_LOCK) > $(VENV)/runtime-constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/runtime-constraints.txt -e '.[dev]'
	$(BIN)/python deploy/bundle.py wheels --arch template --arch host
	@touch $(STAMP)

# ---- the Lambda bundle (deploy/README.md) --------------------------------------------------------------
# Regenerate deploy/requirements.lock (uv pip compile, hashes, for the template's Runtime and Architectures)
# after changing [project].dependencies; then `make install` fetches the new wheels.
lock: install
	$(BIN)/python deploy/bundle.py lock

# The artifact `make deploy` ships, built offline from the wheelhouse, with bytecode compiled by the
# template's runtime (python3.12: found on PATH or under pyenv; else PYTHON_RUNTIME=/path/to/python3.12).
bundle: install
	$(BIN)/python deploy/bundle.py build --out .aws-sam/bundle $(if $(PYTHON_RUNTIME),--python $(PYTHON_RUNTIME))

run: install
	$(BIN)/pue run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check consumers destinations schemas
	$(BIN)/cfn-lint deploy/template.yaml
	$(BIN)/cfn-lint deploy/glue-export.yaml

typecheck: install
	$(BIN)/mypy

# The full reliability runs (@pytest.mark.stress) are left to `make stress`; smaller runs stay in here.
# loadgroup: tests marked xdist_group("spark") share one worker, so one JVM (tests/functional/test_export_spark.py);
# unmarked tests spread as with the default "load".
unit: install chromium java
	$(BIN)/pytest -n auto --dist loadgroup -m "not stress"

# chromium and java first: a machine that cannot get them learns so at once, not after the lint and type checks.
test: chromium java lint typecheck unit

# The browser test's chromium: installed with apt when missing and apt is usable (root, or sudo without a
# password), as for wrk below; otherwise stops with the one command to run (tests/support/ensure_chromium.sh).
chromium:
	@sh tests/support/ensure_chromium.sh

# The Spark export tests' Java runtime (pyspark 3.5 in local mode): Debian's openjdk-17-jre-headless, the
# same way (tests/support/ensure_java.sh).
java:
	@sh tests/support/ensure_java.sh

# The stream figures (about 4 minutes) and the bundle's cold start (figure 7), then the HTTP API load figure,
# which needs wrk.
bench: install
	$(BIN)/python -m tests.benchmarks
	@$(MAKE) --no-print-directory bench-api
	@$(MAKE) --no-print-directory bench-scale

# Issue 15: `pue replay` of generated 100k and 1M-interaction Segment archives (rate, CPU, peak RSS, bytes
# per interaction) and GET /recommendations latency on each store, cache off. SCALE_SIZES to change sizes.
SCALE_SIZES ?= 100000,1000000
bench-scale: install
	$(BIN)/python -m tests.benchmarks.scale --sizes $(SCALE_SIZES)

# Issue 25: pue export on one process against --engine spark in local[1] and local[2] (rows/s, CPU, peak
# memory per executor) on a generated archive; EXPORT_SIZE messages (default 1,000,000) in EXPORT_FILES files.
EXPORT_SIZE ?= 1000000
EXPORT_FILES ?= 16
bench-export: install
	$(BIN)/python -m tests.benchmarks.export_engines --messages $(EXPORT_SIZE) --files $(EXPORT_FILES)

# Issue 15: the local recommender against popularity, recent popularity, item-kNN, EASE and iALS,
# leave-last-out HR@10 / NDCG@10 on MovieTweetings 100k (../shared/data, skipped when absent) and synthetic.
eval: install
	$(BIN)/python -m tests.benchmarks.evaluate

# wrk from Debian's packages when it is missing and apt is usable (root, or sudo without a password);
# otherwise the figure is still measured, with the slower Python load loop, and says so.
bench-api: install
	@command -v wrk >/dev/null 2>&1 || $(MAKE) --no-print-directory wrk
	@if command -v wrk >/dev/null 2>&1; then $(BIN)/python -m tests.benchmarks --api; \
	else echo "make bench-api: wrk is not installed (apt-get install wrk); using the Python load loop" >&2; \
	$(BIN)/python -m tests.benchmarks --api --python-load; fi

wrk:
	@if [ "$$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) || true; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo apt-get install -y -qq wrk >/dev/null || true; fi

# Full reliability runs (docs/reliability.md): prints the figures table at the end.
stress: install
	$(BIN)/pytest -m stress tests/functional

# AWS: `make bundle`, then `sam deploy --guided`, which zips .aws-sam/bundle as it is (the template's
# CodeUri) and deploys. No `sam build`: the bundle is the build. See deploy/README.md.
deploy: bundle
	@command -v sam >/dev/null 2>&1 || { echo "make deploy: the AWS SAM CLI ('sam') is not installed; see https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html" >&2; exit 1; }
	sam deploy --guided --template-file deploy/template.yaml --config-file $(CURDIR)/deploy/samconfig.toml

clean:
	rm -rf $(VENV) .pue .mypy_cache .ruff_cache .hypothesis bench-results test-artifacts .aws-sam
