// Pod-to-pod TCP throughput over tabby's userspace IPIP datapath (DESIGN §4: ≥ 1 Gbit/s), with references measured
// in the same run (root: network namespaces, iperf3):
//   veth            two namespaces joined by one veth pair (10.99.0.1/30 ↔ 10.99.0.2/30): the ceiling on this machine
//   routed          pod a → node a → underlay → node b → pod b with static routes, no encapsulation
//   userspace-ipip  the same nodes and pods, node to node through tunl0: the TUN device + raw socket datapath
// The nodes and pods are test/support/ipip-topology.ts (pods plumbed as Calico's CNI plugin does; IPIP pods get the
// tunnel MTU, 1480). Each setup: `iperf3 -c <server> -t SECONDS` from pod a (veth: namespace a), ROUNDS rounds with
// the setups taking turns, and the median of the receiver's bits per second. Prints tables; asserts nothing.
//
//   node dist/bench/ipip.bench.js [--seconds 5] [--rounds 3]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { type ProcessHandle, Topology } from '../test/harness';
import { IPIP_NODES, PodPair } from '../test/support/ipip-topology';
import {
  addVethPair,
  gbits,
  type IperfEndpoints,
  type IperfRun,
  parseThroughputArgs,
  runIperf,
  startIperfServer,
} from './support/iperf';
import { machine, markdownTable, median } from './support/report';

const GOAL_BITS_PER_SECOND = 1e9;
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

type SetupName = 'veth' | 'routed' | 'userspace-ipip';

/** Where iperf3 runs for one setup. */
interface Setup extends IperfEndpoints {
  name: SetupName;
}

interface Measurement extends IperfRun {
  /** CPU the datapath processes of both nodes used during the run, in % of one vCPU (userspace IPIP only). */
  datapathCpuPercent?: number;
}

/** CPU time (user + system, all threads) a process has used so far, in ms. */
function cpuMsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After the command name: field 3 (state) is index 0, so utime and stime (fields 14 and 15) are indexes 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

function percent(value: number): string {
  return `${value.toFixed(0)} %`;
}

function podSetup(name: SetupName, pair: PodPair): Setup {
  return { name, clientNs: pair.podNs('a'), serverNs: pair.podNs('b'), serverAddress: IPIP_NODES.b.pod };
}

/** One iperf3 run; with `datapathPids`, also the CPU those processes used meanwhile. */
async function measure(setup: Setup, seconds: number, datapathPids: number[]): Promise<Measurement> {
  const cpuBefore = datapathPids.map(cpuMsOf);
  const started = Date.now();
  const measurement: Measurement = await runIperf(setup, seconds);
  const elapsedMs = Date.now() - started;
  if (datapathPids.length === 0) return measurement;
  const cpuMs = datapathPids.reduce((sum, pid, i) => sum + cpuMsOf(pid) - cpuBefore[i], 0);
  return { ...measurement, datapathCpuPercent: (100 * cpuMs) / elapsedMs };
}

async function main(): Promise<void> {
  const { seconds, rounds } = parseThroughputArgs(process.argv.slice(2), { seconds: 5, rounds: 3 });
  if (process.getuid?.() !== 0) throw new Error('needs root: creates network namespaces');
  console.log(`machine: ${machine()}; load average at start ${os.loadavg()[0].toFixed(2)}`);
  const routedTopo = await Topology.create();
  const ipipTopo = await Topology.create();
  const servers: ProcessHandle[] = [];
  try {
    const ipipPair = await PodPair.create(ipipTopo, 'userspace-ipip');
    const setups = [
      { name: 'veth' as const, ...(await addVethPair(routedTopo)) },
      podSetup('routed', await PodPair.create(routedTopo, 'routed')),
      podSetup('userspace-ipip', ipipPair),
    ];
    for (const setup of setups) servers.push(await startIperfServer(setup));

    const results = new Map<SetupName, Measurement[]>(setups.map((setup) => [setup.name, []]));
    const datapathPids = [...ipipPair.helpers.values()].map((helper) => helper.pid);
    const statsBefore = await Promise.all([ipipPair.stats('a'), ipipPair.stats('b')]);
    for (let round = 1; round <= rounds; round++) {
      for (const setup of setups) {
        const result = await measure(setup, seconds, setup.name === 'userspace-ipip' ? datapathPids : []);
        results.get(setup.name)!.push(result);
        const cpu =
          result.datapathCpuPercent === undefined ? '' : `, datapath CPU ${percent(result.datapathCpuPercent)}`;
        console.log(
          `round ${round} ${setup.name}: ${gbits(result.bitsPerSecond)} Gbit/s, ${result.retransmits} retr${cpu}`,
        );
      }
    }
    const statsAfter = await Promise.all([ipipPair.stats('a'), ipipPair.stats('b')]);

    const medianOf = (name: SetupName) => median(results.get(name)!.map((m) => m.bitsPerSecond));
    const rows = setups.map(({ name }) => {
      const runs = results.get(name)!;
      return [
        name,
        ...runs.map((m) => gbits(m.bitsPerSecond)),
        `**${gbits(medianOf(name))}**`,
        String(median(runs.map((m) => m.retransmits))),
        percent((100 * medianOf(name)) / medianOf('veth')),
        name === 'userspace-ipip' ? percent(median(runs.map((m) => m.datapathCpuPercent!))) : '',
      ];
    });
    const header = ['setup', ...results.get('veth')!.map((_, i) => `run ${i + 1} Gbit/s`), 'median Gbit/s'];
    const columns = [...header, 'median retransmits', 'of veth', 'datapath CPU (a + b, % of 1 vCPU)'];
    console.log(`\n${markdownTable(columns, rows)}\n`);

    const ipip = medianOf('userspace-ipip');
    const [aBefore, bBefore] = statsBefore;
    const [aAfter, bAfter] = statsAfter;
    console.log(
      `userspace IPIP: ${gbits(ipip)} Gbit/s, ${(ipip / medianOf('routed')).toFixed(2)} × routed; ` +
        `goal ≥ ${gbits(GOAL_BITS_PER_SECOND)} Gbit/s ${ipip >= GOAL_BITS_PER_SECOND ? 'met' : 'NOT met'}`,
    );
    console.log(
      `datapath a: ${aAfter.encapsulated.packets - aBefore.encapsulated.packets} packets encapsulated, ` +
        `${aAfter.superPackets.segmented - aBefore.superPackets.segmented} super-packets segmented; ` +
        `b: ${bAfter.decapsulated.packets - bBefore.decapsulated.packets} packets decapsulated, ` +
        `${bAfter.superPackets.coalesced - bBefore.superPackets.coalesced} coalesced writes; ` +
        `drops a ${JSON.stringify(aAfter.dropped)}, b ${JSON.stringify(bAfter.dropped)}`,
    );
    console.log(`load average at end ${os.loadavg()[0].toFixed(2)}`);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await routedTopo.destroy();
    await ipipTopo.destroy();
  }
}

main().catch((err: Error) => {
  console.error(`ipip.bench: ${err.message}`);
  process.exit(1);
});
