#!/usr/bin/env bash
# Installs the one system dependency dqt builds against (liblz4-dev, via pkg-config),
# if it is missing. Safe to run repeatedly.
set -euo pipefail
if pkg-config --exists liblz4 2>/dev/null && [ -f /usr/include/lz4.h ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "installing liblz4-dev and pkg-config (apt-get)..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq liblz4-dev pkg-config >/dev/null
