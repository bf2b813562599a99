#!/usr/bin/env bash
# Runs every test (`pnpm test`) against another version of Fastify, the lowest the packages accept
# (`peerDependencies`: ^5.0.0) for instance, in a clone of this checkout's HEAD with Fastify pinned
# by a pnpm override:
#   bash scripts/test-fastify.sh 5.0.0
set -euo pipefail
version=${1:?usage: bash scripts/test-fastify.sh <Fastify version, e.g. 5.0.0>}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
git clone -q "$(cd "$(dirname "$0")/.." && pwd)" "$dir/repo"
cd "$dir/repo"
if grep -q '^overrides:' pnpm-workspace.yaml; then
  sed -i "/^overrides:/a\\  fastify: $version" pnpm-workspace.yaml
else
  printf 'overrides:\n  fastify: %s\n' "$version" >> pnpm-workspace.yaml
fi
pnpm install --no-frozen-lockfile >/dev/null
echo "Fastify $(node -p "require('./node_modules/.pnpm/node_modules/fastify/package.json').version")"
pnpm test
