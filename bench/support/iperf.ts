// iperf3 between two namespaces, shared by the throughput benchmarks: a bare veth pair (the machine's ceiling), a
// server that is listening before the client starts, one measured run, and the --seconds/--rounds flags.
import { type ProcessHandle, run, runIn, spawnProcess, type Topology } from '../../test/harness';
import { ipBatch } from '../../test/support/ipip-topology';
import { waitFor } from '../../test/support/wait';
import { positiveInteger } from './report';

export const IPERF_PORT = 5201;
const VETH = { client: '10.99.0.1', server: '10.99.0.2' };

/** Where iperf3 runs: the client's and the server's namespace, and the address the server listens on. */
export interface IperfEndpoints {
  clientNs: string;
  serverNs: string;
  serverAddress: string;
}

export interface IperfRun {
  /** The receiver's rate. */
  bitsPerSecond: number;
  retransmits: number;
}

export function parseThroughputArgs(argv: string[], defaults: { seconds: number; rounds: number }) {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if ((flag !== '--seconds' && flag !== '--rounds') || value === undefined) {
      throw new Error(`unknown or incomplete flag "${flag}": use --seconds N --rounds N`);
    }
    options[flag === '--seconds' ? 'seconds' : 'rounds'] = positiveInteger(flag.slice(2), value);
  }
  return options;
}

export function gbits(bitsPerSecond: number): string {
  return (bitsPerSecond / 1e9).toFixed(2);
}

/** Two namespaces joined by a bare veth pair, named with the topology's prefix (destroy() removes them). */
export async function addVethPair(topo: Topology): Promise<IperfEndpoints> {
  const clientNs = `${topo.prefix}veth-a`;
  const serverNs = `${topo.prefix}veth-b`;
  await run('ip', ['netns', 'add', clientNs]);
  await run('ip', ['netns', 'add', serverNs]);
  await ipBatch(clientNs, [
    'link set lo up',
    `link add eth0 type veth peer name eth0 netns ${serverNs}`,
    `addr add ${VETH.client}/30 dev eth0`,
    'link set eth0 up',
  ]);
  await ipBatch(serverNs, ['link set lo up', `addr add ${VETH.server}/30 dev eth0`, 'link set eth0 up']);
  return { clientNs, serverNs, serverAddress: VETH.server };
}

/** `iperf3 -s` in the server's namespace, resolved once it listens. */
export async function startIperfServer(at: IperfEndpoints): Promise<ProcessHandle> {
  const server = await spawnProcess('iperf3', ['-s', '-B', at.serverAddress, '-p', String(IPERF_PORT)], {
    netns: at.serverNs,
  });
  await waitFor(async () => {
    if (!server.running) throw new Error(`iperf3 -s in ${at.serverNs} exited: ${server.output()}`);
    const listening = await runIn(at.serverNs, 'ss', ['-Htln', `sport = :${IPERF_PORT}`]);
    return listening.stdout.trim() !== '';
  }, `iperf3 to listen in ${at.serverNs}`);
  return server;
}

/** One `iperf3 -c` run of `seconds` from the client's namespace. */
export async function runIperf(at: IperfEndpoints, seconds: number): Promise<IperfRun> {
  const args = ['-c', at.serverAddress, '-p', String(IPERF_PORT), '-t', String(seconds), '-J'];
  const { stdout } = await runIn(at.clientNs, 'iperf3', args, { timeoutMs: (seconds + 30) * 1000 });
  const report = JSON.parse(stdout) as {
    end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits: number } };
  };
  return { bitsPerSecond: report.end.sum_received.bits_per_second, retransmits: report.end.sum_sent.retransmits };
}
