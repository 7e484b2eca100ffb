#!/usr/bin/env bash
# Installs the test tools that cannot live in the project venv:
#  - checkov, in its own venv (.venv-tools), because its pinned dependencies clash with ours;
#  - Debian's chromium, for the dashboard browser test (Playwright drives it; no browser download),
#    and a Korean font so the screenshots show the symbols' names.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-tools/bin/checkov ]; then
    python3 -m venv .venv-tools
    .venv-tools/bin/python -m pip install --quiet --upgrade pip
    .venv-tools/bin/python -m pip install --quiet checkov
fi
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "chromium is missing and cannot be installed (need root and apt-get); the browser test will fail" >&2
    fi
fi
if ! fc-list 2>/dev/null | grep -qi nanum; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-nanum >/dev/null
    else
        echo "no Korean font (fonts-nanum): symbol names show as boxes in the dashboard screenshots" >&2
    fi
fi
