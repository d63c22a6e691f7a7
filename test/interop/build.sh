#!/usr/bin/env bash
# Builds the Go reference programs of the interop tests (test/interop/go, upstream sdk v1.14.5)
# into a cache outside the repository, keyed by their sources: a rerun with nothing changed takes
# a moment. Prints the directory holding the binaries.
#
# The Go module proxy here serves networkservicemesh/sdk and api at exact versions but not the
# cmd-* modules, and the checksum database has no record of them: GONOSUMDB skips only that
# lookup for github.com/networkservicemesh (go.sum still pins every module's hash).
set -euo pipefail
here=$(cd "$(dirname "$0")/go" && pwd)
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "go not found: the interop tests build upstream NSM reference programs with Go (/usr/local/go)" >&2; exit 3; }
export GONOSUMDB=github.com/networkservicemesh GOFLAGS=-mod=readonly
key=$( (cd "$here" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | sort -z | xargs -0 sha256sum; go version) | sha256sum | cut -c1-16)
out="${NSM_INTEROP_CACHE:-/var/cache/nsm-rx-interop}/$key"
if [ ! -x "$out/registry-client" ]; then
  mkdir -p "$out.tmp"
  (cd "$here" && go build -o "$out.tmp/" ./cmd/...) >&2
  rm -rf "$out" && mv "$out.tmp" "$out"
fi
echo "$out"
