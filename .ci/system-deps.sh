#!/usr/bin/env bash
# Debian packages the project needs, installed only where missing (CI runs as root on a clean machine).
#   bash .ci/system-deps.sh book   what building the book needs
#   bash .ci/system-deps.sh test   what the whole test suite needs (includes book)
set -euo pipefail
what="${1:-test}"
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need npm npm                # the book build installs a local MathJax with npm
if [ "$what" = test ]; then
  need chromium chromium    # the book's browser test (tests/test_book.py)
  # a real PostgreSQL server for the gradebook test (tests/test_postgres_gradebook.py)
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=(postgresql)
  # the grading sandbox's seccomp filter is compiled by libseccomp (through pyseccomp)
  compgen -G "/usr/lib/*/libseccomp.so.2" >/dev/null || missing+=(libseccomp2)
fi
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
