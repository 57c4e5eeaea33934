#!/bin/sh
# install-cni: the init container of the tabby-node DaemonSet. It puts tabby's CNI plugins and their network
# config on the host, as Calico's install-cni does:
#   - the Node.js runtime and tabby's application into the host's /opt/tabby (the plugins run from there, since
#     the host need not have Node.js; it needs glibc and libstdc++, as any distribution that runs kubelet has),
#   - the plugins into the CNI binary directory: tabby (the native front, which hands each call to tabby-node)
#     and the wrappers tabby-js (the Node.js plugin it falls back to) and tabby-ipam,
#   - the network config list (CNI_NETWORK_CONFIG, from the ConfigMap) with etcd_endpoints and mtu filled in.
# Every path can be overridden from the environment so the test suite can run it against temporary directories.
set -eu

image_dir=${TABBY_IMAGE_DIR:-/opt/tabby}
host_dir=${TABBY_HOST_DIR:-/host/opt/tabby}
cni_bin_dir=${CNI_BIN_DIR:-/host/opt/cni/bin}
cni_net_dir=${CNI_NET_DIR:-/host/etc/cni/net.d}
conf_name=${CNI_CONF_NAME:-10-tabby.conflist}
node_binary=${NODE_BINARY:-$(command -v node)}

# Each file is written next to its target and renamed over it, so kubelet never runs a half-copied plugin.
mkdir -p "$host_dir" "$cni_bin_dir" "$cni_net_dir"
cp "$node_binary" "$host_dir/node.new" && mv -f "$host_dir/node.new" "$host_dir/node"
rm -rf "$host_dir/app.new" "$host_dir/app.old"
cp -a "$image_dir/app" "$host_dir/app.new"
if [ -d "$host_dir/app" ]; then mv "$host_dir/app" "$host_dir/app.old"; fi
mv "$host_dir/app.new" "$host_dir/app"
rm -rf "$host_dir/app.old"
for plugin in tabby tabby-js tabby-ipam; do
  cp "$image_dir/cni-bin/$plugin" "$cni_bin_dir/$plugin.new"
  chmod 755 "$cni_bin_dir/$plugin.new"
  mv -f "$cni_bin_dir/$plugin.new" "$cni_bin_dir/$plugin"
done

# CNI_MTU 0 leaves mtu out, so the plugin uses the MTU tabby-node wrote to <run-dir>/mtu (underlay less the tunnel).
"$node_binary" -e '
  const conflist = JSON.parse(process.env.CNI_NETWORK_CONFIG);
  const mtu = Number(process.env.CNI_MTU || 0);
  for (const plugin of conflist.plugins.filter((p) => p.type === "tabby")) {
    plugin.etcd_endpoints = process.env.ETCD_ENDPOINTS;
    if (mtu > 0) plugin.mtu = mtu;
    else delete plugin.mtu;
  }
  process.stdout.write(JSON.stringify(conflist, null, 2) + "\n");
' > "$cni_net_dir/$conf_name.new"
mv -f "$cni_net_dir/$conf_name.new" "$cni_net_dir/$conf_name"
echo "install-cni: installed tabby, tabby-js and tabby-ipam into $cni_bin_dir and $cni_net_dir/$conf_name"
