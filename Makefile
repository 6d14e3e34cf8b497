# Everything a developer or CI needs, from a fresh clone, in one place.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

RUNTIME_LOCK := deploy/requirements.lock

.PHONY: install run test lint typecheck unit chromium java bench bench-api bench-scale bench-concurrent bench-export eval wrk stress clean deploy deploy-ci bundle lock sam-venv rehearse

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
# Built into .aws-sam/bundle (the template's Globals CodeUri), and only when something it is made of changed
# since the last build: pue's packages, the lock, the builder, the template (its Runtime and Architectures).
BUNDLE := .aws-sam/bundle
BUNDLE_STAMP := .aws-sam/bundle.stamp
BUNDLE_INPUTS := $(shell find consumers destinations schemas -type f ! -path '*/__pycache__/*' ! -name '*.pyc') \
	$(RUNTIME_LOCK) deploy/bundle.py deploy/template.yaml
bundle: $(BUNDLE_STAMP)

$(BUNDLE_STAMP): $(STAMP) $(BUNDLE_INPUTS)
	$(BIN)/python deploy/bundle.py build --out $(BUNDLE) $(if $(PYTHON_RUNTIME),--python $(PYTHON_RUNTIME))
	@touch $@

# SAM CLI, for the offline packaging check (tests/support/sam_package.py) and `make deploy`'s `sam`, in a venv
# of its own: aws-sam-cli pins boto3, cfn-lint and aws-sam-translator to versions the project's venv does not
# use. Pinned in tests/support/requirements-sam.txt; installed again only when that file changes.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-stamp
SAM_REQUIREMENTS := tests/support/requirements-sam.txt
sam-venv: $(SAM_STAMP)

$(SAM_STAMP): $(SAM_REQUIREMENTS)
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r $(SAM_REQUIREMENTS)
	@touch $@

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
unit: install chromium java sam-venv
	$(BIN)/pytest -n auto --dist loadgroup -m "not stress"

# chromium and java first: a machine that cannot get them learns so at once, not after the lint and type checks.
test: chromium java lint typecheck unit rehearse

# The deployed stack rehearsed offline (deploy/README.md, "The rehearsal"): SAM CLI packages a bundle built
# for this machine's CPU, and each function runs from the packaged zip, on emulators, with its template
# environment and role.
REHEARSAL_BUNDLE := .aws-sam/rehearsal/.aws-sam/bundle
rehearse: install sam-venv $(REHEARSAL_BUNDLE).stamp
	$(BIN)/python -m tests.rehearsal

$(REHEARSAL_BUNDLE).stamp: $(STAMP) $(BUNDLE_INPUTS)
	$(BIN)/python deploy/bundle.py build --arch host --out $(REHEARSAL_BUNDLE) $(if $(PYTHON_RUNTIME),--python $(PYTHON_RUNTIME))
	@touch $@

# The browser test's chromium: installed with apt when missing and apt is usable (root, or sudo without a
# password), as for wrk below; otherwise stops with the one command to run (tests/support/ensure_chromium.sh).
chromium:
	@sh tests/support/ensure_chromium.sh

# The Spark export tests' Java runtime (pyspark 3.5 in local mode): Debian's openjdk-17-jre-headless, the
# same way (tests/support/ensure_java.sh).
java:
	@sh tests/support/ensure_java.sh

# AGAINST=<git ref> (e.g. make bench-scale AGAINST=v0.1.0): each benchmark runs on that ref too, built in a
# temporary worktree with its own venv (tests/benchmarks/ref_tree.py), back to back with the working tree,
# and every figure is printed for both with their ratio (tests/benchmarks/against.py). $(call BENCH,FILE)
# is the python that runs a benchmark writing bench-results/FILE: plain, or through against.py.
AGAINST ?=
ifneq ($(AGAINST),)
# Each ref's tree is built once and kept for every benchmark of the run (and later runs): make clean drops it.
export PUE_REF_TREES ?= $(CURDIR)/.venv/ref-trees
endif
BENCH = $(if $(AGAINST),$(BIN)/python -m tests.benchmarks.against $(AGAINST) --result $(1) --,$(BIN)/python)

# The stream figures (about 4 minutes) and the bundle's cold start (figure 7), then the HTTP API load figure,
# which needs wrk.
bench: install
	$(call BENCH,results.json) -m tests.benchmarks
	@$(MAKE) --no-print-directory bench-api
	@$(MAKE) --no-print-directory bench-scale

# Issue 15: `pue replay` of generated 100k and 1M-interaction Segment archives (rate, CPU, peak RSS, bytes
# per interaction) and GET /recommendations latency on each store, cache off. SCALE_SIZES to change sizes.
# Issue 24: and the "visitors" shape (most of 60,000-200,000 users seen once or twice), VISITOR_SIZES.
SCALE_SIZES ?= 100000,1000000
VISITOR_SIZES ?= 300000,1000000
bench-scale: install
	$(call BENCH,scale.json) -m tests.benchmarks.scale --sizes $(SCALE_SIZES)
	$(call BENCH,scale-visitors.json) -m tests.benchmarks.scale --shape visitors --sizes $(VISITOR_SIZES)

# Issue 25: pue export on one process against --engine spark in local[1] and local[2] (rows/s, CPU, peak
# memory per executor) on a generated archive; EXPORT_SIZE messages (default 1,000,000) in EXPORT_FILES files.
EXPORT_SIZE ?= 1000000
EXPORT_FILES ?= 16
bench-export: install
	$(BIN)/python -m tests.benchmarks.export_engines --messages $(EXPORT_SIZE) --files $(EXPORT_FILES)

# Issue 24: pue serve taking POST /events while pue replay backfills the same state dir (failed POSTs, p99,
# the replay's rate against the same replay alone). CONCURRENT_SIZE records, CONCURRENT_RATE POSTs a second.
CONCURRENT_SIZE ?= 1000000
CONCURRENT_RATE ?= 20
bench-concurrent: install
	$(call BENCH,concurrent.json) -m tests.benchmarks.concurrent --size $(CONCURRENT_SIZE) --rate $(CONCURRENT_RATE)

# Issues 15, 22: the local recommender and the previous release (v0.1.0) against popularity, recent
# popularity, item-kNN, EASE, iALS and SKNN, leave-last-out HR@10 / NDCG@10 with standard errors, on every
# set in ../shared/data (skipped when absent) and a synthetic one, users and anonymous visitors; 2,000
# evaluated users per split (EVAL_ARGS="--users 0" for all). About an hour on the 2 shared cores.
EVAL_ARGS ?=
eval: install
	$(call BENCH,eval.json) -m tests.benchmarks.evaluate $(EVAL_ARGS)

# wrk from Debian's packages when it is missing and apt is usable (root, or sudo without a password);
# otherwise the figure is still measured, with the slower Python load loop, and says so.
bench-api: install
	@command -v wrk >/dev/null 2>&1 || $(MAKE) --no-print-directory wrk
	@if command -v wrk >/dev/null 2>&1; then $(call BENCH,api-load.json) -m tests.benchmarks --api; \
	else echo "make bench-api: wrk is not installed (apt-get install wrk); using the Python load loop" >&2; \
	$(call BENCH,api-load.json) -m tests.benchmarks --api --python-load; fi

wrk:
	@if [ "$$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) || true; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo apt-get install -y -qq wrk >/dev/null || true; fi

# Full reliability runs (docs/reliability.md): prints the figures table at the end.
stress: install
	$(BIN)/pytest -m stress tests/functional

# AWS (deploy/README.md). `make deploy`: the bundle (rebuilt only when out of date), then `sam deploy --guided`,
# which zips .aws-sam/bundle as it is (the template's Globals CodeUri), asks for the parameters, can save them
# in deploy/samconfig.toml, and deploys. No `sam build`: the bundle is the build.
# `make deploy-ci`: no questions and no rebuild: deploys the .aws-sam/bundle already there (the one CI built),
# with the parameters saved in deploy/samconfig.toml (SAM_CONFIG_ENV, default "default") and PARAMETERS, e.g.
#   make deploy-ci PARAMETERS="TrackingId=... CampaignArn=arn:aws:personalize:..."
SAM ?= $(CURDIR)/$(SAM_VENV)/bin/sam
SAM_CONFIG_ENV ?= default
SAM_DEPLOY := --template-file deploy/template.yaml --config-file $(CURDIR)/deploy/samconfig.toml \
	--config-env $(SAM_CONFIG_ENV)
deploy: bundle sam-venv
	$(SAM) deploy --guided $(SAM_DEPLOY)

deploy-ci: sam-venv
	@test -f $(BUNDLE)/consumers/kinesis.py || { echo "make deploy-ci: no bundle at $(BUNDLE): run make bundle (CI's build step) first" >&2; exit 1; }
	$(SAM) deploy $(SAM_DEPLOY) --no-confirm-changeset --no-fail-on-empty-changeset \
		$(if $(PARAMETERS),--parameter-overrides $(PARAMETERS))

clean:
	rm -rf $(VENV) $(SAM_VENV) .pue .mypy_cache .ruff_cache .hypothesis bench-results test-artifacts .aws-sam
