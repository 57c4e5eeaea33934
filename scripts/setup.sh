#!/usr/bin/env bash
# Installs everything tabby's tests and demo need on a fresh Debian machine (root, Node.js and npm only).
# Idempotent: a package that is present is skipped, and `npm ci` runs only when the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  etcd-server etcd-client          # the datastore (real etcd v3)
  bird2 gobgpd frr exabgp          # real BGP peers for interop tests, the demo's top-of-rack router
  iproute2 iptables ipset          # the dataplane tabby programs
  iputils-ping tcpdump iperf3      # reachability, wire captures, throughput
  containernetworking-plugins      # the reference CNI plugins (bridge, host-local, portmap, bandwidth)
  procps psmisc kmod               # sysctl, fuser, modprobe used by the harness
  g++ make python3                 # node-gyp builds the native addon (TCP-MD5, GTSM)
  chromium                         # the dashboard's browser test (driven by playwright-core, never downloaded)
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}) and not root: install them or run as root" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Services that packages would start (frr, bird, etcd) are never wanted: tests start their own, per namespace.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when node_modules does not match the lock file.
stamp=node_modules/.tabby-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
