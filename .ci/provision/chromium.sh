#!/usr/bin/env bash
# Headless Chromium and ChromeDriver from Debian's packages, for the test that opens
# a suite's report page in a real browser. Idempotent: does nothing when present.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
chromium --version
