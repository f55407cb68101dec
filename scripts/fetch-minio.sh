#!/usr/bin/env bash
# Build the MinIO server (the real S3 server that the S3 tests start, see blob/s3test)
# into .cache/bin/minio and print its path. Idempotent: does nothing when the binary is
# there and was built from the pinned version (checked with `go version -m`).
# Needs only Go; the first build downloads MinIO's modules and takes ~5 min on 2 cores.
#
# MinIO publishes no semver tags, so the module proxy serves pseudo-versions only:
# `go list -m github.com/minio/minio@latest` gave the pin below (commit 7aac2a2c5b7c,
# 2026-02-12). Override with MINIO_VERSION=<module version>.
set -euo pipefail
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/bin"
bin="$dest/minio"

built_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/minio/minio" { print $3 }'; }

command -v go >/dev/null || { echo "fetch-minio: Go is required (https://go.dev/dl/)" >&2; exit 1; }
if [ -x "$bin" ]; then
  have="$(built_version "$bin")"
  if [ "$have" = "$MINIO_VERSION" ]; then
    echo "$bin"
    exit 0
  fi
  echo "fetch-minio: $bin is ${have:-of unknown version}, want $MINIO_VERSION: rebuilding" >&2
fi

echo "fetch-minio: building github.com/minio/minio@$MINIO_VERSION (~5 min, once)" >&2
mkdir -p "$dest"
tmp="$(mktemp -d "$dest/.minio-build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# pkg@version ignores the repository's go.mod; GOWORK=off and an empty GOFLAGS keep the
# caller's settings out. Static binary (no C toolchain needed), no symbol tables (the
# build info that `go version -m` reads stays).
( cd "$tmp" && GOWORK=off GOFLAGS= CGO_ENABLED=0 GOBIN="$tmp" \
    go install -trimpath -ldflags='-s -w' "github.com/minio/minio@$MINIO_VERSION" )
[ -x "$tmp/minio" ] || { echo "fetch-minio: go install produced no $tmp/minio" >&2; exit 1; }
got="$(built_version "$tmp/minio")"
[ "$got" = "$MINIO_VERSION" ] || { echo "fetch-minio: built version '$got', want $MINIO_VERSION" >&2; exit 1; }
mv -f "$tmp/minio" "$bin"
echo "$bin"
