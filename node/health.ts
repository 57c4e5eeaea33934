// tabby-node's probes and metrics (CONTRACT §3), on the node's address: `/liveness` answers while the process
// does; `/readiness` only when felix has the dataplane in sync and every BGP session is Established (as
// calico-node's readiness waits for BIRD and felix), else 503 with the reasons; `/metrics` is Prometheus text.
import http from 'node:http';

export interface HealthSnapshot {
  felix:
    | { inSync: boolean; endpoints: number; lastApplyMs: number; applies: number; writes: number; problems: string[] }
    | undefined;
  bgp: { peers: { address: string; state: string }[]; rib: { prefixes: number; paths: number } } | undefined;
  ipam: { batches: number; requests: number };
  /** CNI calls the plugin's front handed to this node: `<COMMAND> <result>` → count. */
  cniCalls?: ReadonlyMap<string, number>;
}

/** Why the node is not ready; empty when it is. */
export function notReadyReasons(s: HealthSnapshot): string[] {
  const reasons: string[] = [];
  if (s.felix && !s.felix.inSync) {
    reasons.push(`felix not in sync${s.felix.problems.length > 0 ? `: ${s.felix.problems[0]}` : ''}`);
  }
  for (const p of s.bgp?.peers ?? []) {
    if (p.state !== 'Established') reasons.push(`BGP session with ${p.address} is ${p.state}`);
  }
  return reasons;
}

function metric(lines: string[], name: string, type: 'gauge' | 'counter', help: string, samples: [string, number][]) {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
}

export function renderMetrics(s: HealthSnapshot): string {
  const lines: string[] = [];
  if (s.bgp) {
    const byState = new Map<string, number>();
    for (const p of s.bgp.peers) byState.set(p.state, (byState.get(p.state) ?? 0) + 1);
    metric(
      lines,
      'tabby_bgp_peers',
      'gauge',
      'BGP sessions by state.',
      [...byState].map(([state, n]) => [`{state="${state}"}`, n]),
    );
    metric(lines, 'tabby_bgp_rib_prefixes', 'gauge', 'Prefixes in the Loc-RIB.', [['', s.bgp.rib.prefixes]]);
    metric(lines, 'tabby_bgp_rib_paths', 'gauge', 'Paths in the RIB.', [['', s.bgp.rib.paths]]);
  }
  if (s.felix) {
    metric(lines, 'tabby_felix_in_sync', 'gauge', '1 when the dataplane matches the datastore.', [
      ['', s.felix.inSync ? 1 : 0],
    ]);
    metric(lines, 'tabby_felix_endpoints', 'gauge', 'Local workload endpoints.', [['', s.felix.endpoints]]);
    metric(lines, 'tabby_felix_last_apply_ms', 'gauge', 'Duration of the last dataplane apply.', [
      ['', s.felix.lastApplyMs],
    ]);
    metric(lines, 'tabby_felix_applies_total', 'counter', 'Dataplane applies.', [['', s.felix.applies]]);
    metric(lines, 'tabby_felix_writes_total', 'counter', 'Kernel writes (routes, neighbours, sysctls, rule lines).', [
      ['', s.felix.writes],
    ]);
    metric(lines, 'tabby_felix_problems', 'gauge', 'Problems of the last apply.', [['', s.felix.problems.length]]);
  }
  metric(lines, 'tabby_ipam_batches_total', 'counter', 'Allocation batches committed.', [['', s.ipam.batches]]);
  metric(lines, 'tabby_ipam_requests_total', 'counter', 'Allocation and release requests.', [['', s.ipam.requests]]);
  metric(
    lines,
    'tabby_cni_calls_total',
    'counter',
    'CNI calls run by this node for the plugin (result ok, error, or handed-back: the plugin ran it itself).',
    [...(s.cniCalls ?? [])].map(([key, n]) => {
      const [command, result] = key.split(' ');
      return [`{command="${command}",result="${result}"}`, n];
    }),
  );
  metric(lines, 'process_resident_memory_bytes', 'gauge', 'Resident memory.', [['', process.memoryUsage().rss]]);
  return `${lines.join('\n')}\n`;
}

function listen(host: string, port: number, handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`${host}:${port}: ${err.code ?? err.message}`)),
    );
    server.listen(port, host, () => resolve(server));
  });
}

/** The health and metrics servers; a port of 0 leaves that one out. */
export async function serveHealth(
  host: string,
  ports: { health: number; metrics: number },
  snapshot: () => HealthSnapshot,
): Promise<http.Server[]> {
  const servers: http.Server[] = [];
  if (ports.health > 0) {
    servers.push(
      await listen(host, ports.health, (req, res) => {
        if (req.url === '/liveness') {
          res.writeHead(200, { 'content-type': 'application/json' });
          return void res.end('{"alive":true}\n');
        }
        if (req.url === '/readiness') {
          const reasons = notReadyReasons(snapshot());
          res.writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'application/json' });
          return void res.end(`${JSON.stringify({ ready: reasons.length === 0, reasons })}\n`);
        }
        res.writeHead(404).end();
      }),
    );
  }
  if (ports.metrics > 0) {
    servers.push(
      await listen(host, ports.metrics, (req, res) => {
        if (req.url !== '/metrics') return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(renderMetrics(snapshot()));
      }),
    );
  }
  return servers;
}
