#!/usr/bin/env bash
# Install what the project needs on a fresh Debian 12 machine, idempotently.
#   scripts/setup.sh          build + test dependencies (C toolchain, libturbojpeg, npm, chromium for the
#                             browser tests, and the `dicom` extra, which the tests need), the ONNX Runtime
#                             library and the npm package playwright-core (in .cache/node)
#   scripts/setup.sh dicom    the PACS test stack alone: dcmtk (img2dcm, dcmdjpeg), Orthanc and its DICOMweb plugin
#   scripts/setup.sh train    also the training stack (Debian python3-torch, python3-onnx)
# Nothing is installed when it is already present, so repeated runs take a second.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

need=()
want() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" && return
  [[ " ${need[*]} " == *" $1 "* ]] || need+=("$1")
}
want gcc
want libc6-dev
want libturbojpeg0-dev
want pkg-config
command -v npm >/dev/null || want npm
# The web package's browser tests drive Debian's chromium with playwright-core (no browser download).
want chromium
want fonts-dejavu-core
# `dicom` is always included: `make test` (CI) runs the DICOM decoder and Orthanc STOW-RS tests.
for extra in dicom "$@"; do
  case "$extra" in
    dicom) want dcmtk; want orthanc; want orthanc-dicomweb ;;
    train) want python3-torch; want python3-onnx; want python3-numpy ;;
    stats) want python3-scipy; want python3-statsmodels ;;
    *) echo "setup: unknown extra '$extra' (known: dicom, train, stats)" >&2; exit 2 ;;
  esac
done

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The tests start their own Orthanc (HTTP on loopback, no DICOM listener). Debian's package
  # also enables a system service that accepts C-STORE from any host on port 4242: when this
  # run installed it on a systemd machine, stop and disable that service.
  if [[ " ${need[*]} " == *" orthanc "* ]] && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now orthanc.service >/dev/null 2>&1 || true
  fi
fi

command -v go >/dev/null || { echo "setup: Go 1.26 or newer is required (https://go.dev/dl/)" >&2; exit 1; }
"$root/scripts/fetch-onnxruntime.sh" >/dev/null
"$root/scripts/fetch-minio.sh" >/dev/null # real S3 server for the blob/s3blob tests (~5 min the first time)
"$root/scripts/fetch-playwright.sh" >/dev/null
echo "setup: ok (ONNX Runtime at $("$root/scripts/fetch-onnxruntime.sh"))"
