#!/bin/sh
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests (tests/e2e).
# Installs it with apt-get when it is missing: as root directly, otherwise through sudo if present.
set -eu

BROWSER=/usr/bin/chromium

if [ -x "$BROWSER" ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $BROWSER is missing and apt-get is not available;" >&2
    echo "ensure-chromium: install Chromium so that $BROWSER exists (the browser tests need it)." >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "ensure-chromium: $BROWSER is missing, and installing it needs root but sudo is not available;" >&2
    echo "ensure-chromium: run as root: apt-get update && apt-get install -y chromium" >&2
    exit 1
fi

echo "ensure-chromium: installing Debian's chromium (apt-get) for the browser tests"
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update && $SUDO apt-get install -y chromium; }; then
    echo "ensure-chromium: could not install chromium with apt-get;" >&2
    echo "ensure-chromium: run: apt-get update && apt-get install -y chromium" >&2
    exit 1
fi

if [ ! -x "$BROWSER" ]; then
    echo "ensure-chromium: apt-get finished but $BROWSER is still missing" >&2
    exit 1
fi
echo "ensure-chromium: $("$BROWSER" --version 2>/dev/null || echo chromium) is ready"
