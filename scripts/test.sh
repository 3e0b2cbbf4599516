#!/usr/bin/env bash
# The whole test suite from a fresh clone. The interoperability tests need a real nginx:
# install it when missing (Debian/Ubuntu), then run every test. Nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }

if ! have_nginx; then
    echo "scripts/test.sh: installing nginx (needed by tests/interop_nginx.rs)" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx >/dev/null
fi
have_nginx || { echo "scripts/test.sh: nginx is required and could not be installed" >&2; exit 1; }

cargo test --locked "$@"
