#!/bin/sh
# Installs the Debian packages yoke builds and tests with, when they are missing (run as root on
# Debian 12). Usage: scripts/deps.sh [build|test]
#   build: compiler and make; PCRE2 for the tokenizers' pre-tokenizer regexes; Open MPI for the
#          multi-process communicator
#   test:  the same, plus clang with its sanitizer and libFuzzer runtimes for the fuzz run
set -e
want="gcc make libc6-dev libpcre2-dev libopenmpi-dev openmpi-bin"
[ "${1:-build}" = test ] && want="$want clang libclang-rt-14-dev"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $missing >/dev/null
fi
