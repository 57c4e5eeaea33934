// tabby-apiserver's Prometheus metrics (issue 8): requests by route and code, their latency, the open watch
// streams, and prom-client's process metrics. Each server has its own registry, so several servers in one process
// (tests) keep their own counts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { kindOfPlural } from '../datastore';

/** Seconds, 1 ms to 10 s: a GET of one object takes about a millisecond, a list of thousands over a slow etcd seconds. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The route of a request no route matched: its URL would make a new series for every path a scanner tries. */
const UNMATCHED_ROUTE = 'unmatched';

/**
 * The `route` label: the route's pattern with the group, version and plural filled in when they name a kind
 * (`/apis/projectcalico.org/v3/ippools/:name`), so there is one series per kind and verb, and never more.
 */
function routeLabel(req: FastifyRequest): string {
  const pattern = req.routeOptions.url;
  if (req.is404 || pattern === undefined) return UNMATCHED_ROUTE;
  const { group, version, plural } = req.params as { group?: string; version?: string; plural?: string };
  if (plural === undefined || !kindOfPlural(`${group}/${version}`, plural)) return pattern;
  const filled: Record<string, string | undefined> = { ':group': group, ':version': version, ':plural': plural };
  return pattern
    .split('/')
    .map((segment) => filled[segment] ?? segment)
    .join('/');
}

export class ApiMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'tabby_apiserver_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code (a watch when its stream closes)',
    labelNames: ['method', 'route', 'code'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'tabby_apiserver_request_duration_seconds',
    help: 'Time to answer a request, by method and route pattern (for a watch: to set it up, not its lifetime)',
    labelNames: ['method', 'route'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly watchStreams = new Gauge({
    name: 'tabby_apiserver_watch_streams',
    help: 'Open watch streams, by resource (plural.group)',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });
  /** Watches, which count themselves when their stream closes: onResponse misses a stream the client drops. */
  private readonly streaming = new WeakSet<FastifyRequest>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Every answered request but a watch's: fastify's onResponse hook. */
  answered(req: FastifyRequest, reply: FastifyReply): void {
    if (this.streaming.has(req)) return;
    const labels = { method: req.method, route: routeLabel(req) };
    this.duration.observe(labels, reply.elapsedTime / 1000);
    this.requests.inc({ ...labels, code: reply.statusCode });
  }

  /**
   * A watch has taken over its (hijacked) reply: it is open until the connection closes, and counted then, once,
   * with the status it was answered with (200, or 410 for a compacted resourceVersion).
   */
  watchStarted(reply: FastifyReply, resourceLabel: string): void {
    const req = reply.request;
    const labels = { method: req.method, route: routeLabel(req) };
    const resource = { resource: resourceLabel };
    const closed = () => {
      this.watchStreams.dec(resource);
      this.requests.inc({ ...labels, code: reply.statusCode });
    };
    this.streaming.add(req);
    this.duration.observe(labels, reply.elapsedTime / 1000);
    this.watchStreams.inc(resource);
    // A client gone while the watch listed has closed the connection already: no 'close' is coming.
    if (reply.raw.destroyed) closed();
    else reply.raw.once('close', closed);
  }
}

/** Counts every request and serves `/metrics` in Prometheus' text format. */
export function registerMetrics(app: FastifyInstance, metrics: ApiMetrics): void {
  app.addHook('onResponse', (req, reply, done) => {
    metrics.answered(req, reply);
    done();
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
