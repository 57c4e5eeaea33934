// `tabbyctl node status`: Calico's BGP status table, read from a node's status socket (CONTRACT §3, §4).
import path from 'node:path';
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
