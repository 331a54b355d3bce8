# Fairlabel — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
INSTANCE := instance
export FLASK_APP := wsgi

.PHONY: demo test install serve clean contracts bench-scheduler bench-consensus bench-ledger bench-chain bench-payouts

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Front-end and chain tooling (Chart.js, solc-js, OpenZeppelin, anvil), exactly as package-lock.json
# pins them: `npm ci` never rewrites the lock, so a fresh checkout stays clean. The lock lists
# anvil's binary package for every platform (npm installs only this machine's).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static/vendor/chart.umd.js: node_modules/.installed
	mkdir -p static/vendor
	cp node_modules/chart.js/dist/chart.umd.js $@

# Contracts: compiled by solc-js into a git-ignored build folder (ABI and bytecode are outputs).
CONTRACT_SOURCES := $(wildcard rewards/contracts/*.sol) rewards/contracts/compile.mjs rewards/contracts/settings.json
rewards/contracts/build/.stamp: $(CONTRACT_SOURCES) node_modules/.installed
	node rewards/contracts/compile.mjs
	touch $@

contracts: rewards/contracts/build/.stamp

# keccak for verifying contribution proofs in the browser (@noble/hashes: audited, ES modules).
static/vendor/noble-hashes/sha3.js: node_modules/.installed
	mkdir -p static/vendor/noble-hashes
	cp node_modules/@noble/hashes/sha3.js node_modules/@noble/hashes/_u64.js node_modules/@noble/hashes/utils.js static/vendor/noble-hashes/

# Drawing on images (Annotorious: boxes and polygons) and audio waveforms with regions
# (wavesurfer.js): their ES-module builds are self-contained (no bare imports), so the page
# imports them straight from static/vendor; wavesurfer's BSD-3 licence travels with it, and
# Annotorious' (its package ships no LICENSE file) is named in a NOTICE made from its package.json.
# Annotorious' ES build keeps one `process.env.NODE_ENV` test (from nanostores) that a bundler
# would replace; sed does that one replacement, and the copy fails if anything of Node's is left.
ANNOTORIOUS := node_modules/@annotorious/annotorious
static/vendor/annotorious/annotorious.es.js: node_modules/.installed
	mkdir -p static/vendor/annotorious
	sed 's/process\.env\.NODE_ENV/"production"/g' $(ANNOTORIOUS)/dist/annotorious.es.js > $@.tmp
	! grep -n 'process\.\|require(' $@.tmp
	mv $@.tmp $@
	cp $(ANNOTORIOUS)/dist/annotorious.css static/vendor/annotorious/
	node -p 'const p = require("./$(ANNOTORIOUS)/package.json"); `$${p.name} $${p.version}, licence $${p.license}, by $${p.author?.name ?? p.author}: $${p.homepage ?? p.repository?.url ?? ""}`' > static/vendor/annotorious/NOTICE

static/vendor/wavesurfer/wavesurfer.esm.js: node_modules/.installed
	mkdir -p static/vendor/wavesurfer/plugins
	cp node_modules/wavesurfer.js/dist/wavesurfer.esm.js node_modules/wavesurfer.js/LICENSE static/vendor/wavesurfer/
	cp node_modules/wavesurfer.js/dist/plugins/regions.esm.js static/vendor/wavesurfer/plugins/

MEDIA_VENDOR := static/vendor/annotorious/annotorious.es.js static/vendor/wavesurfer/wavesurfer.esm.js

install: $(VENV)/.installed node_modules/.installed static/vendor/chart.umd.js static/vendor/noble-hashes/sha3.js $(MEDIA_VENDOR) rewards/contracts/build/.stamp

# A development instance: SQLite under instance/, a random secret generated once, never committed.
$(INSTANCE)/config.py:
	mkdir -p $(INSTANCE)
	$(BIN)/python -c "import secrets; print('ENV = \"development\"'); print(f'SECRET_KEY = \"{secrets.token_hex(32)}\"')" > $@
	@# The demo pays out on the in-process chain: a short hold and a worker thread in the server.
	printf 'RUN_WORKER_IN_PROCESS = True\nPAYOUT_INTERVAL_SECONDS = 20\nPAYOUT_HOLD_SECONDS = 60\nMIN_PAYOUT = 1\n' >> $@

## make demo: install, migrate the SQLite database, load the demo (once), serve on http://127.0.0.1:5000
demo: install $(INSTANCE)/config.py
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load
	$(BIN)/flask run --host 127.0.0.1 --port 5000

## make test: install what the tests need and run the whole suite
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench-scheduler: install
	$(BIN)/python bench/scheduler_load.py

bench-consensus: install
	$(BIN)/python bench/consensus_accuracy.py

bench-ledger: install
	$(BIN)/python bench/ledger_throughput.py

bench-chain: install
	$(BIN)/python bench/chain_gas.py

bench-payouts: install
	$(BIN)/python bench/payout_epoch.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
