// tabby-ipam: the CNI IPAM plugin's executable. It imports only what the socket path needs.
import { runIpamPlugin } from './ipam-plugin';
import { runCni } from './protocol';

const HELP = `tabby-ipam: the CNI IPAM plugin of tabby (CNI ${'0.3.0 to 1.1.0'})
It is run by a container runtime or the tabby CNI plugin with CNI_COMMAND=ADD|DEL|CHECK|STATUS|GC|VERSION,
CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS in the environment and the network config on stdin:
  {"cniVersion": "1.0.0", "name": "net", "type": "tabby", "etcd_endpoints": "http://...", "nodename": "...",
   "run_dir": "/var/run/tabby", "ipam": {"type": "tabby-ipam", "ipv4_pools": ["pool-a"]}}
It asks the node's allocator on <run_dir>/ipam.sock and allocates against etcd itself where no node runs.
`;

export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  process.exitCode = await runCni((cni, stdin) => runIpamPlugin(cni, stdin, process.env));
}
