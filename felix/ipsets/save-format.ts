// The text ipset speaks: `ipset save` listings in, `ipset restore` lines out, and its error messages. Pure.
import { IPV4_FAMILY, type IpSetMetadata } from './ipset';

/** One set of an `ipset save` listing. */
export interface SavedIpSet {
  metadata: IpSetMetadata;
  /** As the kernel prints them (canonical for the set's type). */
  members: string[];
}

/**
 * Parses `ipset save` output:
 *
 *   create cali40s:abc hash:ip family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x5a9c3f4e
 *   add cali40s:abc 10.65.0.7
 *
 * Only sets for which `isOurs(name)` holds are kept; lines of the others are skipped unparsed, whatever options or
 * extensions they use. A set without `family` or `maxelem` (list:set, bitmap:port) reads as family "" and
 * maxElements 0, so it never equals a set we want.
 */
export function parseIpsetSave(text: string, isOurs: (name: string) => boolean): Map<string, SavedIpSet> {
  const sets = new Map<string, SavedIpSet>();
  let lineStart = 0;
  let lineNumber = 0;
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = text.length;
    const line = text.slice(lineStart, lineEnd);
    lineStart = lineEnd + 1;
    lineNumber++;
    if (line.trim() === '') continue;
    const bad = (why: string) => new Error(`ipset save, line ${lineNumber} "${line}": ${why}`);
    // ipset writes one space between words; the name is looked at first so foreign sets cost no more than this.
    const commandEnd = line.indexOf(' ');
    if (commandEnd <= 0) throw bad('expected "<command> <set> ..."');
    let nameEnd = line.indexOf(' ', commandEnd + 1);
    if (nameEnd === -1) nameEnd = line.length;
    const name = line.slice(commandEnd + 1, nameEnd);
    if (!isOurs(name)) continue;
    const command = line.slice(0, commandEnd);
    const rest = line.slice(nameEnd + 1).split(' ');
    if (command === 'create') {
      if (sets.has(name)) throw bad('the set is created twice');
      const [type, ...options] = rest;
      if (!type) throw bad('no set type');
      sets.set(name, { metadata: parseCreateOptions(type, options, bad), members: [] });
    } else if (command === 'add') {
      const set = sets.get(name);
      if (set === undefined) throw bad('member of a set not created before');
      // Our sets have no per-member extensions (timeout, comment): the member is the one word after the name.
      const member = rest[0];
      if (!member) throw bad('no member');
      set.members.push(member);
    } else {
      throw bad(`unexpected command "${command}"`);
    }
  }
  return sets;
}

function parseCreateOptions(type: string, options: string[], bad: (why: string) => Error): IpSetMetadata {
  const metadata: IpSetMetadata = { type, family: '', maxElements: 0 };
  for (let i = 0; i < options.length; i++) {
    // Flags such as `counters` or `comment` stand alone; the options we read take a value.
    if (options[i] === 'family') {
      metadata.family = options[++i] ?? '';
    } else if (options[i] === 'maxelem') {
      const value = options[++i];
      if (value === undefined || !/^[0-9]+$/.test(value)) throw bad(`bad maxelem "${value ?? ''}"`);
      metadata.maxElements = Number(value);
    }
  }
  return metadata;
}

/** The names `ipset list -name` prints, one a line. */
export function parseIpsetNames(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/**
 * Below this many members the kernel's default of 1024 buckets is kept; above, the table starts at the size the
 * kernel would grow it to (about four members a bucket), which saves it rehashing while a large set is filled.
 */
const DEFAULT_HASH_SIZE = 1024;
const MEMBERS_PER_BUCKET = 4;

/** The `create` line of a set that will hold `memberCount` members. */
export function formatCreate(name: string, metadata: IpSetMetadata, memberCount: number): string {
  let hashSize = DEFAULT_HASH_SIZE;
  while (hashSize * MEMBERS_PER_BUCKET < memberCount) hashSize *= 2;
  const sizing = hashSize === DEFAULT_HASH_SIZE ? '' : ` hashsize ${hashSize}`;
  const family = metadata.family || IPV4_FAMILY;
  return `create ${name} ${metadata.type} family ${family}${sizing} maxelem ${metadata.maxElements}`;
}

/** Where `ipset restore` stopped, from its stderr (`ipset v7.17: Error in line 3: <reason>`). */
export interface RestoreFailure {
  /** 1-based line of the input. */
  line: number;
  reason: string;
}

export function parseRestoreError(stderr: string): RestoreFailure | undefined {
  const match = /Error in line (\d+): (.*)/.exec(stderr);
  if (match === null) return undefined;
  return { line: Number(match[1]), reason: match[2]!.trim() };
}

/** ipset's complaint about a set that does not exist (stable wording; felix matches it too). */
export function isMissingSetError(stderr: string): boolean {
  return stderr.includes('The set with the given name does not exist');
}
