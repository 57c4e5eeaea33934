// What the demo prints, rendered from what it measured (pure): the reachability matrix and felix's one-liners.

export const REACHABLE = '✓';
export const UNREACHABLE = '✗';
/** Marks a pair the applied policy denies once policy is enforced. */
export const DENIED_MARK = '*';

export interface MatrixPod {
  node: string;
  namespace: string;
  name: string;
  ip: string;
}

export interface Matrix {
  pods: MatrixPod[];
  /** reachable[i][j]: pod i's ping reached pod j. */
  reachable: boolean[][];
  /** denied[i][j]: the policy denies pod i → pod j once enforced. */
  denied: boolean[][];
}

/**
 * A grid with one row per source pod (node, namespace/name, address) and one column per destination pod:
 * ✓ reached, ✗ not; `*` after a cell the policy denies once enforced.
 */
export function renderMatrix(m: Matrix): string {
  const rowLabels = m.pods.map((p) => [p.node, `${p.namespace}/${p.name}`, p.ip]);
  const labelWidths = [0, 1, 2].map((c) => Math.max(...rowLabels.map((r) => r[c]!.length)));
  const columnWidth = Math.max(4, ...m.pods.map((p) => p.name.length)) + 2;
  const label = (cells: string[]) => cells.map((c, i) => c.padEnd(labelWidths[i]!)).join('  ');
  const blank = ' '.repeat(label(['', '', '']).length);
  const header = `  ${blank}  ${m.pods.map((p) => p.name.padEnd(columnWidth)).join('')}`.trimEnd();
  const rows = m.pods.map((_, i) => {
    const cells = m.pods.map((__, j) => {
      const mark = (m.reachable[i]![j] ? REACHABLE : UNREACHABLE) + (m.denied[i]![j] ? DENIED_MARK : '');
      return mark.padEnd(columnWidth);
    });
    return `  ${label(rowLabels[i]!)}  ${cells.join('')}`.trimEnd();
  });
  return [header, ...rows].join('\n');
}

/** The cells that differ from what is expected: all reachable, except denied pairs while policy is enforced. */
export function unexpectedCells(m: Matrix, policyEnforced: boolean): { from: MatrixPod; to: MatrixPod }[] {
  const out: { from: MatrixPod; to: MatrixPod }[] = [];
  m.pods.forEach((from, i) => {
    m.pods.forEach((to, j) => {
      const expected = !(policyEnforced && m.denied[i]![j]);
      if (m.reachable[i]![j] !== expected) out.push({ from, to });
    });
  });
  return out;
}

export interface FelixStatus {
  inSync: boolean;
  endpoints: number;
  policies: number;
  lastApplyMs: number;
  problems?: string[];
}

export function felixLine(node: string, f: FelixStatus): string {
  const problems = f.problems && f.problems.length > 0 ? `; problems: ${f.problems.join('; ')}` : '';
  return (
    `${node}: felix ${f.inSync ? 'in sync' : 'NOT in sync'}, ${f.endpoints} endpoint(s), ${f.policies} ` +
    `polic${f.policies === 1 ? 'y' : 'ies'} enforced, last apply ${f.lastApplyMs} ms${problems}`
  );
}
