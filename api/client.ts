// The client half of tabby-apiserver: a ResourceStore and IpamOperations over HTTP(S), so that tabbyctl's one
// set of commands (and the ResourceClient's defaults and validation under them) runs against the API server as it
// does against etcd. Server errors come back as the datastore's and IPAM's own error types, so messages and exit
// codes are the same either way; the server validates again and is the authority.
import http from 'node:http';
import https from 'node:https';
import {
  DatastoreError,
  type DatastoreErrorCode,
  type KindInfo,
  type ListPage,
  type ListResult,
  type Resource,
  type ResourceStore,
  resolveKind,
  type Watch,
  type WatchEvent,
  type WatchHandlers,
  type WatchOptions,
} from '../datastore';
import { type AllocationBlock, type IpamCheckReport, IpamError, type IpamOperations, type Utilization } from '../ipam';
import { collectionPath, encodeContinue, objectPath } from './paths';
import type { Status } from './status';

export interface ApiClientOptions {
  /** The server's base URL, e.g. https://192.0.2.10:6443. */
  server: string;
  /** Bearer token (`--token`, TABBY_TOKEN). */
  token?: string;
  /** For HTTPS: the CA that signed the server's certificate, and a client certificate and key. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Deadline of each request but watches (default 10 s). */
  timeoutMs?: number;
}

interface Answer {
  code: number;
  body: unknown;
}

/** What a Status (or any error body) becomes on this side: the datastore's error codes, or a plain error. */
const CODE_OF_STATUS: Record<number, DatastoreErrorCode> = {
  400: 'Invalid',
  404: 'NotFound',
  410: 'Compacted',
  422: 'Invalid',
  503: 'Unavailable',
};

function isStatus(body: unknown): body is Status {
  return typeof body === 'object' && body !== null && (body as { kind?: unknown }).kind === 'Status';
}

export class ApiClient implements ResourceStore, IpamOperations {
  readonly description: string;
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;

  constructor(private readonly options: ApiClientOptions) {
    let base: URL;
    try {
      base = new URL(options.server);
    } catch {
      throw new DatastoreError('Invalid', `--server: "${options.server}" is not a URL such as https://host:6443`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new DatastoreError('Invalid', `--server: "${options.server}" must be an http:// or https:// URL`);
    }
    this.base = base;
    this.description = `tabby-apiserver at ${base.origin}`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.agent =
      base.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ca: options.ca, cert: options.cert, key: options.key })
        : new http.Agent({ keepAlive: true });
  }

  // ---- ResourceStore

  async get(kind: KindInfo, name: string, namespace?: string): Promise<Resource> {
    return (await this.call('GET', objectPath(kind, name, namespace))) as Resource;
  }

  async list(kind?: KindInfo, namespace?: string, page: ListPage = {}): Promise<ListResult> {
    if (!kind) throw new DatastoreError('Invalid', `${this.description} lists one kind at a time`);
    const query = new URLSearchParams();
    if (page.limit !== undefined) query.set('limit', String(page.limit));
    if (page.revision !== undefined) {
      query.set('continue', encodeContinue({ revision: page.revision, afterKey: page.afterKey ?? '' }));
    }
    const list = (await this.call('GET', collectionPath(kind, namespace), undefined, query)) as {
      items: Resource[];
      metadata: { resourceVersion: string; continue?: string };
    };
    return {
      items: list.items,
      revision: list.metadata.resourceVersion,
      ...(list.metadata.continue ? { more: true } : {}),
    };
  }

  async create(r: Resource): Promise<Resource> {
    return (await this.call('POST', collectionPath(resolveKind(r), r.metadata.namespace), r)) as Resource;
  }

  async update(r: Resource): Promise<Resource> {
    const kind = resolveKind(r);
    return (await this.call('PUT', objectPath(kind, r.metadata.name, r.metadata.namespace), r)) as Resource;
  }

  async delete(kind: KindInfo, name: string, namespace?: string, resourceVersion?: string): Promise<Resource> {
    // Kubernetes' DeleteOptions: the precondition makes the delete fail with 409 if the object changed.
    const options = resourceVersion
      ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion } }
      : undefined;
    return (await this.call('DELETE', objectPath(kind, name, namespace), options)) as Resource;
  }

  /**
   * Kubernetes' watch: one event per line. Each line is delivered as it arrives (the server does not mark which
   * events were one transaction). The watch ends with onError: an ERROR event, a 410, or the stream closing.
   */
  watch(options: WatchOptions, handlers: WatchHandlers): Watch {
    if (!options.kind) throw new DatastoreError('Invalid', `${this.description} watches one kind at a time`);
    const query = new URLSearchParams({ watch: 'true', resourceVersion: options.afterRevision });
    let ended = false;
    const end = (err: Error) => {
      if (ended) return;
      ended = true;
      req.destroy();
      handlers.onError(err);
    };
    const req = this.send('GET', collectionPath(options.kind), undefined, query, false);
    req.on('error', (err) => end(this.unreachable(err)));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        void readBody(res).then(
          (body) => end(this.errorOf({ code: res.statusCode ?? 500, body })),
          (err) => end(this.unreachable(err)),
        );
        return;
      }
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          if (ended || line.trim() === '') continue;
          let event: { type: string; object: Resource | Status };
          try {
            event = JSON.parse(line);
          } catch {
            end(
              new DatastoreError('Unavailable', `${this.description}: a watch event is not JSON: ${line.slice(0, 80)}`),
            );
            return;
          }
          if (event.type === 'ERROR') {
            end(this.errorOf({ code: (event.object as Status).code ?? 500, body: event.object }));
            return;
          }
          const object = event.object as Resource;
          const watchEvent: WatchEvent = {
            type: event.type as WatchEvent['type'],
            object,
            revision: object.metadata.resourceVersion ?? '',
          };
          handlers.onEvents([watchEvent]);
        }
      });
      res.on('end', () => end(new DatastoreError('Unavailable', `${this.description}: the watch stream ended`)));
      res.on('error', (err) => end(this.unreachable(err)));
    });
    req.end();
    return {
      close: () => {
        ended = true;
        req.destroy();
      },
    };
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  // ---- IpamOperations (/ipam/v1)

  async utilization(): Promise<Utilization> {
    return (await this.call('GET', '/ipam/v1/utilization')) as Utilization;
  }

  async blocks(): Promise<AllocationBlock[]> {
    return ((await this.call('GET', '/ipam/v1/blocks')) as { items: AllocationBlock[] }).items;
  }

  async check(): Promise<IpamCheckReport> {
    return (await this.call('GET', '/ipam/v1/check')) as IpamCheckReport;
  }

  async releaseAddress(ip: string): Promise<void> {
    try {
      await this.call('POST', '/ipam/v1/release', { ip });
    } catch (err) {
      if (err instanceof DatastoreError && err.code === 'NotFound') throw new IpamError('NotAssigned', err.message);
      throw err;
    }
  }

  // ---- HTTP

  private send(
    method: string,
    path: string,
    body: unknown,
    query: URLSearchParams | undefined,
    withTimeout: boolean,
  ): http.ClientRequest {
    const url = new URL(path + (query && query.size > 0 ? `?${query}` : ''), this.base);
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) {
      headers['content-type'] = 'application/json';
      // Node sends a DELETE's body neither chunked nor sized unless told its length.
      headers['content-length'] = payload.length;
    }
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request(url, { method, headers, agent: this.agent });
    if (withTimeout) {
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
    }
    if (payload) req.write(payload);
    return req;
  }

  private async call(method: string, path: string, body?: unknown, query?: URLSearchParams): Promise<unknown> {
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = this.send(method, path, body, query, true);
      req.on('error', (err) => reject(this.unreachable(err)));
      req.on('response', (res) => {
        readBody(res).then((parsed) => resolve({ code: res.statusCode ?? 500, body: parsed }), reject);
      });
      req.end();
    });
    if (answer.code >= 200 && answer.code < 300) return answer.body;
    throw this.errorOf(answer);
  }

  private unreachable(err: Error): DatastoreError {
    const code = (err as NodeJS.ErrnoException).code;
    // A certificate the other side does not accept is no outage: say it is TLS, with OpenSSL's or Node's code.
    if (code !== undefined && /^(ERR_SSL_|ERR_TLS_|CERT_|SELF_SIGNED|DEPTH_ZERO|UNABLE_TO_)/.test(code)) {
      return new DatastoreError('Unavailable', `${this.description}: TLS handshake failed: ${code}`);
    }
    return new DatastoreError('Unavailable', `${this.description} is unreachable: ${code ?? err.message}`);
  }

  private errorOf({ code, body }: Answer): Error {
    const message = isStatus(body) ? body.message : typeof body === 'string' ? body : JSON.stringify(body);
    const reason = isStatus(body) ? body.reason : '';
    const errorCode = code === 409 ? (reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict') : CODE_OF_STATUS[code];
    if (errorCode) return new DatastoreError(errorCode, message);
    // 401, 403 and the like are about the caller, not the data.
    return new Error(`${this.description}: ${message} (HTTP ${code})`);
  }
}

async function readBody(res: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!(res.headers['content-type'] ?? '').includes('json')) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
