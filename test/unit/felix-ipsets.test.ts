// Felix's ipset engine without root: the member forms, the `ipset save` parser, the restore text the manager plans
// (create, deltas, swap rewrites, deletions) against an in-memory kernel that runs restore scripts as ipset does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalMember,
  formatCreate,
  IpSetManager,
  type IpSetManagerOptions,
  type IpsetBackend,
  IpsetError,
  MemberDelta,
  parseIpsetNames,
  parseIpsetSave,
  parseRestoreError,
  tempIpSetName,
} from '../../felix/ipsets';
import { ipSetNameForId, MAX_IP_SET_NAME_LENGTH, selectorIpSetId } from '../../policy';

interface FakeSet {
  type: string;
  maxElements: number;
  members: Set<string>;
}

/**
 * The kernel's sets as `ipset -exist restore` changes them: create (no-op when the same type exists), add, del,
 * swap (same type only), destroy (refused while `inUse` names the set). Scripts run line by line and stop at the
 * first failure, with ipset's message.
 */
class FakeKernel implements IpsetBackend {
  readonly sets = new Map<string, FakeSet>();
  /** Every restore, as its lines. */
  readonly scripts: string[][] = [];
  readonly inUse = new Set<string>();
  /** When set, `ipset save` of everything fails (an incompatible foreign set) and reads go one set at a time. */
  saveAllFails = false;
  /** Sets `ipset save <name>` cannot print. */
  readonly unprintable = new Set<string>();
  /** Awaited before each restore runs (to change the manager's state while one is in flight). */
  beforeRestore: (() => Promise<void>) | undefined;

  async saveAll(): Promise<string> {
    if (this.saveAllFails) throw new IpsetError('ipset save', 'ipset v7.17: Kernel and userspace incompatible');
    return [...this.sets.keys()].map((name) => this.saveText(name)).join('');
  }

  async listNames(): Promise<string[]> {
    return parseIpsetNames([...this.sets.keys()].join('\n'));
  }

  async save(name: string): Promise<string> {
    if (this.unprintable.has(name)) throw new IpsetError(`ipset save ${name}`, 'ipset v7.17: Kernel error');
    if (!this.sets.has(name)) {
      throw new IpsetError(`ipset save ${name}`, 'ipset v7.17: The set with the given name does not exist');
    }
    return this.saveText(name);
  }

  async restore(lines: readonly string[]): Promise<void> {
    this.scripts.push([...lines]);
    await this.beforeRestore?.();
    lines.forEach((line, index) => {
      const reason = this.run(line.split(' '));
      if (reason !== undefined) {
        throw new IpsetError('ipset -exist restore', `ipset v7.17: Error in line ${index + 1}: ${reason}\n`, {
          line: index + 1,
          text: line,
          reason,
        });
      }
    });
  }

  /** A set made by hand, as `ipset create` + `ipset add` would. */
  create(name: string, type: string, members: string[] = [], maxElements = 1_048_576): void {
    this.sets.set(name, { type, maxElements, members: new Set(members) });
  }

  members(name: string): string[] | undefined {
    const set = this.sets.get(name);
    return set && [...set.members].sort();
  }

  /** Drops the recorded scripts, returning them. */
  takeScripts(): string[][] {
    return this.scripts.splice(0);
  }

  private saveText(name: string): string {
    const { type, maxElements, members } = this.sets.get(name)!;
    const header = `create ${name} ${type} family inet hashsize 1024 maxelem ${maxElements} bucketsize 12 initval 0x1`;
    return [header, ...[...members].map((member) => `add ${name} ${member}`)].map((line) => `${line}\n`).join('');
  }

  /** Runs one restore command; returns ipset's reason when it fails. */
  private run([command, name, arg, ...rest]: string[]): string | undefined {
    const set = this.sets.get(name!);
    const missing = 'The set with the given name does not exist';
    switch (command) {
      case 'create': {
        const maxElements = Number(rest[rest.indexOf('maxelem') + 1]);
        if (set === undefined) this.sets.set(name!, { type: arg!, maxElements, members: new Set() });
        else if (set.type !== arg || set.maxElements !== maxElements) {
          return 'Set cannot be created: set with the same name already exists';
        }
        return undefined;
      }
      case 'add':
        if (set === undefined) return missing;
        if (set.members.size >= set.maxElements && !set.members.has(arg!)) return 'Hash is full';
        set.members.add(arg!);
        return undefined;
      case 'del':
        if (set === undefined) return missing;
        set.members.delete(arg!);
        return undefined;
      case 'swap': {
        const other = this.sets.get(arg!);
        if (set === undefined || other === undefined) return missing;
        if (set.type !== other.type) return 'The sets cannot be swapped: their type does not match';
        this.sets.set(name!, other);
        this.sets.set(arg!, set);
        return undefined;
      }
      case 'destroy':
        if (this.inUse.has(name!)) return 'Set cannot be destroyed: it is in use by a kernel component';
        this.sets.delete(name!);
        return undefined;
      default:
        return `Unknown command ${command}`;
    }
  }
}

const A = 'cali40s:aaaaaaaaaaaaaaaaaaaaaaa';
const B = 'cali40s:bbbbbbbbbbbbbbbbbbbbbbb';
const FOREIGN = 'KUBE-CLUSTER-IP';

function managerOn(kernel: FakeKernel, opts: Omit<IpSetManagerOptions, 'backend'> = {}): IpSetManager {
  return new IpSetManager({ backend: kernel, resyncIntervalMs: 0, ...opts });
}

describe('canonicalMember', () => {
  it('writes members as the kernel prints them', () => {
    assert.equal(canonicalMember('hash:ip', '10.65.0.7'), '10.65.0.7');
    assert.equal(canonicalMember('hash:ip', '10.65.0.7/32'), '10.65.0.7');
    assert.equal(canonicalMember('hash:net', '10.65.0.7/24'), '10.65.0.0/24');
    assert.equal(canonicalMember('hash:net', '10.65.0.7/32'), '10.65.0.7');
    assert.equal(canonicalMember('hash:net', '10.65.0.7'), '10.65.0.7');
    assert.equal(canonicalMember('hash:ip,port', '10.65.0.7,TCP:80'), '10.65.0.7,tcp:80');
    assert.equal(canonicalMember('hash:ip,port', '10.65.0.7,sctp:0'), '10.65.0.7,sctp:0');
  });

  it('refuses what a set of the type cannot hold', () => {
    const cases: [Parameters<typeof canonicalMember>[0], string][] = [
      ['hash:ip', '10.65.0.0/24'],
      ['hash:ip', 'fd00::1'],
      ['hash:ip', '010.65.0.1'],
      ['hash:ip', ''],
      ['hash:net', '0.0.0.0/0'],
      ['hash:net', '10.65.0.0/33'],
      ['hash:ip,port', '10.65.0.7'],
      ['hash:ip,port', '10.65.0.7,icmp:8'],
      ['hash:ip,port', '10.65.0.7,tcp:65536'],
      ['hash:ip,port', '10.65.0.0/24,tcp:80'],
    ];
    for (const [type, member] of cases) {
      assert.throws(() => canonicalMember(type, member), new RegExp(`bad ${type} ipset member`), member);
    }
  });
});

describe('names', () => {
  it('names selector sets as Calico does, and their temporary sets alike', () => {
    const name = ipSetNameForId(selectorIpSetId("role == 'db'"));
    assert.match(name, /^cali40s:[A-Za-z0-9_-]{23}$/);
    assert.equal(name.length, MAX_IP_SET_NAME_LENGTH);
    assert.equal(tempIpSetName(name), `cali4t${name.slice(6)}`);
  });
});

describe('parseIpsetSave', () => {
  const listing = [
    `create ${FOREIGN} hash:ip,port family inet hashsize 1024 maxelem 65536 timeout 300 comment bucketsize 12`,
    `add ${FOREIGN} 10.96.0.1,tcp:443 timeout 200 comment "two words"`,
    `create cali40masq-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x5a`,
    'add cali40masq-ipam-pools 10.65.0.0/16',
    'add cali40masq-ipam-pools 10.66.0.9',
    'create cali4tmasq-ipam-pools hash:net family inet hashsize 1024 maxelem 10 bucketsize 12 initval 0x6b',
    'create foreign-list list:set size 8',
    `add foreign-list ${FOREIGN}`,
    `create ${A} hash:ip family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x7c`,
    '',
  ].join('\n');

  it('keeps the sets asked for, with metadata and members, and skips the others unparsed', () => {
    const sets = parseIpsetSave(listing, (name) => name.startsWith('cali4'));
    assert.deepEqual([...sets.keys()], ['cali40masq-ipam-pools', 'cali4tmasq-ipam-pools', A]);
    assert.deepEqual(sets.get('cali40masq-ipam-pools'), {
      metadata: { type: 'hash:net', family: 'inet', maxElements: 1_048_576 },
      members: ['10.65.0.0/16', '10.66.0.9'],
    });
    assert.deepEqual(sets.get(A)?.members, []);
  });

  it('reads a set without family or maxelem as matching nothing we want', () => {
    const sets = parseIpsetSave(listing, (name) => name === 'foreign-list');
    assert.deepEqual(sets.get('foreign-list'), {
      metadata: { type: 'list:set', family: '', maxElements: 0 },
      members: [FOREIGN],
    });
  });

  it('names the line at fault in a set of ours', () => {
    const ours = (name: string) => name.startsWith('cali40');
    assert.throws(() => parseIpsetSave(`add ${A} 10.0.0.1\n`, ours), /line 1 .*not created before/);
    assert.throws(() => parseIpsetSave(`create ${A}\n`, ours), /line 1 .*no set type/);
    assert.throws(() => parseIpsetSave(`create ${A} hash:ip maxelem x\n`, ours), /line 1 .*bad maxelem "x"/);
    assert.throws(() => parseIpsetSave(`create ${A} hash:ip\nflush ${A}\n`, ours), /line 2 .*unexpected command/);
    assert.throws(() => parseIpsetSave(`create ${A} hash:ip\ncreate ${A} hash:ip\n`, ours), /created twice/);
    assert.equal(parseIpsetSave('frobnicate other-set\n', ours).size, 0);
  });
});

describe('ipset text', () => {
  it('parses where a restore stopped', () => {
    assert.deepEqual(
      parseRestoreError("ipset v7.17: Error in line 3: Element cannot be added to the set: it's already added\n"),
      { line: 3, reason: "Element cannot be added to the set: it's already added" },
    );
    assert.equal(parseRestoreError('ipset v7.17: Kernel error received: Operation not permitted\n'), undefined);
  });

  it('sizes the hash of a large set from the start', () => {
    const metadata = { type: 'hash:ip', family: 'inet', maxElements: 1_048_576 };
    assert.equal(formatCreate(A, metadata, 4096), `create ${A} hash:ip family inet maxelem 1048576`);
    assert.equal(formatCreate(A, metadata, 100_000), `create ${A} hash:ip family inet hashsize 32768 maxelem 1048576`);
  });
});

describe('MemberDelta', () => {
  it('keeps only the difference from the kernel', () => {
    const delta = new MemberDelta();
    delta.replaceDesired(new Set(['a', 'b', 'c']));
    delta.loadKernel(['b', 'c', 'x']);
    assert.deepEqual([[...delta.toAdd], [...delta.toDelete]], [['a'], ['x']]);
    delta.add('x');
    delta.delete('a');
    delta.delete('b');
    assert.deepEqual([[...delta.toAdd], [...delta.toDelete], delta.inSync], [[], ['b'], false]);
    delta.deletedFromKernel('b');
    assert.equal(delta.inSync, true);
    // Written while it was unwanted again: it is extra in the kernel now.
    delta.add('n');
    delta.delete('n');
    delta.addedToKernel('n');
    assert.deepEqual([...delta.toDelete], ['n']);
  });
});

describe('IpSetManager', () => {
  it('creates the sets in one transaction, then writes nothing while nothing changes', async () => {
    const kernel = new FakeKernel();
    kernel.create(FOREIGN, 'hash:ip', ['10.96.0.1']);
    const manager = managerOn(kernel);
    manager.setIpSet({ name: B, type: 'hash:net', members: ['10.65.0.0/16', '10.66.0.9/32'], maxElements: 1000 });
    manager.setIpSet({ name: A, type: 'hash:ip', members: new Set(['10.65.0.2', '10.65.0.3']) });

    const first = await manager.apply();
    assert.deepEqual(kernel.takeScripts(), [
      [
        `create ${A} hash:ip family inet maxelem 1048576`,
        `add ${A} 10.65.0.2`,
        `add ${A} 10.65.0.3`,
        `create ${B} hash:net family inet maxelem 1000`,
        `add ${B} 10.65.0.0/16`,
        `add ${B} 10.66.0.9`,
      ],
    ]);
    assert.deepEqual([first.readKernel, first.written, first.lines], [true, [A, B], 6]);
    assert.deepEqual(kernel.members(FOREIGN), ['10.96.0.1']);

    const second = await manager.apply();
    assert.deepEqual([second.readKernel, second.written, second.lines], [false, [], 0]);
    // Setting the same members again changes nothing either, nor does a fresh reading of the kernel.
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.0.3/32', '10.65.0.2'] });
    manager.markDirty();
    const third = await manager.apply();
    assert.deepEqual([third.readKernel, third.lines], [true, 0]);
    assert.deepEqual(kernel.takeScripts(), []);
  });

  it('writes member changes as deletes, then adds', async () => {
    const kernel = new FakeKernel();
    const manager = managerOn(kernel);
    manager.setIpSet({ name: A, type: 'hash:ip,port', members: ['10.65.0.2,tcp:80', '10.65.0.3,udp:53'] });
    await manager.apply();
    kernel.takeScripts();

    manager.addMembers(A, ['10.65.0.4,TCP:8080', '10.65.0.2,tcp:80']);
    manager.removeMembers(A, ['10.65.0.3,udp:53']);
    // Added and removed before any apply: never written.
    manager.addMembers(A, ['10.65.0.9,sctp:9']);
    manager.removeMembers(A, ['10.65.0.9,sctp:9']);
    await manager.apply();
    assert.deepEqual(kernel.takeScripts(), [[`del ${A} 10.65.0.3,udp:53`, `add ${A} 10.65.0.4,tcp:8080`]]);
    assert.deepEqual(manager.desiredMembers(A), new Set(['10.65.0.2,tcp:80', '10.65.0.4,tcp:8080']));
    assert.deepEqual(kernel.members(A), ['10.65.0.2,tcp:80', '10.65.0.4,tcp:8080']);
  });

  it('rewrites a set through its temporary set when the delta is larger than the set', async () => {
    const kernel = new FakeKernel();
    const manager = managerOn(kernel);
    const old = Array.from({ length: 10 }, (_, i) => `10.65.0.${i + 10}`);
    manager.setIpSet({ name: A, type: 'hash:ip', members: old });
    await manager.apply();
    kernel.takeScripts();

    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.1.1', '10.65.1.2'] });
    await manager.apply();
    const temp = tempIpSetName(A);
    assert.deepEqual(kernel.takeScripts(), [
      [
        `create ${temp} hash:ip family inet maxelem 1048576`,
        `add ${temp} 10.65.1.1`,
        `add ${temp} 10.65.1.2`,
        `swap ${A} ${temp}`,
        `destroy ${temp}`,
      ],
    ]);
    assert.deepEqual(kernel.members(A), ['10.65.1.1', '10.65.1.2']);
    assert.equal(kernel.sets.has(temp), false);
    assert.equal((await manager.apply()).lines, 0);
  });

  it('swaps in a set whose size changed, and recreates one whose type changed', async () => {
    const kernel = new FakeKernel();
    kernel.create(A, 'hash:ip', ['10.65.0.2'], 65536);
    kernel.create(B, 'hash:ip', ['10.65.0.3']);
    const manager = managerOn(kernel);
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.0.2'] });
    manager.setIpSet({ name: B, type: 'hash:net', members: ['10.65.0.0/24'] });
    await manager.apply();
    const temp = tempIpSetName(A);
    assert.deepEqual(kernel.takeScripts(), [
      [
        `create ${temp} hash:ip family inet maxelem 1048576`,
        `add ${temp} 10.65.0.2`,
        `swap ${A} ${temp}`,
        `destroy ${temp}`,
        `destroy ${B}`,
        `create ${B} hash:net family inet maxelem 1048576`,
        `add ${B} 10.65.0.0/24`,
      ],
    ]);
    assert.equal(kernel.sets.get(A)?.maxElements, 1_048_576);
    assert.equal(kernel.sets.get(B)?.type, 'hash:net');
  });

  it('destroys a temporary set left behind, first thing', async () => {
    const kernel = new FakeKernel();
    const temp = tempIpSetName(A);
    kernel.create(temp, 'hash:ip', ['10.65.0.2']);
    const manager = managerOn(kernel);
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.0.2'] });
    await manager.apply();
    assert.deepEqual(kernel.takeScripts(), [
      [`destroy ${temp}`, `create ${A} hash:ip family inet maxelem 1048576`, `add ${A} 10.65.0.2`],
    ]);
  });

  it('destroys unwanted sets of ours only in applyDeletions, never a foreign one', async () => {
    const kernel = new FakeKernel();
    kernel.create(FOREIGN, 'hash:ip');
    kernel.create(B, 'hash:ip', ['10.65.0.9']);
    const manager = managerOn(kernel);
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.0.2'] });
    await manager.apply();
    kernel.takeScripts();

    manager.removeIpSet(A);
    manager.removeIpSet('cali40s:never-wanted');
    assert.equal(manager.desiredMembers(A), undefined);
    assert.equal((await manager.apply()).lines, 0);
    assert.equal(kernel.sets.has(A), true);

    const deletions = await manager.applyDeletions();
    assert.deepEqual(kernel.takeScripts(), [[`destroy ${A}`, `destroy ${B}`]]);
    assert.deepEqual(deletions, { destroyed: [A, B], failed: [] });
    assert.deepEqual([...kernel.sets.keys()], [FOREIGN]);
    assert.deepEqual(await manager.applyDeletions(), { destroyed: [], failed: [] });
    assert.deepEqual(kernel.takeScripts(), []);
  });

  it('goes on past a set the kernel will not destroy, and tries it again after the next reading', async () => {
    const kernel = new FakeKernel();
    const C = 'cali40s:ccccccccccccccccccccccc';
    for (const name of [A, B, C]) kernel.create(name, 'hash:ip');
    kernel.inUse.add(B);
    const manager = managerOn(kernel);

    const deletions = await manager.applyDeletions();
    assert.deepEqual(deletions, {
      destroyed: [A, C],
      failed: [{ name: B, reason: 'Set cannot be destroyed: it is in use by a kernel component' }],
    });
    assert.deepEqual(kernel.takeScripts(), [[`destroy ${A}`, `destroy ${B}`, `destroy ${C}`], [`destroy ${C}`]]);
    assert.deepEqual(await manager.applyDeletions(), { destroyed: [], failed: [] });

    kernel.inUse.clear();
    manager.markDirty();
    assert.deepEqual(await manager.applyDeletions(), { destroyed: [B], failed: [] });
    assert.equal(kernel.sets.size, 0);
  });

  it('repairs drift after markDirty: a member removed or added by hand, a set destroyed', async () => {
    const kernel = new FakeKernel();
    const manager = managerOn(kernel);
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.0.2', '10.65.0.3', '10.65.0.4', '10.65.0.5'] });
    manager.setIpSet({ name: B, type: 'hash:net', members: ['10.65.0.0/24'] });
    await manager.apply();
    kernel.takeScripts();

    kernel.sets.get(A)!.members.delete('10.65.0.3');
    kernel.sets.get(A)!.members.add('10.65.0.66');
    kernel.sets.delete(B);
    assert.equal((await manager.apply()).lines, 0, 'the known state is trusted until markDirty');

    manager.markDirty();
    const repair = await manager.apply();
    assert.deepEqual(kernel.takeScripts(), [
      [
        `del ${A} 10.65.0.66`,
        `add ${A} 10.65.0.3`,
        `create ${B} hash:net family inet maxelem 1048576`,
        `add ${B} 10.65.0.0/24`,
      ],
    ]);
    assert.equal(repair.readKernel, true);
    assert.deepEqual(kernel.members(A), ['10.65.0.2', '10.65.0.3', '10.65.0.4', '10.65.0.5']);
  });

  it('re-reads the kernel once the resync interval has passed', async () => {
    const kernel = new FakeKernel();
    let now = 1000;
    const manager = managerOn(kernel, { resyncIntervalMs: 90_000, now: () => now });
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.0.2'] });
    await manager.apply();
    kernel.sets.get(A)!.members.clear();
    now += 89_999;
    assert.deepEqual([(await manager.apply()).readKernel, kernel.members(A)], [false, []]);
    now += 1;
    assert.deepEqual([(await manager.apply()).readKernel, kernel.members(A)], [true, ['10.65.0.2']]);
  });

  it('reports the failing line, and reads the kernel again on the next apply', async () => {
    const kernel = new FakeKernel();
    const manager = managerOn(kernel);
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.0.2'] });
    await manager.apply();
    // Someone filled the set up to a smaller maxelem behind our back.
    kernel.sets.get(A)!.maxElements = 1;
    manager.addMembers(A, ['10.65.0.3']);
    await assert.rejects(
      manager.apply(),
      (err: unknown) =>
        err instanceof IpsetError &&
        err.message === `ipset -exist restore: line 1 "add ${A} 10.65.0.3": Hash is full` &&
        err.failure?.line === 1,
    );
    // The reading shows the set's real maxelem: the next apply rebuilds it.
    const next = await manager.apply();
    assert.equal(next.readKernel, true);
    assert.deepEqual(kernel.members(A), ['10.65.0.2', '10.65.0.3']);
    assert.equal(kernel.sets.get(A)?.maxElements, 1_048_576);
  });

  it('keeps changes made while a transaction runs for the next apply', async () => {
    const kernel = new FakeKernel();
    const manager = managerOn(kernel);
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.0.2', '10.65.0.3'] });
    await manager.apply();
    kernel.takeScripts();

    manager.addMembers(A, ['10.65.0.4']);
    manager.removeMembers(A, ['10.65.0.3']);
    kernel.beforeRestore = async () => {
      kernel.beforeRestore = undefined;
      manager.removeMembers(A, ['10.65.0.4']);
      manager.addMembers(A, ['10.65.0.3', '10.65.0.5']);
    };
    await manager.apply();
    await manager.apply();
    assert.deepEqual(kernel.takeScripts(), [
      [`del ${A} 10.65.0.3`, `add ${A} 10.65.0.4`],
      // 10.65.0.5 was missing from the start; 10.65.0.3 became missing when the first transaction deleted it.
      [`del ${A} 10.65.0.4`, `add ${A} 10.65.0.5`, `add ${A} 10.65.0.3`],
    ]);
    assert.deepEqual(kernel.members(A), ['10.65.0.2', '10.65.0.3', '10.65.0.5']);
  });

  it('destroys a set removed while the transaction creating it ran', async () => {
    const kernel = new FakeKernel();
    const manager = managerOn(kernel);
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.0.2'] });
    kernel.beforeRestore = async () => {
      kernel.beforeRestore = undefined;
      manager.removeIpSet(A);
    };
    await manager.apply();
    assert.equal(kernel.sets.has(A), true);
    assert.deepEqual(await manager.applyDeletions(), { destroyed: [A], failed: [] });
    assert.equal(kernel.sets.has(A), false);
  });

  it('reads set by set when ipset cannot save them all, and rebuilds a set it cannot read', async () => {
    const kernel = new FakeKernel();
    kernel.create(A, 'hash:ip', ['10.65.0.2']);
    kernel.create(B, 'hash:ip', ['10.65.0.9']);
    kernel.create(FOREIGN, 'hash:ip');
    kernel.saveAllFails = true;
    kernel.unprintable.add(B);
    const manager = managerOn(kernel);
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.65.0.2'] });
    manager.setIpSet({ name: B, type: 'hash:ip', members: ['10.65.0.3'] });
    await manager.apply();
    const temp = tempIpSetName(B);
    assert.deepEqual(kernel.takeScripts(), [
      [
        `create ${temp} hash:ip family inet maxelem 1048576`,
        `add ${temp} 10.65.0.3`,
        `swap ${B} ${temp}`,
        `destroy ${temp}`,
      ],
    ]);
    assert.deepEqual(kernel.members(B), ['10.65.0.3']);
  });

  it('refuses bad sets and members without changing anything', () => {
    const manager = managerOn(new FakeKernel());
    assert.throws(() => manager.setIpSet({ name: 'KUBE-X', type: 'hash:ip', members: [] }), /bad ipset name/);
    assert.throws(() => manager.setIpSet({ name: 'cali40', type: 'hash:ip', members: [] }), /bad ipset name/);
    assert.throws(() => manager.setIpSet({ name: `${A}x`, type: 'hash:ip', members: [] }), /longer than/);
    assert.throws(() => manager.setIpSet({ name: 'cali40a b', type: 'hash:ip', members: [] }), /bad ipset name/);
    assert.throws(
      () => manager.setIpSet({ name: A, type: 'list:set' as 'hash:ip', members: [] }),
      /unsupported type "list:set"/,
    );
    assert.throws(() => manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.0.0.0/8'] }), /bad hash:ip/);
    assert.throws(
      () => manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.0.0.1', '10.0.0.2'], maxElements: 1 }),
      /2 members, more than its maxElements 1/,
    );
    assert.throws(() => manager.addMembers(A, ['10.0.0.1']), /not a wanted set/);
    manager.setIpSet({ name: A, type: 'hash:ip', members: ['10.0.0.1'], maxElements: 2 });
    assert.throws(() => manager.addMembers(A, ['10.0.0.2', '10.0.0.3']), /3 members/);
    assert.throws(() => manager.addMembers(A, ['10.0.0.2', 'nonsense']), /bad hash:ip/);
    assert.deepEqual(manager.desiredMembers(A), new Set(['10.0.0.1']));
  });
});
