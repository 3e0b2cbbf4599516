#!/usr/bin/env bash
# The whole test suite from a fresh clone. The interoperability tests need real servers:
# nginx (tests/interop_nginx.rs, tests/tls.rs, tests/update.rs), squid, Dante (a SOCKS
# server) and openssl (tests/proxy.rs; openssl hashes the proxy's password file); the
# progress tests need `script` (bsdutils: a pseudo-terminal), the manual page test groff
# (groff-base). Install what is missing (Debian/Ubuntu), then run every test. Nothing is
# skipped. Then scripts/slurm-test.sh: the shards as a 4-task array job on a private Slurm
# (it installs Slurm and munge itself). With arguments (a test name filter), only the
# matching cargo tests run, and the script says that Slurm was left out.
set -euo pipefail
cd "$(dirname "$0")/.."

have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
have_squid() { command -v squid >/dev/null 2>&1 || [ -x /usr/sbin/squid ]; }
have_openssl() { command -v openssl >/dev/null 2>&1; }
have_danted() { [ -x /usr/sbin/danted ]; }
have_script() { command -v script >/dev/null 2>&1; }
have_groff() { command -v groff >/dev/null 2>&1; }

missing=()
have_nginx || missing+=(nginx)
have_squid || missing+=(squid)
have_openssl || missing+=(openssl)
have_danted || missing+=(dante-server)
have_script || missing+=(bsdutils)
have_groff || missing+=(groff-base)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "scripts/test.sh: installing ${missing[*]} (needed by the interoperability tests)" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
have_nginx || { echo "scripts/test.sh: nginx is required and could not be installed" >&2; exit 1; }
have_squid || { echo "scripts/test.sh: squid is required and could not be installed" >&2; exit 1; }
have_openssl || { echo "scripts/test.sh: openssl is required and could not be installed" >&2; exit 1; }
have_danted || { echo "scripts/test.sh: danted is required and could not be installed" >&2; exit 1; }
have_script || { echo "scripts/test.sh: script (bsdutils) is required and could not be installed" >&2; exit 1; }
have_groff || { echo "scripts/test.sh: groff is required and could not be installed" >&2; exit 1; }

cargo test --locked "$@"
# Every public item documented, no broken links (the library's docs are its manual).
if [ "$#" -eq 0 ]; then
    RUSTDOCFLAGS=-Dwarnings cargo doc --locked --no-deps --quiet
    scripts/slurm-test.sh
else
    echo "scripts/test.sh: test filter given: the Slurm test (scripts/slurm-test.sh) was not run" >&2
fi
