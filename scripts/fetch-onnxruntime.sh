#!/usr/bin/env bash
# Fetch the ONNX Runtime shared library from the npm package onnxruntime-node into
# .cache/onnxruntime/<version>/libonnxruntime.so.1. Idempotent: does nothing when the
# library is already there. The version must be >= the API version that the pinned
# github.com/yalue/onnxruntime_go release requests (v1.27.0 -> ORT >= 1.24).
set -euo pipefail
ORT_VERSION="${ORT_VERSION:-1.24.3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/onnxruntime/$ORT_VERSION"
lib="$dest/libonnxruntime.so.1"
if [ -s "$lib" ]; then
  echo "$lib"
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-onnxruntime: npm is required (apt-get install -y npm)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null )
tgz="$tmp/onnxruntime-node-$ORT_VERSION.tgz"
[ -s "$tgz" ] || { echo "fetch-onnxruntime: npm pack produced no $tgz" >&2; exit 1; }
tar -xzf "$tgz" -C "$tmp" 'package/bin/napi-v6/linux/x64/libonnxruntime.so.1'
mkdir -p "$dest"
mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib.partial"
mv "$lib.partial" "$lib"
echo "$lib"
