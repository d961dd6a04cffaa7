#!/usr/bin/env bash
# Run the conformance suite against Debian's docker-registry (CNCF Distribution 2.8),
# to check the tests themselves against an independent implementation.
# Usage: tests/conformance/run-against-distribution.sh [pytest args...]
# Distribution 2.8 predates OCI Distribution 1.1, so referrers, sha512, OCI-Tag and
# mount-without-from tests are expected to fail there.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
registry="${DOCKER_REGISTRY:-/usr/bin/docker-registry}"
workdir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

cat >"$workdir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $workdir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
validation:
  manifests:
    urls:
      allow:
        - ^https?://
YAML

"$registry" serve "$workdir/config.yml" >"$workdir/registry.log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then break; fi
    sleep 0.1
done

cd "$root"
CONFORMANCE_TARGET_URL="http://127.0.0.1:$port" "$root/.venv/bin/pytest" \
    -p no:cacheprovider "$here" "$@"
