#!/usr/bin/env bash
# Install the Debian packages mtkit needs, only the ones that are missing.
#
#   bash scripts/setup-system.sh          what serving needs (`make run`)
#   bash scripts/setup-system.sh test     that plus what the tests need (`make test`)
#
# - Checks each package with dpkg-query; does nothing (and never touches apt)
#   when all are installed, so it is cheap to run on every `make`.
# - Runs `apt-get update` once, and only when something must be installed.
# - Another apt or dpkg process (unattended-upgrades, a second shell) holds
#   apt's locks: waits for them up to APT_LOCK_TIMEOUT seconds (default 600),
#   saying so every few seconds, instead of failing at once.
# - Not root: uses sudo when it is there; with no apt/sudo it prints which
#   packages are missing and exits 1.
# - SKIP_SYSTEM_PACKAGES=1 skips the whole step (for machines you manage yourself).
set -euo pipefail

PROFILE="${1:-run}"
APT_LOCK_TIMEOUT="${APT_LOCK_TIMEOUT:-600}"
APT_LOCK_POLL="${APT_LOCK_POLL:-10}"  # seconds between tries while waiting

# What each package is for:
#   fonts-noto-cjk       Chinese glyphs in pages and screenshots; fallback font of printed forms
#   fonts-wqy-microhei   the printed forms' CJK font (TrueType: fast for HarfBuzz to subset)
#   libpango-1.0-0, libpangoft2-1.0-0, libharfbuzz-subset0, libfontconfig1
#                        WeasyPrint 70 (text layout, font subsetting, font lookup)
#   fonts-dejavu-core    a Latin fallback font for WeasyPrint and Chromium
#   postgresql-client    pg_dump / pg_restore for `flask --app app backup` on PostgreSQL
# Tests only:
#   chromium             browser tests (playwright drives /usr/bin/chromium; never `playwright install`)
#   poppler-utils        pdftotext, to check generated PDFs in tests
#   haproxy              the load balancer in front of two app hosts (tests/test_two_hosts.py runs its
#                        own, with its config in a temporary folder); see the end for Debian's service
#   wrk                  HTTP load generator for bench/pages.py
PACKAGES=(
  fonts-noto-cjk
  fonts-wqy-microhei
  libpango-1.0-0
  libpangoft2-1.0-0
  libharfbuzz-subset0
  libfontconfig1
  fonts-dejavu-core
  postgresql-client
)
case "$PROFILE" in
  run) ;;
  test) PACKAGES+=(chromium poppler-utils haproxy wrk) ;;
  *) echo "setup-system: unknown profile '$PROFILE' (use: run | test)" >&2; exit 2 ;;
esac

# npm (for htmx) comes from Debian only when no npm is on the machine at all.
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(npm)
fi

if [ "${SKIP_SYSTEM_PACKAGES:-0}" = "1" ]; then
  echo "setup-system: SKIP_SYSTEM_PACKAGES=1, not checking system packages"
  exit 0
fi

is_installed() {
  # `dpkg -s` also succeeds for removed-but-configured packages; check the status.
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
else
  echo "setup-system: dpkg-query not found (not a Debian system?)." >&2
  echo "setup-system: make sure these (Debian names) are installed: ${PACKAGES[*]}" >&2
  exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup-system: missing system packages: ${missing[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: apt-get is not available; install these packages by hand: ${missing[*]}" >&2
  echo "setup-system: (or set SKIP_SYSTEM_PACKAGES=1 to carry on without them)" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "setup-system: not root and sudo is not available; as root run:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive

# apt_with_lock_wait ARGS...: run apt-get; while it fails only because another
# process holds apt's or dpkg's lock, wait and try again, up to APT_LOCK_TIMEOUT.
# DPkg::Lock::Timeout makes apt itself wait for the dpkg lock; the loop also
# covers the package-list lock that `apt-get update` takes.
apt_with_lock_wait() {
  local waited=0 log rc
  log=$(mktemp)
  while true; do
    rc=0
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get -o DPkg::Lock::Timeout=60 "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ]; then
      rm -f "$log"
      return 0
    fi
    if ! grep -qiE "could not get lock|unable to acquire the dpkg frontend lock|unable to lock" "$log"; then
      rm -f "$log"
      return "$rc"
    fi
    if [ "$waited" -ge "$APT_LOCK_TIMEOUT" ]; then
      echo "setup-system: another apt/dpkg process still holds the lock after ${waited}s (APT_LOCK_TIMEOUT=${APT_LOCK_TIMEOUT}); giving up" >&2
      echo "setup-system: 另一个 apt/dpkg 进程占用软件包锁已超过 ${waited} 秒,请等它结束后重试" >&2
      rm -f "$log"
      return "$rc"
    fi
    echo "setup-system: waiting for another apt/dpkg process to release its lock (${waited}s of ${APT_LOCK_TIMEOUT}s)…"
    sleep "$APT_LOCK_POLL"
    waited=$((waited + APT_LOCK_POLL))
  done
}

echo "setup-system: apt-get update…"
apt_with_lock_wait update -q
echo "setup-system: apt-get install ${missing[*]}…"
apt_with_lock_wait install -y -q "${missing[@]}"

still=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || still+=("$pkg")
done
if [ ${#still[@]} -ne 0 ]; then
  echo "setup-system: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
echo "setup-system: installed ${missing[*]}"

# Debian starts and enables haproxy.service on install. Its default config listens on no port, so it
# is harmless, but nothing here uses it: the tests start their own. Stop and disable the service
# when this script installed the package (one installed before is left as it was).
if [[ " ${missing[*]} " == *" haproxy "* ]] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  "${SUDO[@]}" systemctl disable --now haproxy.service >/dev/null 2>&1 || true
  echo "setup-system: haproxy installed for the tests; its system service stopped and disabled"
fi
