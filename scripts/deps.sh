#!/usr/bin/env bash
# Installs what tollgate needs to build and test, when it is missing.
# Debian packages through apt-get (as root, or with sudo), npm packages for
# the integration tests through npm. Safe to run again: it only installs
# what is not there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Arguments are Debian package names, or "command=package" for tools that
# may come from elsewhere (Node.js is often installed from nodesource or nvm,
# and Debian's npm package would conflict with it): the package is installed
# only when the command is missing.
need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in "$@"; do
  case "$p" in
    *=*) command -v "${p%%=*}" >/dev/null 2>&1 || need_pkgs+=("${p#*=}") ;;
    *) have_pkg "$p" || need_pkgs+=("$p") ;;
  esac
done

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "deps: installing ${need_pkgs[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi
