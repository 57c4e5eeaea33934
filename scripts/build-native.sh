#!/usr/bin/env bash
# Builds the native addon (native/: TCP-MD5, GTSM) with node-gyp against the installed Node's own headers,
# so nothing is downloaded. Debian's nodejs-dev (or the Node build in use) provides them under <prefix>/include/node.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
nodedir=""
for d in "$prefix" /usr /usr/local; do
  if [ -f "$d/include/node/node_api.h" ]; then nodedir=$d; break; fi
done
if [ -z "$nodedir" ]; then
  echo "build-native: Node's headers (include/node/node_api.h) not found under $prefix, /usr or /usr/local" >&2
  exit 1
fi
# Rebuild only when a source changed: node-gyp always recompiles everything.
out=native/build/Release/tabby_native.node
if [ -f "$out" ] && [ -z "$(find native/src native/binding.gyp -newer "$out" -print -quit)" ]; then exit 0; fi
npx --no-install node-gyp rebuild --directory native --nodedir="$nodedir" --loglevel=warn
