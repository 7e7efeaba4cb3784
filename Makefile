# Hearth: the two commands are `make run` and `make test`; everything else is theirs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_STAMP := $(VENV)/.system-deps
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
HAS_APT := $(shell command -v apt-get >/dev/null 2>&1 && echo yes)

.PHONY: run test lint typecheck install system-deps browser-deps test-tools clean binary

run: install system-deps
	$(BIN)/mediaserver serve

test: install system-deps browser-deps test-tools lint typecheck
	$(BIN)/pytest

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

install: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	@$(PYTHON) -m venv $(VENV) || { \
	  if [ "$(IS_ROOT)$(HAS_APT)" = yesyes ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv && $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: install your distribution's python3-venv package"; exit 1; fi; }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@for p in plugins/*/; do [ -f "$$p/pyproject.toml" ] && $(BIN)/pip install -q -e "$$p" || true; done
	@touch $@

# ffmpeg: PATH first; as root on Debian, the ffmpeg package; otherwise the
# imageio-ffmpeg wheel (a Python dependency) is the fallback the server finds itself.
system-deps:
	@if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then :; \
	elif [ "$(IS_ROOT)$(HAS_APT)" = yesyes ]; then \
	  echo "installing Debian's ffmpeg package"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg; \
	else echo "no system ffmpeg: falling back to the imageio-ffmpeg binary"; fi

# The browser tests drive Debian's chromium through Playwright; no browser is ever downloaded.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$(IS_ROOT)$(HAS_APT)" = yesyes ]; then \
	  echo "installing Debian's chromium package"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else echo "no /usr/bin/chromium: browser tests will be skipped"; fi

# The discovery tests ask the server with independent clients: dig (DNS) and gssdp-discover
# (SSDP, from gupnp-tools); async-upnp-client (a test dependency) browses its DLNA server.
test-tools:
	@if command -v dig >/dev/null 2>&1 && command -v gssdp-discover >/dev/null 2>&1; then :; \
	elif [ "$(IS_ROOT)$(HAS_APT)" = yesyes ]; then \
	  echo "installing Debian's bind9-dnsutils (dig) and gupnp-tools (gssdp-discover) packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bind9-dnsutils gupnp-tools; \
	else echo "no dig or gssdp-discover: those discovery checks will be skipped"; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# A single self-contained binary in dist/ (PyInstaller).
binary: install
	$(BIN)/pip install -q pyinstaller
	$(BIN)/pyinstaller --noconfirm --clean --distpath dist --workpath build packaging/pyinstaller/hearth.spec
