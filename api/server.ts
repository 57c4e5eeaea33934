// tabby-apiserver's HTTP surface (CONTRACT §5), over the same ResourceClient tabbyctl writes through (so the same
// defaults and validation): Kubernetes-style resource paths for every kind (whole lists from list-cache.ts, pages
// with limit/continue), errors as Kubernetes Status objects, bearer tokens and client certificates, health, watch
// of one kind or several (/watch/v1); /ipam/v1 (ipam-routes.ts), /metrics (metrics.ts), /openapi.json and the /docs
// page (openapi.ts), the dashboard at /ui (dashboard.ts).
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { parse as parseYaml } from 'yaml';
import {
  type Backend,
  KINDS,
  type KindInfo,
  kindOfPlural,
  kindOfResource,
  type ListCursor,
  type ListOptions,
  listKinds,
  listMatcher,
  type Resource,
  ResourceClient,
  resourceName,
  watchKinds,
} from '../datastore';
import { DatastoreIpamOperations, ipPoolDeletionHooks } from '../ipam';
import { SelectorParseError } from '../policy';
import type { TokenTable, TokenUser } from './auth';
import { DASHBOARD_PATHS, registerDashboard } from './dashboard';
import { registerIpamRoutes } from './ipam-routes';
import { ListCache } from './list-cache';
import { ApiMetrics, registerMetrics } from './metrics';
import { registerApiDocs } from './openapi';
import { decodeContinue, encodeContinue } from './paths';
import { type Status, status, statusOfError } from './status';

export interface ApiServerOptions {
  backend: Backend;
  /** Without tokens every request is served (a listener on loopback, tests). */
  tokens?: TokenTable;
  /** pino options for the request log, or false. Authorization headers are never logged. */
  logger?: boolean | object;
  /** Largest request body, in bytes (413 above it). Default 1 MiB, as the Kubernetes API server's default. */
  bodyLimit?: number;
  /** TLS (node:tls options: cert, key, and with ca + requestCert client-certificate authentication). */
  https?: { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean };
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Paths anyone may read: a load balancer's or kubelet's probes carry no token; the dashboard's files hold no data. */
const UNAUTHENTICATED = new Set(['/healthz', '/readyz', ...DASHBOARD_PATHS]);
const READY_TIMEOUT_MS = 2000;

interface ResourcePath {
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
}

class StatusError extends Error {
  constructor(readonly body: Status) {
    super(body.message);
  }
}

function fail(code: number, reason: string, message: string): never {
  throw new StatusError(status(code, reason, message));
}

function kindOfPath(p: ResourcePath): KindInfo {
  const apiVersion = `${p.group}/${p.version}`;
  const kind = kindOfPlural(apiVersion, p.plural);
  if (!kind) fail(404, 'NotFound', `the server could not find the requested resource (${apiVersion} ${p.plural})`);
  if (p.namespace !== undefined && !kind.namespaced) {
    fail(404, 'NotFound', `${kind.kind} is cluster-scoped: it has no namespaced path`);
  }
  return kind;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The request body as a resource of the path's kind (and namespace, and name); 400 where it says otherwise. */
function bodyResource(body: unknown, kind: KindInfo, p: ResourcePath): Resource {
  if (!isObject(body)) fail(400, 'BadRequest', 'the request body must be a JSON or YAML object');
  const doc = { ...body, apiVersion: body.apiVersion ?? kind.apiVersion, kind: body.kind ?? kind.kind } as Resource;
  if (doc.apiVersion !== kind.apiVersion || doc.kind !== kind.kind) {
    fail(400, 'BadRequest', `the body is ${doc.apiVersion} ${doc.kind}, the path ${kind.apiVersion} ${kind.kind}`);
  }
  const metadata: Record<string, unknown> = isObject(doc.metadata) ? { ...doc.metadata } : {};
  if (p.namespace !== undefined) {
    if (metadata.namespace !== undefined && metadata.namespace !== p.namespace) {
      fail(400, 'BadRequest', `metadata.namespace "${metadata.namespace}" is not the path's "${p.namespace}"`);
    }
    metadata.namespace = p.namespace;
  }
  if (p.name !== undefined) {
    if (metadata.name !== undefined && metadata.name !== p.name) {
      fail(400, 'BadRequest', `metadata.name "${metadata.name}" is not the path's "${p.name}"`);
    }
    metadata.name = p.name;
  }
  return { ...doc, metadata } as unknown as Resource;
}

/**
 * A client certificate the TLS handshake verified against --client-ca authenticates its subject's CN, as
 * Kubernetes does: the user may then come without a token.
 */
function certificateUser(req: FastifyRequest): TokenUser | undefined {
  const socket = req.raw.socket as TLSSocket;
  if (!socket.encrypted || !socket.authorized) return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  return { user: typeof cn === 'string' && cn !== '' ? cn : 'client-certificate', readOnly: false };
}

/** The largest page a list returns: a bigger `limit` is served as this one (Kubernetes also caps pages). */
const MAX_PAGE = 10_000;

/** `limit` and `continue` (Kubernetes' paging); undefined for a whole list. */
function listPageOf(query: Record<string, string>): { limit: number; from?: ListCursor } | undefined {
  const { limit, continue: token } = query;
  if (limit !== undefined && !/^\d+$/.test(limit))
    fail(400, 'BadRequest', `limit must be a whole number, got "${limit}"`);
  let from: ListCursor | undefined;
  if (token !== undefined && token !== '') {
    from = decodeContinue(token);
    if (!from) fail(400, 'BadRequest', 'continue: not a continue token from this server');
  }
  // limit=0 (or none) with a continue token: the rest of the list, as Kubernetes serves it.
  const size = limit === undefined || limit === '0' ? (from ? MAX_PAGE : 0) : Math.min(Number(limit), MAX_PAGE);
  return size === 0 ? undefined : { limit: size, ...(from ? { from } : {}) };
}

/** Kubernetes' DeleteOptions body: `preconditions.resourceVersion` deletes only that version (409 otherwise). */
function deletePrecondition(body: unknown): string | undefined {
  if (!isObject(body) || !isObject(body.preconditions)) return undefined;
  const version = body.preconditions.resourceVersion;
  if (version !== undefined && typeof version !== 'string') {
    fail(400, 'BadRequest', 'preconditions.resourceVersion must be a string');
  }
  return version;
}

/** RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** How long a watch waits for the store to refuse its revision before it answers 200 and starts streaming. */
const WATCH_START_MS = 200;

/** What a watch follows: one kind (a resource path's `?watch=true`) or several (`/watch/v1?resources=`). */
interface WatchRequest {
  kinds: readonly KindInfo[];
  options: ListOptions;
  resourceVersion: string | undefined;
  /** Kubernetes' allowWatchBookmarks: a BOOKMARK event marks the end of the initial objects. */
  bookmarks: boolean;
}

/**
 * A watch: newline-delimited `{"type": ADDED|MODIFIED|DELETED, "object": ...}`, as Kubernetes streams them.
 * From `resourceVersion` N: the changes after N; without it, every current object as ADDED first (all read at one
 * revision), then a BOOKMARK with that revision when asked for, then the changes. A DELETED object carries the
 * revision of its deletion, as in Kubernetes, so a client resumes after it. A compacted N is `410 Gone` (an ERROR
 * event once streaming has begun), as Kubernetes: the client lists again.
 */
async function watchResources(
  client: ResourceClient,
  { kinds, options, resourceVersion, bookmarks }: WatchRequest,
  reply: FastifyReply,
  metrics: ApiMetrics,
): Promise<void> {
  const matches = listMatcher(kinds[0]!, options);
  let initial: Resource[] = [];
  let after = resourceVersion;
  const fromNow = after === undefined || after === '' || after === '0';
  if (fromNow) {
    const listed = await listKinds(client.store, kinds);
    initial = listed.items.filter(matches);
    after = listed.revision;
  } else if (!/^\d+$/.test(after!)) {
    fail(400, 'BadRequest', `resourceVersion must be a number, got "${after}"`);
  }
  reply.hijack();
  metrics.watchStarted(reply, kinds.length === 1 ? resourceName(kinds[0]!) : SEVERAL_RESOURCES);
  const res = reply.raw;
  // The client left while the list was read: no stream to open, and 'close' has already fired.
  if (res.destroyed) return;
  let started = false;
  const pending: string[] = [];
  const send = (line: string) => {
    if (started) res.write(line);
    else pending.push(line);
  };
  const start = () => {
    if (started || res.destroyed) return;
    started = true;
    res.writeHead(200, { 'content-type': 'application/json;stream=watch', 'cache-control': 'no-cache' });
    // The client sees the stream open before the first event, which may be long in coming.
    res.flushHeaders();
    for (const line of pending.splice(0)) res.write(line);
  };
  const event = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;
  for (const object of initial) send(event('ADDED', object));
  if (fromNow && bookmarks) {
    const end = { 'k8s.io/initial-events-end': 'true' };
    send(event('BOOKMARK', { metadata: { resourceVersion: after, annotations: end } }));
  }
  const watch = watchKinds(client.store, kinds, after!, {
    onEvents: (events) => {
      for (const e of events) {
        if (!matches(e.object)) continue;
        const { object } = e;
        const deleted = { ...object, metadata: { ...object.metadata, resourceVersion: e.revision } };
        send(event(e.type, e.type === 'DELETED' ? deleted : object));
      }
    },
    onError: (err) => {
      const body = statusOfError(err) ?? status(500, 'InternalError', err.message);
      if (!started && !res.destroyed) {
        started = true;
        res.writeHead(body.code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      } else if (!res.destroyed) res.end(event('ERROR', body));
      watch.close();
    },
  });
  const timer = setTimeout(start, WATCH_START_MS);
  res.on('close', () => {
    clearTimeout(timer);
    watch.close();
  });
}

/** The `resource` label of a watch of several resources (one label for any set: a bounded number of series). */
const SEVERAL_RESOURCES = 'several';

/** `/watch/v1?resources=nodes.projectcalico.org,networkpolicies.networking.k8s.io`: the kinds, each once. */
function kindsOfResources(text: string | undefined): KindInfo[] {
  if (text === undefined || text.trim() === '') {
    fail(400, 'BadRequest', 'resources: give one or more plural.group, e.g. nodes.projectcalico.org');
  }
  const kinds = new Set<KindInfo>();
  for (const resource of text.split(',').map((r) => r.trim())) {
    const kind = kindOfResource(resource);
    if (!kind) fail(404, 'NotFound', `the server could not find the requested resource (${resource})`);
    kinds.add(kind);
  }
  return [...kinds];
}

const isTrue = (value: string | undefined) => value === 'true' || value === '1';

export function buildApiServer(opts: ApiServerOptions): FastifyInstance {
  const client = new ResourceClient(opts.backend, ipPoolDeletionHooks(opts.backend));
  const lists = new ListCache(opts.backend);
  const metrics = new ApiMetrics();
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Watch streams never end by themselves: closing the server ends them (their clients resume elsewhere).
    forceCloseConnections: true,
    ...(opts.https ? { https: opts.https } : {}),
  }) as unknown as FastifyInstance;

  // JSON (and a merge patch, which is JSON) through fastify's own parser, which refuses __proto__ and constructor
  // keys; an empty body is no body, as a DELETE from kubectl or curl may name a JSON type and send nothing. YAML as
  // tabbyctl reads it.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    ['application/json', 'application/merge-patch+json'],
    { parseAs: 'string' },
    (req, body, done) => (body === '' ? done(null, undefined) : parseJson(req, body as string, done)),
  );
  app.addContentTypeParser(['application/yaml', 'application/x-yaml'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseYaml(body as string));
    } catch (err) {
      done(Object.assign(new Error(`malformed body: ${(err as Error).message}`), { statusCode: 400 }), undefined);
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    const tokens = opts.tokens;
    if (!tokens || UNAUTHENTICATED.has(req.url.split('?')[0]!)) return;
    const who = tokens.authenticate(req.headers.authorization) ?? certificateUser(req);
    if (!who) {
      reply.code(401).send(status(401, 'Unauthorized', 'a valid bearer token is required'));
      return reply;
    }
    if (who.readOnly && WRITE_METHODS.has(req.method)) {
      reply.code(403).send(status(403, 'Forbidden', `user "${who.user}" may only read`));
      return reply;
    }
  });

  app.setErrorHandler((err: Error, _req, reply) => {
    if (err instanceof StatusError) return reply.code(err.body.code).send(err.body);
    const known = statusOfError(err);
    if (known) return reply.code(known.code).send(known);
    if (err instanceof SelectorParseError) return reply.code(400).send(status(400, 'BadRequest', err.message));
    const code = (err as { statusCode?: number }).statusCode;
    if (code === 413) return reply.code(413).send(status(413, 'RequestEntityTooLarge', err.message));
    if (code === 415) return reply.code(415).send(status(415, 'UnsupportedMediaType', err.message));
    if (code !== undefined && code >= 400 && code < 500) {
      return reply.code(400).send(status(400, 'BadRequest', err.message));
    }
    reply.log.error({ err }, 'request failed');
    return reply.code(500).send(status(500, 'InternalError', 'internal error; the server log has the details'));
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(status(404, 'NotFound', `no route for ${req.method} ${req.url.split('?')[0]}`));
  });

  app.get('/healthz', async () => 'ok');
  app.get('/readyz', async (_req, reply) => {
    try {
      const probe = opts.backend.list(KINDS.find((k) => k.kind === 'IPPool')!);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('datastore did not answer')), READY_TIMEOUT_MS);
      });
      await Promise.race([probe, timeout]).finally(() => clearTimeout(timer));
      return 'ok';
    } catch (err) {
      return reply.code(503).send(status(503, 'ServiceUnavailable', (err as Error).message));
    }
  });

  const collection = async (
    req: FastifyRequest<{ Params: ResourcePath; Querystring: Record<string, string> }>,
    reply: FastifyReply,
  ) => {
    const kind = kindOfPath(req.params);
    const options: ListOptions = { namespace: req.params.namespace, labelSelector: req.query.labelSelector };
    if (isTrue(req.query.watch)) {
      const { resourceVersion, allowWatchBookmarks } = req.query;
      const watch = { kinds: [kind], options, resourceVersion, bookmarks: isTrue(allowWatchBookmarks) };
      return watchResources(client, watch, reply, metrics);
    }
    const page = listPageOf(req.query);
    if (!page) return reply.type('application/json; charset=utf-8').send(await lists.list(kind, options));
    const { items, revision, next } = await client.listPage(kind, options, page.limit, page.from);
    const metadata = { resourceVersion: revision, ...(next ? { continue: encodeContinue(next) } : {}) };
    return { apiVersion: kind.apiVersion, kind: `${kind.kind}List`, metadata, items };
  };
  const create = async (req: FastifyRequest<{ Params: ResourcePath }>, reply: FastifyReply) => {
    const kind = kindOfPath(req.params);
    reply.code(201);
    return client.create(bodyResource(req.body, kind, req.params));
  };
  const getOne = async (req: FastifyRequest<{ Params: ResourcePath }>) => {
    const kind = kindOfPath(req.params);
    return client.get(kind, req.params.name!, req.params.namespace);
  };
  const replace = async (req: FastifyRequest<{ Params: ResourcePath }>) => {
    const kind = kindOfPath(req.params);
    return client.replace(bodyResource(req.body, kind, req.params));
  };
  const patch = async (req: FastifyRequest<{ Params: ResourcePath }>) => {
    const kind = kindOfPath(req.params);
    if (!isObject(req.body)) fail(400, 'BadRequest', 'a merge patch must be a JSON object');
    const existing = await client.get(kind, req.params.name!, req.params.namespace);
    const patched = mergePatch(existing, req.body) as Resource;
    // The version read: a write in between makes this a 409, not a lost update.
    patched.metadata = { ...patched.metadata, resourceVersion: existing.metadata.resourceVersion };
    return client.replace(bodyResource(patched, kind, req.params));
  };
  const remove = async (req: FastifyRequest<{ Params: ResourcePath }>) => {
    const kind = kindOfPath(req.params);
    return client.delete(kind, req.params.name!, req.params.namespace, deletePrecondition(req.body));
  };

  for (const prefix of ['/apis/:group/:version', '/apis/:group/:version/namespaces/:namespace']) {
    app.get(`${prefix}/:plural`, collection);
    app.post(`${prefix}/:plural`, create);
    app.get(`${prefix}/:plural/:name`, getOne);
    app.put(`${prefix}/:plural/:name`, replace);
    app.patch(`${prefix}/:plural/:name`, patch);
    app.delete(`${prefix}/:plural/:name`, remove);
  }
  // tabby's extension: several kinds in one stream (a browser opens at most six connections to a server).
  app.get('/watch/v1', async (req: FastifyRequest<{ Querystring: Record<string, string> }>, reply) => {
    const { resources, labelSelector, resourceVersion, allowWatchBookmarks } = req.query;
    const kinds = kindsOfResources(resources);
    const watch = { kinds, options: { labelSelector }, resourceVersion, bookmarks: isTrue(allowWatchBookmarks) };
    return watchResources(client, watch, reply, metrics);
  });
  registerIpamRoutes(app, new DatastoreIpamOperations(opts.backend, 'tabby-apiserver'));
  registerDashboard(app);
  registerMetrics(app, metrics);
  registerApiDocs(app);
  return app;
}
