# Everything a developer or CI needs, from a fresh clone, in one place.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck unit bench bench-api wrk stress clean deploy

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
bench: install wrk
	$(BIN)/python -m tests.benchmarks
	$(BIN)/python -m tests.benchmarks --api

bench-api: install wrk
	$(BIN)/python -m tests.benchmarks --api

wrk:
	@command -v wrk >/dev/null 2>&1 || { echo "make bench: the API load benchmark needs wrk: sudo apt-get install -y wrk (Debian/Ubuntu) or brew install wrk (macOS)" >&2; exit 1; }

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
	rm -rf $(VENV) .pue .mypy_cache .ruff_cache .hypothesis
