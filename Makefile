# Everything a developer or CI needs, from a fresh clone, in one place.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck unit bench bench-api bench-scale eval wrk stress clean deploy

install: $(STAMP)

# Re-install only when the project's dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(BIN)/pue run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check consumers destinations schemas
	$(BIN)/cfn-lint deploy/template.yaml

typecheck: install
	$(BIN)/mypy

# The full reliability runs (@pytest.mark.stress) are left to `make stress`; smaller runs stay in here.
unit: install
	$(BIN)/pytest -n auto -m "not stress"

test: lint typecheck unit

# The stream figures (about 4 minutes), then the HTTP API load figure, which needs wrk.
bench: install
	$(BIN)/python -m tests.benchmarks
	@$(MAKE) --no-print-directory bench-api
	@$(MAKE) --no-print-directory bench-scale

# Issue 15: `pue replay` of generated 100k and 1M-interaction Segment archives (rate, CPU, peak RSS, bytes
# per interaction) and GET /recommendations latency on each store, cache off. SCALE_SIZES to change sizes.
SCALE_SIZES ?= 100000,1000000
bench-scale: install
	$(BIN)/python -m tests.benchmarks.scale --sizes $(SCALE_SIZES)

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

# AWS: stage the code (+ requirements.txt from pyproject.toml), `sam build`, then `sam deploy --guided`.
# Needs the AWS SAM CLI and python3.12 on PATH, or SAM_BUILD_FLAGS=--use-container. See deploy/README.md.
deploy:
	@command -v sam >/dev/null 2>&1 || { echo "make deploy: the AWS SAM CLI ('sam') is not installed; see https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html" >&2; exit 1; }
	rm -rf .aws-sam/pue-src && mkdir -p .aws-sam/pue-src
	cp -R consumers destinations schemas .aws-sam/pue-src/
	find .aws-sam/pue-src -name __pycache__ -prune -exec rm -rf {} +
	$(PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > .aws-sam/pue-src/requirements.txt
	sam build --template-file deploy/template.yaml --build-dir .aws-sam/build $(SAM_BUILD_FLAGS)
	sam deploy --guided --template-file .aws-sam/build/template.yaml --config-file $(CURDIR)/deploy/samconfig.toml

clean:
	rm -rf $(VENV) .pue .mypy_cache .ruff_cache .hypothesis bench-results test-artifacts .aws-sam
