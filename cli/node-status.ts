// `tabbyctl node status`: Calico's BGP status table, read from a node's status socket (CONTRACT §3, §4), or, through
// tabby-apiserver, from the CalicoNodeStatus the node reports into the datastore.
import path from 'node:path';
import { kindByAlias, type ResourceClient } from '../datastore';
import { type CalicoNodeStatusResource, PEER_TYPES } from '../node/status-report';
import { readStatus } from '../node/status-server';

interface PeerStatus {
  address: string;
  type?: string;
  state: string;
  since: string;
  info: string;
}

/** BIRD's protocol states, which Calico's table shows: up once established, start while trying. */
function birdState(state: string): string {
  if (state === 'Established') return 'up';
  if (state === 'Idle') return 'down';
  return 'start';
}

/** BIRD prints the time for today's events and the date for older ones. */
function birdSince(iso: string, now = new Date()): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const sameDay = t.toDateString() === now.toDateString();
  return sameDay ? t.toTimeString().slice(0, 8) : t.toISOString().slice(0, 10);
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: string[]) => `|${cells.map((c, i) => ` ${c.padEnd(widths[i]!)} `).join('|')}|`;
  return [
    rule,
    line(headers.map((h, i) => h.padStart(Math.floor((widths[i]! + h.length) / 2)))),
    rule,
    ...rows.map(line),
    rule,
  ].join('\n');
}

export function renderNodeStatus(status: unknown): string {
  const s = status as { bgp?: { peers?: PeerStatus[] }; peers?: PeerStatus[] };
  // tabby-node nests the BGP object; tabby-bgp's status is that object itself.
  const peers = s.bgp?.peers ?? s.peers ?? [];
  const rows = peers.map((p) => {
    const info = p.state === 'Established' ? 'Established' : `${p.state} ${p.info}`.trim();
    return [p.address, p.type || 'global', birdState(p.state), birdSince(p.since), info];
  });
  const body = rows.length
    ? table(['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'INFO'], rows)
    : 'No IPv4 peers found.';
  return `Calico process is running.\n\nIPv4 BGP status\n${body}\n\nIPv6 BGP status\nNo IPv6 peers found.\n\n`;
}

export async function nodeStatus(runDir: string): Promise<string> {
  return renderNodeStatus(await readStatus(path.join(runDir, 'status.sock')));
}

/** CalicoNodeStatus' peer types as the status socket (and calicoctl's table) names them. */
const PEER_TYPE_NAME = new Map(PEER_TYPES.map(([name, calico]) => [calico, name]));

/** A report older than this many update periods means the node stopped reporting. */
const STALE_PERIODS = 3;

/**
 * The same table from the node's CalicoNodeStatus (the one named after it first, else any whose spec.node is it).
 * A report that has not been refreshed for three update periods says the node is not running.
 */
export async function reportedNodeStatus(client: ResourceClient, node: string, now = new Date()): Promise<string> {
  const reports = (await client.list(kindByAlias('caliconodestatus')!)) as CalicoNodeStatusResource[];
  const mine = reports.filter((r) => r.spec?.node === node && r.status?.bgp);
  const report = mine.find((r) => r.metadata.name === node) ?? mine[0];
  if (!report?.status) throw new Error(`node "${node}" reports no BGP status (no CalicoNodeStatus with its BGP class)`);
  const peers = (report.status.bgp?.peersV4 ?? []).map((p) => ({
    address: p.peerIP ?? '',
    type: (p.type && PEER_TYPE_NAME.get(p.type)) ?? '',
    state: p.state ?? '',
    since: p.since ?? '',
    info: '',
  }));
  const table = renderNodeStatus({ peers });
  const period = report.spec?.updatePeriodSeconds ?? 10;
  const updated = new Date(report.status.lastUpdated ?? 0);
  if (period > 0 && now.getTime() - updated.getTime() > STALE_PERIODS * period * 1000) {
    return table.replace(
      'Calico process is running.',
      `Calico process is not running (its last report is from ${updated.toISOString()}).`,
    );
  }
  return table;
}
