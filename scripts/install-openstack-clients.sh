#!/usr/bin/env bash
# Debian's OpenStack CLIs for the compatibility suite (they run on /usr/bin/python3, not a pyenv python).
set -euo pipefail
if [ -x /usr/bin/openstack ] && [ -x /usr/bin/nova ]; then
  echo "openstack and nova clients already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-openstack-clients: need root (apt-get); run: sudo bash $0" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3-openstackclient python3-novaclient >/dev/null
echo "installed: $(/usr/bin/openstack --version 2>&1), nova $(/usr/bin/nova --version 2>&1)"
