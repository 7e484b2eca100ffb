#!/usr/bin/env bash
# Installs the test tools that cannot live in the project venv:
#  - checkov, in its own venv (.venv-tools), because its pinned dependencies clash with ours;
#  - Debian's chromium, for the dashboard browser test (Playwright drives it; no browser download);
#  - Debian's restic (the backup tests run the real binary) and prometheus (its promtool
#    unit-tests the alert rules: tests/deploy/test_alert_rules.py).
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
