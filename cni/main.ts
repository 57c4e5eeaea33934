// tabby: the CNI plugin's executable. It imports only what the socket path needs (see cni/node-api.ts).
import { runTabbyPlugin } from './plugin';
import { runCni } from './protocol';

const HELP = `tabby: the CNI plugin of tabby (CNI 0.3.0 to 1.1.0)
It is run by a container runtime with CNI_COMMAND=ADD|DEL|CHECK|STATUS|GC|VERSION, CNI_CONTAINERID, CNI_NETNS
(a path), CNI_IFNAME, CNI_PATH and CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME) in the environment and the network
config on stdin:
  {"cniVersion": "1.0.0", "name": "net", "type": "tabby", "etcd_endpoints": "http://...", "nodename": "...",
   "run_dir": "/var/run/tabby", "mtu": 1500, "ipam": {"type": "tabby-ipam", "ipv4_pools": ["pool-a"]},
   "args": {"cni": {"labels": {"app": "web"}}}}
ADD allocates an address (tabby-ipam in process, or the named IPAM plugin from CNI_PATH), makes the veth
cali<hash> <-> CNI_IFNAME with the address /32 and a default route via 169.254.1.1, and writes the
WorkloadEndpoint; DEL removes all of it. The node's <run_dir>/ipam.sock does the datastore work where a
tabby-node runs; elsewhere the plugin talks to etcd itself. "mtu" defaults to 1500.
`;

export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  process.exitCode = await runCni((cni, stdin) => runTabbyPlugin(cni, stdin, process.env));
}
