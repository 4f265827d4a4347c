#!/usr/bin/env bash
# Installs what this project needs and is missing, idempotently and quietly, then returns:
#   1. lavapipe, Mesa's Vulkan driver on the CPU (mesa-vulkan-drivers >= 25 from bookworm-backports,
#      with libvulkan1); Dawn refuses the stock Mesa 22 of Debian 12. Also Mesa's EGL/GLES of the
#      same version, for the OpenGL ES fallback backend (REPIRL_WEBGPU_BACKEND=opengles).
#      Skipped when the machine has no dpkg or REPIRL_SKIP_APT=1 (bring your own GPU driver then).
#   2. chromium, Debian's, for the browser test of `repirl report` (playwright-core drives it through
#      its executablePath; nothing downloads a browser). Skipped like lavapipe.
#   3. node_modules, with `npm ci`, when missing or installed from another package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/apt-sources.sh
say() { echo "[setup] $*"; }
# SUDO: empty as root, else sudo; without either, says that installing $1 needs root and stops.
need_root() {
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { say "need root to install $1 with apt: rerun as root"; exit 1; }
    SUDO="sudo"
  fi
}

mesa_ok() {
  for pkg in mesa-vulkan-drivers libegl-mesa0; do
    dpkg-query -W -f='${Version}\n' "$pkg" 2>/dev/null | grep -qE '^(2[5-9]|[3-9][0-9])\.' || return 1
  done
  dpkg -s libvulkan1 libegl1 libgles2 >/dev/null 2>&1
}

if [ "${REPIRL_SKIP_APT:-0}" = 1 ] || ! command -v dpkg-query >/dev/null 2>&1; then
  say "not installing system packages (no dpkg, or REPIRL_SKIP_APT=1): WebGPU must already work here"
elif mesa_ok; then
  say "lavapipe present (mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers))"
else
  need_root lavapipe
  say "installing lavapipe (libvulkan1, mesa-vulkan-drivers and Mesa EGL/GLES from bookworm-backports, ~25 MB)..."
  export DEBIAN_FRONTEND=noninteractive
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # The mirror this machine already uses for bookworm (a local or snapshot mirror may be the only
    # one it can reach), else Debian's default.
    mirror=$(backports_mirror /etc/apt)
    say "adding bookworm-backports from $mirror"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" |
      $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  fi
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends libvulkan1 libegl1 libgles2 >/dev/null 2>&1
  $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libegl-mesa0 >/dev/null 2>&1
  mesa_ok || { say "install failed: mesa-vulkan-drivers is $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo missing)"; exit 1; }
  say "lavapipe installed (mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers))"
fi

if [ "${REPIRL_SKIP_APT:-0}" = 1 ] || ! command -v dpkg-query >/dev/null 2>&1; then
  :
elif [ -x /usr/bin/chromium ]; then
  say "chromium present ($(dpkg-query -W -f='${Version}' chromium 2>/dev/null || echo 'not from apt'))"
else
  need_root chromium
  say "installing chromium (Debian's, ~100 MB, for the browser test of repirl report)..."
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1
  [ -x /usr/bin/chromium ] || { say "install failed: no /usr/bin/chromium after apt-get install chromium"; exit 1; }
  say "chromium installed ($(dpkg-query -W -f='${Version}' chromium))"
fi

# node_modules is current when it was installed from exactly this lockfile.
stamp=node_modules/.repirl-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  say "npm packages up to date"
else
  say "installing npm packages (npm ci)..."
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" >"$stamp"
  say "npm packages installed"
fi
