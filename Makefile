# The front door: `make serve` and `make test` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CPSEARCH := $(VENV)/bin/cpsearch
STAMP := $(VENV)/.installed
GOVUK := search_app/static/govuk/govuk-frontend.min.css
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test test-browser index lint fmt install clean lighthouse debian-packages

install: $(STAMP) $(GOVUK)

$(STAMP): pyproject.toml requirements.txt requirements-dev.txt requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# GOV.UK Frontend from npm (pinned in package-lock.json), copied into the app's static files.
$(GOVUK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p search_app/static/govuk
	cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js search_app/static/govuk/
	# Without its @font-face rules: the GDS Transport typeface is for GOV.UK only (style.css sets Arial), and a
	# browser that starts to render before style.css would fetch the fonts from /assets/fonts and log 404s.
	sed -E 's/@font-face\{[^}]*\}//g' node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.css > search_app/static/govuk/govuk-frontend.min.css
	cp node_modules/chart.js/dist/chart.umd.min.js search_app/static/govuk/
	touch $(GOVUK)

index: install
	$(CPSEARCH) index --corpus corpus --index var/index

# Words first: the server answers as soon as the words are indexed; it adds the meaning vectors in the
# background (resuming where a stopped run left off) and switches them in when all are ready.
serve: install
	$(CPSEARCH) index --corpus corpus --index var/index --no-embeddings
	$(CPSEARCH) serve --index var/index --corpus corpus --host $(HOST) --port $(PORT)

# Debian's packages the tests need, in one apt-get run (one update): Chromium for the browser tests
# (Playwright drives it; it never downloads a browser) and xapian-tools for the Xapian shard servers.
DEBIAN_NEEDS := /usr/bin/chromium:chromium /usr/bin/xapian-tcpsrv:xapian-tools
debian-packages:
	@missing=""; for need in $(DEBIAN_NEEDS); do [ -x "$${need%%:*}" ] || missing="$$missing $${need#*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "The tests need Debian's$$missing: run 'sudo apt-get install$$missing' and 'make test' again."; exit 1; \
		fi; \
	fi

test: install debian-packages
	$(PY) -m pytest

test-browser: install debian-packages
	$(PY) -m pytest -m browser

# Lighthouse 12.2.3 (13 needs Node 22) with Debian's Chromium against the main pages of the built index;
# fails unless best practices and SEO score 100. Kept out of `make install`: 146 npm packages, 111 MB.
lighthouse: install debian-packages
	test -x .lighthouse/node_modules/.bin/lighthouse || npm install --prefix .lighthouse --no-audit --no-fund --loglevel=error lighthouse@12.2.3
	test -f var/index/CURRENT || $(CPSEARCH) index --corpus corpus --index var/index --no-embeddings
	$(PY) scripts/lighthouse.py --index var/index --corpus corpus --lighthouse .lighthouse/node_modules/.bin/lighthouse

lint: install
	$(VENV)/bin/ruff check indexer search_app harvester tests scripts
	$(VENV)/bin/ruff format --check indexer search_app harvester tests scripts
	$(VENV)/bin/mypy

fmt: install
	$(VENV)/bin/ruff format indexer search_app harvester tests scripts
	$(VENV)/bin/ruff check --fix indexer search_app harvester tests scripts

clean:
	rm -rf $(VENV) var node_modules search_app/static/govuk .lighthouse
