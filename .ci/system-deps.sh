#!/usr/bin/env bash
# Debian packages the test suite needs, installed only where missing (CI runs as root on a clean machine).
set -euo pipefail
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
# (entries are added by the features that need them)
need chromium chromium  # the book's browser test (tests/test_book_browser.py)
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
