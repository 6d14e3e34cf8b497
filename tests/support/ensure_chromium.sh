#!/bin/sh
# `make test` on a bare machine: the web page's browser test (tests/functional/test_web_page.py) drives
# Debian's chromium through Playwright (no browser download). When it is missing, install it with apt if apt
# is usable without a question (root, or sudo without a password), as `make bench-api` does for wrk;
# otherwise stop before the long run with the one command that fixes it.
# PUE_CHROMIUM names another chromium; PUE_SKIP_BROWSER=1 (outside CI) skips the test, and so this check.
set -u
chromium="${PUE_CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] && exit 0
if [ "${PUE_SKIP_BROWSER:-}" = "1" ] && [ -z "${CI:-}" ]; then
  echo "make test: no chromium at $chromium; PUE_SKIP_BROWSER=1 skips the browser test" >&2
  exit 0
fi

. "${0%/*}/apt_install.sh"
apt_install chromium "for the browser test"
[ -x "$chromium" ] && exit 0

echo "make test: the browser test needs chromium at $chromium, which is missing. Run:" >&2
echo "    sudo apt-get install -y chromium" >&2
echo "then make test again (PUE_CHROMIUM names another chromium; PUE_SKIP_BROWSER=1 skips the test outside CI)." >&2
exit 1
