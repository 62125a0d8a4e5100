# Two commands matter: `make run` and `make test`. Both work as root on a fresh Debian/Ubuntu.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
VAR := var
APT_PACKAGES := softhsm2 opensc oathtool postgresql wrk fonts-dejavu-core chromium libnss3 libnss3-tools gcc swtpm libtss2-dev pkg-config haproxy
export SOFTHSM2_CONF := $(abspath $(VAR))/softhsm/softhsm2.conf
export OTP_HSM_PIN_FILE := $(abspath $(VAR))/secrets/otp-server.user-pin
export OTP_DATABASE_URL ?= sqlite:///$(abspath $(VAR))/otp.sqlite3
# SoftHSM runs inside the server and its token files are the server's: a holder of the PIN
# decrypts them offline. Accepted for development by name (docs/hsm.md); never in production.
export OTP_HSM_ACCEPT_WEAKNESSES ?= key-store-readable

.PHONY: run test lint typecheck unit bench screens token deps system-deps venv clean

## run: start the server on the embedded defaults (SoftHSM2 token + SQLite under ./var/)
run: deps
	$(BIN)/softhsm-token init --dir $(VAR)/softhsm --label otp-server --secrets-dir $(VAR)/secrets
	OTP_HSM_SO_PIN_FILE=$(abspath $(VAR))/secrets/otp-server.so-pin $(BIN)/otp-hsm --token-label otp-server init-keys
	$(BIN)/otp-admin db upgrade
	OTP_PORT=$(PORT) $(BIN)/python -m server.demo
	@# plain HTTP on loopback: cookies without Secure and __Host- (the server warns at start)
	OTP_AUDIT_ANCHOR_FILE=$(abspath $(VAR))/audit-anchor.log OTP_PORTAL_INSECURE_COOKIES=true \
	  OTP_LOG_FORMAT=console $(BIN)/otp-server --host 127.0.0.1 --port $(PORT)

## test: install what is missing, then ruff, mypy and pytest
test: deps lint typecheck unit

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest -q -m ""  # every test, the slow end-to-end ones too

## bench: throughput figures with their same-run baselines
bench: deps
	$(BIN)/python -m benchmarks

## token: the token emulator against `make run`'s server (start that first), configured with
## the server's provisioning key read from its HSM (the token refuses to enroll without one)
token: deps
	key=$$($(BIN)/otp-hsm --token-label otp-server provisioning-key) && \
	$(BIN)/python -m device_firmware --emulator --server http://127.0.0.1:$(PORT) \
	  --provisioning-key "$$key" --dir $(VAR)/token-local

## screens: the portal's main pages and every screen of the Pi token, as PNG in docs/screens/
screens: deps
	PORTAL_SCREENS=docs/screens $(BIN)/pytest -q tests/portal
	$(BIN)/python -m device_firmware.pi.screens docs/screens --scale 4 --prefix pi-

deps: system-deps venv

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,device]'
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
