#!/usr/bin/env bash
# Set up pucha on a fresh Debian/Ubuntu machine with Python 3.11:
#   - Debian packages: a Simplified-Chinese font (maps), poppler-utils (PDF checks),
#     and with --test also the real clients the tests drive: Chromium (offline maps),
#     Ghostscript and MuPDF (every PDF must draw in them), PyQGIS (the project
#     GeoPackage open in QGIS 3.22) and LibreOffice Calc (the XLSX registers);
#   - a virtual environment in .venv with pucha installed (editable) and, with --test,
#     the test and benchmark extras.
# Safe to re-run. Needs root or sudo for apt-get; skips apt when everything is there.
set -euo pipefail
cd "$(dirname "$0")"

want_tests=0
for arg in "$@"; do
  case "$arg" in
    --test) want_tests=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (use --test)" >&2; exit 2 ;;
  esac
done

pkgs=(fonts-noto-cjk poppler-utils)
[ "$want_tests" = 1 ] && pkgs+=(chromium ghostscript mupdf-tools python3-qgis qgis-providers
                                libreoffice-calc-nogui)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup.sh: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$want_tests" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[test,bench,dask]"
else
  .venv/bin/python -m pip install -q -e .
fi
# matplotlib caches the font list: make it see a freshly installed CJK font.
rm -rf "${MPLCONFIGDIR:-$HOME/.cache/matplotlib}" 2>/dev/null || true
echo "setup.sh: ready (.venv)"
