# connector-health — `make demo` and `make test` work from a fresh clone (they create .venv if missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-unit test-integration bench clean layer lambda-runtime synth

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: install
	$(BIN)/connector-health demo

# node_modules (the pinned aws-cdk CLI) lets the CLI synth test run; without npm that test is skipped.
# The real layer and the runtime's boto3 let the Lambda-faithful tier run the functions as AWS does (needs PyPI
# once, and Python 3.12). loadgroup: that tier's tests stay in one worker (one sandbox, one set of processes).
test: install node_modules layer lambda-runtime
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

test-integration: install
	$(BIN)/python -m pytest -q tests/integration

# The functions' dependency layer: requirements.txt minus what the runtime ships, manylinux wheels for python3.12,
# compiled by python3.12 (needs PyPI and Python 3.12).
layer: build/layer/.requirements.sha256

build/layer/.requirements.sha256: requirements.txt layer/build.py lambda_runtime/interpreter.py | $(STAMP)
	$(BIN)/python layer/build.py layer

# The boto3 standing for the python3.12 runtime's own, for the Lambda-faithful tests (never deployed).
lambda-runtime: build/lambda-runtime/.requirements.sha256

build/lambda-runtime/.requirements.sha256: layer/lambda-runtime.txt layer/build.py lambda_runtime/interpreter.py | $(STAMP)
	$(BIN)/python layer/build.py runtime

# The aws-cdk CLI pinned in package-lock.json (`npx cdk ...` works offline once installed).
node_modules: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund; \
	else echo "npm not found: the aws-cdk CLI is not installed (its synth test will be skipped)"; fi

synth: install layer node_modules
	npx --no-install cdk synth --quiet

bench: install layer lambda-runtime
	$(BIN)/python bench/scan_bench.py
	$(BIN)/python bench/lambda_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build cdk.out node_modules
