#!/bin/sh
# A tabby CNI plugin in Node.js as the host runs it: this wrapper runs the plugin named as itself (installed twice, as
# /opt/cni/bin/tabby-js, which the native front /opt/cni/bin/tabby runs where tabby-node cannot take a call, and as
# /opt/cni/bin/tabby-ipam) with the Node.js runtime and application that install-cni copied to the host's /opt/tabby.
exec /opt/tabby/node /opt/tabby/app/dist/cni-bin/"$(basename "$0")" "$@"
