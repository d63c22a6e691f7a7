#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd of the Kubernetes tests (test/k8s/go: upstream's own
# mains, from k8s.io/kubernetes v1.37.2 and go.etcd.io/etcd/server/v3) into a cache outside the
# repository, keyed by their sources and the Go version: only the first build is slow (about 8
# minutes on 2 cores). Prints the directory holding the binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")/go" && pwd)
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "go not found: the Kubernetes tests build kube-apiserver and etcd with Go (/usr/local/go)" >&2; exit 3; }
export GOFLAGS=-mod=readonly
key=$( (cd "$here" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | sort -z | xargs -0 sha256sum; go version) | sha256sum | cut -c1-16)
out="${NSM_K8S_CACHE:-/var/cache/nsm-rx-k8s}/$key"
if [ ! -x "$out/kube-apiserver" ] || [ ! -x "$out/etcd" ]; then
  mkdir -p "$out.tmp"
  v=k8s.io/component-base/version
  # Without the version stamp the server says v0.0.0-master and kubectl cannot parse it.
  (cd "$here" && go build -trimpath -ldflags "-s -w -X $v.gitVersion=v1.37.2 -X $v.gitMajor=1 -X $v.gitMinor=37" -o "$out.tmp/" ./cmd/...) >&2
  rm -rf "$out" && mv "$out.tmp" "$out"
fi
echo "$out"
