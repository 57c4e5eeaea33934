#!/usr/bin/env bash
# Builds the native code: the addon (native/: TCP-MD5, GTSM, the userspace IPIP datapath), with node-gyp against
# the installed Node's own headers so nothing is downloaded, and the CNI plugin's front (cc). Debian's nodejs-dev (or the Node build in use) provides them under <prefix>/include/node.
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
if [ ! -f "$out" ] || [ -n "$(find native/src native/binding.gyp -newer "$out" -print -quit)" ]; then
  npx --no-install node-gyp rebuild --directory native --nodedir="$nodedir" --loglevel=warn
fi

# The CNI plugin's native front (cni/front/tabby.c), installed as dist/cni-bin/tabby; the Node.js plugin it falls
# back to is dist/cni-bin/tabby-js (scripts/link-bins.js).
front=dist/cni-bin/tabby
if [ cni/front/tabby.c -nt "$front" ]; then
  mkdir -p dist/cni-bin
  cc -O2 -Wall -Wextra -Werror -o "$front.new" cni/front/tabby.c
  mv -f "$front.new" "$front"
fi
