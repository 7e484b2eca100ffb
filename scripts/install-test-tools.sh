#!/usr/bin/env bash
# Installs the test tools that cannot live in the project venv:
#  - checkov, in its own venv (.venv-tools), because its pinned dependencies clash with ours;
#  - Debian's chromium, for the dashboard browser test (Playwright drives it; no browser download),
#    and a Korean font so the screenshots show the symbols' names;
#  - Debian's restic (the backup tests run the real binary) and prometheus (its promtool
#    unit-tests the alert rules: tests/deploy/test_alert_rules.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-tools/bin/checkov ]; then
    python3 -m venv .venv-tools
    .venv-tools/bin/python -m pip install --quiet --upgrade pip
    .venv-tools/bin/python -m pip install --quiet checkov
fi
# Debian packages, each only when its command (or, for the font, its files) is missing.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v restic >/dev/null || missing+=(restic)
command -v promtool >/dev/null || missing+=(prometheus)
fc-list 2>/dev/null | grep -qi nanum || missing+=(fonts-nanum)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing test tools (${missing[*]}) cannot be installed (need root and apt-get); their tests will fail" >&2
    fi
fi
