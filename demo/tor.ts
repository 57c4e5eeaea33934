// The top-of-rack router: BIRD 2 in its own namespace, eBGP with every node, installing what it learns into its
// kernel so that it routes pod traffic between the nodes. Its config is rendered here (pure), and `birdc show
// route` is read back into prefixes and next hops.
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../test/harness/exec';
import type { Fabric, FabricProcess } from './fabric';

export interface TorNeighbor {
  /** BIRD protocol name (letters, digits, underscores). */
  protocol: string;
  address: string;
  asNumber: number;
}

export interface TorOptions {
  routerId: string;
  asNumber: number;
  neighbors: TorNeighbor[];
}

/**
 * BIRD 2's config: one eBGP session per node with `import all; export all`, retrying fast (BIRD waits 120 s
 * between attempts by default), and a kernel protocol that installs the learned blocks as routes.
 */
export function birdConfig(o: TorOptions): string {
  const sessions = o.neighbors.map(
    (n) => `protocol bgp ${n.protocol} from node {
  neighbor ${n.address} as ${n.asNumber};
}`,
  );
  return `# The demo's top-of-rack router (written by tabby's demo).
log stderr all;
router id ${o.routerId};

protocol device {}

# Learned routes go into the kernel: the ToR forwards pod traffic between nodes.
protocol kernel {
  ipv4 { import none; export all; };
}

template bgp node {
  local ${o.routerId} as ${o.asNumber};
  connect retry time 1;
  error wait time 1, 5;
  graceful restart on;
  ipv4 { import all; export all; };
}

${sessions.join('\n\n')}
`;
}

export interface TorRoute {
  prefix: string;
  /** The BIRD protocol the best route came from. */
  protocol: string;
  /** Next hops of the best route. */
  via: string[];
}

/**
 * The best route of each prefix in `birdc show route` output:
 *   `10.48.3.0/26         unicast [node_1 10:31:03.092] * (100) [AS64512i]`
 *   `\tvia 192.0.2.11 on eth0`
 */
export function parseBirdRoutes(text: string): TorRoute[] {
  const routes: TorRoute[] = [];
  let current: TorRoute | undefined;
  let prefix: string | undefined;
  for (const line of text.split('\n')) {
    const head = /^(\d+\.\d+\.\d+\.\d+\/\d+)?\s+\w+\s+\[(\w+)[^\]]*\]\s*(\*)?/.exec(line);
    if (head) {
      prefix = head[1] ?? prefix;
      current = undefined;
      if (head[3] && prefix) {
        current = { prefix, protocol: head[2]!, via: [] };
        routes.push(current);
      }
      continue;
    }
    const via = /^\s+via (\S+)/.exec(line);
    if (via && current) current.via.push(via[1]!);
  }
  return routes;
}

export class Tor {
  private constructor(
    readonly process: FabricProcess,
    /** BIRD's control socket. */
    readonly socket: string,
  ) {}

  /** Writes the config into the fabric's directory, starts BIRD in `host`'s namespace and waits until it answers. */
  static async start(fabric: Fabric, host: string, o: TorOptions): Promise<Tor> {
    const config = fabric.file('tor-bird.conf');
    const socket = fabric.file('tor-bird.ctl');
    fs.writeFileSync(config, birdConfig(o));
    const bird = await fabric.spawn('tor', host, 'bird', ['-f', '-c', config, '-s', socket]);
    const tor = new Tor(bird, socket);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!bird.running) throw new Error('BIRD exited');
      const status = await run('birdc', ['-s', socket, 'show', 'status'], { allowFail: true });
      if (status.code === 0) return tor;
      if (Date.now() > deadline) throw new Error(`BIRD does not answer on ${socket}`);
      await sleep(50);
    }
  }

  /** birdc through the control socket (a file: reachable from the host's namespace too). */
  async birdc(...args: string[]): Promise<string> {
    return (await run('birdc', ['-s', this.socket, ...args])).stdout;
  }

  async routes(): Promise<TorRoute[]> {
    return parseBirdRoutes(await this.birdc('show', 'route'));
  }
}
