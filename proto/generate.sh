#!/usr/bin/env bash
# Regenerates proto/gen/*.ts from proto/**/*.proto with Debian's protoc and the pinned ts-proto.
# Upstream compiles each API folder with `-I .`, so files import each other by bare name:
# one -I per folder keeps the same descriptor names. grpc/health/v1/health.proto is treated the
# same way (registered as bare health.proto, generated to gen/health.ts).
# Output is deterministic (test/proto/regenerate.test.ts checks it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/gen}
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler libprotobuf-dev" >&2; exit 1; }
wkt=${PROTOC_INCLUDE:-/usr/include}
[ -f "$wkt/google/protobuf/timestamp.proto" ] || { echo "google/protobuf/*.proto not found under $wkt: apt-get install libprotobuf-dev" >&2; exit 1; }
plugin="$here/../node_modules/.bin/protoc-gen-ts_proto"
rm -rf "$out" && mkdir -p "$out"
protoc \
  --plugin="protoc-gen-ts_proto=$plugin" \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,env=node,useDate=false,exportCommonSymbols=false,outputClientImpl=false \
  -I "$here/networkservice" -I "$here/registry" -I "$here/ipam" -I "$here/grpc/health/v1" -I "$here/spiffe" -I "$wkt" \
  connectioncontext.proto connection.proto networkservice.proto registry.proto ipam.proto health.proto workload.proto
# OTLP's span times are nanoseconds since the epoch: past 2^53, so its 64-bit fields are bigint.
protoc \
  --plugin="protoc-gen-ts_proto=$plugin" \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,env=node,useDate=false,exportCommonSymbols=false,outputClientImpl=false,forceLong=bigint \
  -I "$here/otlp" \
  trace_service.proto
