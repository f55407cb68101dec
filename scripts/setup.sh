#!/usr/bin/env bash
# Install what the project needs on a fresh Debian 12 machine, idempotently.
#   scripts/setup.sh          build + test dependencies (C toolchain, libturbojpeg, npm) and the ONNX Runtime library
#   scripts/setup.sh train    also the training stack (Debian python3-torch, python3-onnx)
# Nothing is installed when it is already present, so repeated runs take a second.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

need=()
want() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || need+=("$1"); }
want gcc
want libc6-dev
want libturbojpeg0-dev
want pkg-config
command -v npm >/dev/null || want npm
for extra in "$@"; do
  case "$extra" in
    train) want python3-torch; want python3-onnx; want python3-numpy ;;
    stats) want python3-scipy; want python3-statsmodels ;;
    *) echo "setup: unknown extra '$extra' (known: train, stats)" >&2; exit 2 ;;
  esac
done

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

command -v go >/dev/null || { echo "setup: Go 1.26 or newer is required (https://go.dev/dl/)" >&2; exit 1; }
"$root/scripts/fetch-onnxruntime.sh" >/dev/null
"$root/scripts/fetch-minio.sh" >/dev/null # real S3 server for the blob/s3blob tests (~5 min the first time)
echo "setup: ok (ONNX Runtime at $("$root/scripts/fetch-onnxruntime.sh"))"
