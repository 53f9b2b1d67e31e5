#!/usr/bin/env bash
# Install the Debian packages mtkit needs, only the ones that are missing.
#
#   bash scripts/setup-system.sh
#
# - Checks each package with dpkg-query; does nothing (and never touches apt)
#   when all are installed, so it is cheap to run on every `make`.
# - Runs `apt-get update` once, and only when something must be installed.
# - Not root: uses sudo when it is there; with no apt/sudo it prints which
#   packages are missing and exits 1.
# - SKIP_SYSTEM_PACKAGES=1 skips the whole step (for machines you manage yourself).
set -euo pipefail

# What each package is for:
#   chromium             browser tests (playwright drives /usr/bin/chromium; never `playwright install`)
#   fonts-noto-cjk       Chinese glyphs in pages and screenshots; fallback font of printed forms
#   fonts-wqy-microhei   the printed forms' CJK font (TrueType: fast for HarfBuzz to subset)
#   poppler-utils        pdftotext, to check generated PDFs in tests
#   libpango-1.0-0, libpangoft2-1.0-0, libharfbuzz-subset0, libfontconfig1
#                        WeasyPrint 70 (text layout, font subsetting, font lookup)
#   fonts-dejavu-core    a Latin fallback font for WeasyPrint and Chromium
PACKAGES=(
  chromium
  fonts-noto-cjk
  fonts-wqy-microhei
  poppler-utils
  libpango-1.0-0
  libpangoft2-1.0-0
  libharfbuzz-subset0
  libfontconfig1
  fonts-dejavu-core
)

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
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"

still=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || still+=("$pkg")
done
if [ ${#still[@]} -ne 0 ]; then
  echo "setup-system: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
echo "setup-system: installed ${missing[*]}"
