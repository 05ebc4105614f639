#!/bin/sh
# Installs the Debian 12 packages imgcap needs to build, test and run locally.
# Run as root (CI does); otherwise it prints the apt-get line to run.
set -eu

PACKAGES="build-essential pkg-config ca-certificates
 libulfius-dev liborcania-dev libhiredis-dev libpq-dev libturbojpeg0-dev libjpeg62-turbo-dev
 libfreetype-dev libfontconfig-dev libjansson-dev check
 libharfbuzz-dev libfribidi-dev libicu-dev libharfbuzz-bin unicode-data libraqm0
 fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji
 redis-server redis-sentinel iproute2 postgresql postgresql-client libjpeg-turbo-progs python3 python3-pil
 python3-jsonschema
 fonts-dejavu-core fonts-liberation2 fonts-droid-fallback
 docker-compose valgrind curl gcovr
 clang-14 libclang-rt-14-dev cppcheck clang-tidy clang-format
 wrk nginx-light imagemagick
 nodejs chromium chromium-driver"
# The browser tests install playwright-core with npm; a Node.js from elsewhere
# (NodeSource) ships its own npm, which Debian's npm package would conflict with.
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: not root; run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends" $PACKAGES >&2
    exit 1
fi

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "deps.sh: all packages present"
    exit 0
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
