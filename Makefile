# Two commands: `make demo` (a running product on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint format install install-dev clean-demo bench

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files: reinstall only when the requirements change.
$(VENV)/.runtime: $(VENV)/bin/python requirements.txt
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# Links in the demo's e-mails point at the address the demo serves on. `manage.py demo` builds
# what is missing of the demo organisation, then serves it and prints the URL, the logins and a
# survey link once the server listens.
demo: export PULSE_BASE_URL ?= http://$(HOST):$(PORT)
demo: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput -v 0
	LOG_LEVEL=WARNING $(PY) manage.py demo --serve $(HOST):$(PORT)

# The browser tests drive Debian's chromium: installed first when missing (as root; else they skip).
test: $(VENV)/.dev
	@bash tests/e2e/install-chromium
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-demo:
	rm -rf data/pulse.sqlite3 data/mail data/celerybeat-schedule*
