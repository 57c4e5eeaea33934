#!/bin/sh
# A tabby CNI plugin as kubelet runs it on the host: tabby's plugins are Node.js programs, so this wrapper runs the
# plugin named as itself (installed twice, as /opt/cni/bin/tabby and /opt/cni/bin/tabby-ipam) with the Node.js runtime
# and application that install-cni copied to the host's /opt/tabby.
exec /opt/tabby/node /opt/tabby/app/dist/cni-bin/"$(basename "$0")" "$@"
