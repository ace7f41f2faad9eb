#!/usr/bin/env bash
# Debian's Chromium for the browser suites (console pages), driven by playwright-core: no browser download.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-chromium: need root (apt-get); run: sudo bash $0" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "installed: $(/usr/bin/chromium --version 2>&1)"
