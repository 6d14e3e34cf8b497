# Sourced by tests/support/ensure_chromium.sh and ensure_java.sh: `apt_install PACKAGE WHY` installs one
# Debian package with apt-get when apt is usable without a question (root, or sudo without a password), as
# `make bench-api` does for wrk. Returns non-zero when apt is not usable or the install failed; the caller
# then checks for its tool and otherwise prints the one command to run.
apt_install() {
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else return 1; fi
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  echo "make test: installing $1 with apt-get ($2)" >&2
  # Try without refreshing the package lists first: a warm machine needs no network round trip.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null \
         && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }
}
