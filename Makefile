# Two commands set everything up on a fresh clone: `make test` and `make demo`.
# Every target installs what is missing (venv, pip, npm, the solc wrapper) and is quick when nothing is.
SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := $(CURDIR)/.venv
SOLC_VERSION := 0.8.28

# Everything tool-related stays inside the checkout: no ~/.solcx, no ~/.ape.
export SOLCX_BINARY_PATH := $(VENV)/solcx
export APE_DATA_FOLDER := $(VENV)/ape
export PATH := $(CURDIR)/node_modules/.bin:$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

# EthTester in-process by default; NETWORK=ethereum:local:foundry runs the same suite on anvil.
NETWORK ?= ethereum:local:test
PYTEST_ARGS ?=

PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
SOLC := $(SOLCX_BINARY_PATH)/solc-v$(SOLC_VERSION)
BUILD_STAMP := .build/__local__.json
MOSQUITTO_STAMP := $(VENV)/.mosquitto
# ape, with its .cache/.build exclusions made relative to the project (tools/run_ape.py says why).
APE := $(VENV)/bin/python tools/run_ape.py
# The web client's scripts, copied from npm into the package (offline; not in git).
WEB_VENDOR := offchain/twinledger/web/static/vendor
WEB_VENDOR_FILES := $(WEB_VENDOR)/htmx.min.js $(WEB_VENDOR)/uPlot.iife.min.js $(WEB_VENDOR)/uPlot.min.css
# The browser tests drive Debian's chromium; Playwright never downloads a browser of its own.
CHROMIUM := /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: setup compile lint test test-anvil demo demo-cold-chain bench clean distclean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(SOLC): tools/solc-wrapper.sh $(NODE_STAMP)
	mkdir -p $(SOLCX_BINARY_PATH)
	echo "$(CURDIR)/node_modules/.bin/solcjs" > $(SOLCX_BINARY_PATH)/.solcjs-path
	install -m 0755 tools/solc-wrapper.sh $@

$(WEB_VENDOR)/htmx.min.js: $(NODE_STAMP)
	mkdir -p $(WEB_VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $@

$(WEB_VENDOR)/uPlot.%: $(NODE_STAMP)
	mkdir -p $(WEB_VENDOR)
	cp node_modules/uplot/dist/uPlot.$* $@

$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium

# The MQTT tests run Debian's mosquitto (a broker a plant would run); the machine's user is root.
$(MOSQUITTO_STAMP): | $(VENV)/bin/python
	command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mosquitto || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mosquitto)
	touch $@

setup: $(PY_STAMP) $(NODE_STAMP) $(SOLC) $(WEB_VENDOR_FILES)

# -f: ape's cache missed edits in contracts/specification/; this rule only runs when a source changed.
$(BUILD_STAMP): $(PY_STAMP) $(SOLC) $(wildcard contracts/*.sol contracts/*/*.sol) ape-config.yaml
	$(APE) compile -f
	touch $@

compile: setup $(BUILD_STAMP)

test: compile lint $(CHROMIUM) $(MOSQUITTO_STAMP)
	$(APE) test tests --network $(NETWORK) $(PYTEST_ARGS)

# ruff and mypy (settings in pyproject.toml), installed by the test extras.
lint: $(PY_STAMP)
	ruff check offchain tests bench scripts
	mypy

test-anvil:
	$(MAKE) test NETWORK=ethereum:local:foundry

demo: compile
	$(APE) run demo

# The patent's cold-chain delivery: agreements settled by proven sensor readings.
demo-cold-chain: compile
	$(VENV)/bin/twinledger demo cold-chain

bench: compile $(MOSQUITTO_STAMP)
	$(VENV)/bin/python -m bench.run

clean:
	rm -rf .build contracts/.cache bench/out

distclean: clean
	rm -rf $(VENV) node_modules
