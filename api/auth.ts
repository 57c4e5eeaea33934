// Bearer tokens from `--token-file`, in the spirit of Kubernetes' static token file: one per line,
// `TOKEN,USER[,readonly]` (blank lines and `#` comments ignored). A read-only token may GET (and watch) but not write.
// Tokens are compared in constant time and never logged.
import { timingSafeEqual } from 'node:crypto';

export interface TokenUser {
  user: string;
  readOnly: boolean;
}

export class TokenTable {
  private constructor(private readonly entries: { token: Buffer; who: TokenUser }[]) {}

  /** Parses the file's text; throws naming the line of a malformed entry. */
  static parse(text: string, source = 'token file'): TokenTable {
    const entries: { token: Buffer; who: TokenUser }[] = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const [token, user, mode, ...rest] = line.split(',').map((f) => f.trim());
      if (!token || !user || rest.length > 0 || (mode !== undefined && mode !== 'readonly')) {
        throw new Error(`${source} line ${i + 1}: expected TOKEN,USER[,readonly]`);
      }
      entries.push({ token: Buffer.from(token), who: { user, readOnly: mode === 'readonly' } });
    });
    if (entries.length === 0) throw new Error(`${source}: no tokens`);
    return new TokenTable(entries);
  }

  /** Who an `Authorization` header's bearer token belongs to, or undefined. */
  authenticate(header: string | undefined): TokenUser | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) return undefined;
    const given = Buffer.from(match[1]!);
    let found: TokenUser | undefined;
    // Every entry is compared, so the time taken does not say which prefix matched.
    for (const { token, who } of this.entries) {
      if (token.length === given.length && timingSafeEqual(token, given)) found = who;
    }
    return found;
  }
}
