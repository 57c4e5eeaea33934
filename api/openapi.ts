// tabby-apiserver's OpenAPI 3.1 document (`/openapi.json`, and the page at `/docs`), generated from the TypeBox
// schemas that validate every kind and from the Status errors are answered with: one definition each, so the
// document cannot drift from what the server accepts. OpenAPI 3.1's schemas are JSON Schema, as TypeBox's are.
import fastifySwagger, { type StaticDocumentSpec } from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CALICO_API_VERSION, KINDS, type KindInfo, kindId, RESOURCE_SCHEMAS } from '../datastore';
import { UtilizationSchema } from '../ipam';
import { StatusSchema } from './status';

/** A part of the document, as JSON: openapi-types' 3.1 typings cannot type a 3.1 path item (they mix in 3.0's). */
type Json = { [key: string]: unknown };
type Reference = { $ref: string };

/** A TypeBox schema as plain JSON Schema: JSON leaves out TypeBox's symbol-keyed tags (Kind, Optional). */
function jsonSchemaOf(schema: TSchema): Json {
  return JSON.parse(JSON.stringify(schema)) as Json;
}

function ref(section: 'schemas' | 'parameters' | 'responses', name: string): Reference {
  return { $ref: `#/components/${section}/${name}` };
}

/** A reference as a TypeBox schema, to compose component schemas out of each other. */
const schemaRef = (name: string) => Type.Unsafe(ref('schemas', name));

/** `projectcalico.org.v3.IPPool`, `networking.k8s.io.v1.NetworkPolicyList`: Kubernetes' way to name definitions. */
export function schemaName(kind: KindInfo, suffix = ''): string {
  return `${kind.apiVersion.replace('/', '.')}.${kind.kind}${suffix}`;
}

/** `IPPool (projectcalico.org/v3)`: the two NetworkPolicy kinds apart. */
function tagOf(kind: KindInfo): string {
  return `${kind.kind} (${kind.apiVersion})`;
}

/** `listProjectcalicoOrgV3IPPool`, `createNetworkingK8sIoV1NetworkPolicy`: unique across groups. */
function operationId(verb: string, kind: KindInfo, suffix = ''): string {
  const words = kind.apiVersion.split(/[^A-Za-z0-9]+/).map((w) => w[0]!.toUpperCase() + w.slice(1));
  return `${verb}${words.join('')}${kind.kind}${suffix}`;
}

// ---- Errors: every one is a Status; the reason names the response.

const ERRORS = {
  400: ['BadRequest', 'Malformed JSON or YAML, a bad selector, limit, continue token or resourceVersion'],
  401: ['Unauthorized', 'No valid bearer token (when the server has a --token-file)'],
  403: ['Forbidden', 'A read-only token tried to write'],
  404: ['NotFound', 'No such kind, object or route'],
  409: ['Conflict', 'The object exists already, or metadata.resourceVersion is not the stored one'],
  410: ['Expired', "The resourceVersion to watch from was compacted: list again, watch from the list's"],
  413: ['RequestEntityTooLarge', 'The body is over the size limit (1 MiB by default)'],
  415: ['UnsupportedMediaType', 'A body that is not JSON, YAML or (for PATCH) a JSON merge patch'],
  422: ['Invalid', 'The object breaks its schema or a validation rule: details.causes names the field'],
  503: ['ServiceUnavailable', 'The datastore did not answer'],
} as const;
type ErrorCode = keyof typeof ERRORS;

function errorResponses(codes: readonly ErrorCode[]): Record<string, Reference> {
  return Object.fromEntries(codes.map((code) => [String(code), ref('responses', ERRORS[code][0])]));
}

const READ_ERRORS: ErrorCode[] = [401, 404, 503];
const LIST_ERRORS: ErrorCode[] = [400, 401, 404, 410, 503];
const WRITE_ERRORS: ErrorCode[] = [400, 401, 403, 404, 409, 413, 415, 422, 503];
const DELETE_ERRORS: ErrorCode[] = [400, 401, 403, 404, 409, 503];

// ---- Resources

const PARAMETERS: Record<string, Json> = {
  namespace: { name: 'namespace', in: 'path', required: true, schema: { type: 'string' } },
  name: { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
  watch: {
    name: 'watch',
    in: 'query',
    description: 'Stream ADDED, MODIFIED and DELETED events as newline-delimited JSON instead of listing',
    schema: { type: 'boolean' },
  },
  labelSelector: {
    name: 'labelSelector',
    in: 'query',
    description: 'A Calico selector on the labels, e.g. `tier == "gold"`',
    schema: { type: 'string' },
  },
  limit: {
    name: 'limit',
    in: 'query',
    description: 'The most items to return; metadata.continue then names the next page',
    schema: { type: 'integer', minimum: 0 },
  },
  continue: {
    name: 'continue',
    in: 'query',
    description: "The previous page's metadata.continue",
    schema: { type: 'string' },
  },
  resourceVersion: {
    name: 'resourceVersion',
    in: 'query',
    description:
      'With watch: the changes after this revision (410 when it was compacted); without it a watch starts with ' +
      'every current object as ADDED',
    schema: { type: 'string', pattern: '^[0-9]*$' },
  },
  allowWatchBookmarks: {
    name: 'allowWatchBookmarks',
    in: 'query',
    description:
      'With watch and no resourceVersion: a BOOKMARK event (annotation k8s.io/initial-events-end) after the ' +
      'initial objects carries the revision they were read at',
    schema: { type: 'boolean' },
  },
  resources: {
    name: 'resources',
    in: 'query',
    required: true,
    description: 'The kinds to watch, as plural.group separated by commas, e.g. `nodes.projectcalico.org`',
    schema: { type: 'string' },
  },
};
const LIST_PARAMETERS = ['watch', 'labelSelector', 'limit', 'continue', 'resourceVersion', 'allowWatchBookmarks'].map(
  (p) => ref('parameters', p),
);

const ListMetaSchema = Type.Object({
  resourceVersion: Type.String({ description: 'The revision the list was read at: watch from here' }),
  continue: Type.Optional(Type.String({ description: 'Pass as `continue` for the next page; absent on the last' })),
});

const WatchEventSchema = Type.Object(
  {
    type: Type.Union(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'].map((t) => Type.Literal(t))),
    object: Type.Object(
      {},
      { description: 'The object as changed (deleted: at its deletion revision); a Status for ERROR' },
    ),
  },
  { description: 'One line of a watch stream (Content-Type application/json;stream=watch)' },
);

function listSchema(kind: KindInfo): TSchema {
  return Type.Object({
    apiVersion: Type.Literal(kind.apiVersion),
    kind: Type.Literal(`${kind.kind}List`),
    metadata: schemaRef('ListMeta'),
    items: Type.Array(schemaRef(schemaName(kind))),
  });
}

function json(schemaOrRef: Json | Reference) {
  return { 'application/json': { schema: schemaOrRef } };
}

/** The resource itself as a request body: JSON, or YAML as tabbyctl reads it. */
function resourceBody(kind: KindInfo): Json {
  const schema = ref('schemas', schemaName(kind));
  return { required: true, content: { ...json(schema), 'application/yaml': { schema } } };
}

const MERGE_PATCH_BODY: Json = {
  required: true,
  description: 'An RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else replaces',
  content: { 'application/merge-patch+json': { schema: { type: 'object' } } },
};

const DELETE_OPTIONS_BODY: Json = {
  required: false,
  description: "Kubernetes' DeleteOptions: with preconditions.resourceVersion, only that version is deleted",
  content: json(
    jsonSchemaOf(Type.Object({ preconditions: Type.Optional(Type.Object({ resourceVersion: Type.String() })) })),
  ),
};

/** The paths of one kind: its collection and its objects (and for a namespaced kind, every namespace's list). */
function kindPaths(kind: KindInfo): Record<string, Json> {
  const base = `/apis/${kind.apiVersion}`;
  const collection = kind.namespaced ? `${base}/namespaces/{namespace}/${kind.plural}` : `${base}/${kind.plural}`;
  const scope = kind.namespaced ? [ref('parameters', 'namespace')] : [];
  const one = { 200: { description: `The ${kind.kind}`, content: json(ref('schemas', schemaName(kind))) } };
  const operation = (verb: string, summary: string, rest: Json, suffix = ''): Json => ({
    tags: [tagOf(kind)],
    operationId: operationId(verb, kind, suffix),
    summary,
    ...rest,
  });
  const list = (suffix: string, where: string) =>
    operation(
      'list',
      `List or watch the ${kind.plural}${where}`,
      {
        parameters: LIST_PARAMETERS,
        responses: {
          200: {
            description: `The ${kind.kind}List, or with watch=true a stream of events`,
            content: {
              ...json(ref('schemas', schemaName(kind, 'List'))),
              'application/json;stream=watch': { schema: ref('schemas', 'WatchEvent') },
            },
          },
          ...errorResponses(LIST_ERRORS),
        },
      },
      suffix,
    );
  const paths: Record<string, Json> = {
    [collection]: {
      parameters: scope,
      get: list('', kind.namespaced ? ' of a namespace' : ''),
      post: operation('create', `Create a ${kind.kind}`, {
        requestBody: resourceBody(kind),
        responses: {
          201: { description: 'Created, with its defaults filled in', content: one[200].content },
          ...errorResponses(WRITE_ERRORS),
        },
      }),
    },
    [`${collection}/{name}`]: {
      parameters: [...scope, ref('parameters', 'name')],
      get: operation('read', `Read a ${kind.kind}`, { responses: { ...one, ...errorResponses(READ_ERRORS) } }),
      put: operation('replace', `Replace a ${kind.kind} (409 when metadata.resourceVersion is stale)`, {
        requestBody: resourceBody(kind),
        responses: { ...one, ...errorResponses(WRITE_ERRORS) },
      }),
      patch: operation('patch', `Merge-patch a ${kind.kind}`, {
        requestBody: MERGE_PATCH_BODY,
        responses: { ...one, ...errorResponses(WRITE_ERRORS) },
      }),
      delete: operation('delete', `Delete a ${kind.kind}`, {
        requestBody: DELETE_OPTIONS_BODY,
        responses: { 200: { ...one[200], description: 'The deleted object' }, ...errorResponses(DELETE_ERRORS) },
      }),
    },
  };
  if (kind.namespaced) paths[`${base}/${kind.plural}`] = { get: list('ForAllNamespaces', ' of every namespace') };
  return paths;
}

// ---- /ipam/v1 (api/ipam-routes.ts): what `tabbyctl ipam show|check|release` ask.

const IPAM_SCHEMAS: Record<string, TSchema> = {
  'ipam.v1.Utilization': UtilizationSchema,
  'ipam.v1.BlockList': Type.Object({
    items: Type.Array(
      Type.Object(
        { cidr: Type.String(), affinity: Type.Union([Type.String({ description: 'host:<node>' }), Type.Null()]) },
        { description: 'An allocation block as Calico stores it (model.AllocationBlock)' },
      ),
    ),
  }),
  'ipam.v1.CheckReport': Type.Object(
    { blocks: Type.Integer(), allocations: Type.Integer(), problems: Type.Integer() },
    { description: 'IPAM against the endpoints and nodes using addresses: leaks, duplicates, affinities' },
  ),
  'ipam.v1.ReleaseRequest': Type.Object({ ip: Type.String({ description: 'The address to free' }) }),
  'ipam.v1.Released': Type.Object({ released: Type.String() }),
};

function ipamPaths(): Record<string, Json> {
  const read = (operationId: string, summary: string, schema: string): Json => ({
    tags: ['IPAM'],
    operationId,
    summary,
    responses: { 200: { description: summary, content: json(ref('schemas', schema)) }, ...errorResponses([401, 503]) },
  });
  return {
    '/ipam/v1/utilization': {
      get: read('ipamUtilization', "Each pool's capacity and use, by block", 'ipam.v1.Utilization'),
    },
    '/ipam/v1/blocks': { get: read('ipamBlocks', 'Every allocation block', 'ipam.v1.BlockList') },
    '/ipam/v1/check': { get: read('ipamCheck', 'The IPAM consistency report', 'ipam.v1.CheckReport') },
    '/ipam/v1/release': {
      post: {
        tags: ['IPAM'],
        operationId: 'ipamRelease',
        summary: 'Free an allocated address, whoever holds it',
        requestBody: { required: true, content: json(ref('schemas', 'ipam.v1.ReleaseRequest')) },
        responses: {
          200: { description: 'Released', content: json(ref('schemas', 'ipam.v1.Released')) },
          ...errorResponses([400, 401, 403, 404, 503]),
        },
      },
    },
  };
}

// ---- Operations: health (no token), metrics, this document.

const TEXT = { 'text/plain': { schema: { type: 'string' } } } as const;

// ---- /watch/v1: several kinds in one watch stream (tabby's extension).

function severalKindsWatchPath(): Record<string, Json> {
  return {
    '/watch/v1': {
      get: {
        tags: ['Watch'],
        operationId: 'watchSeveralKinds',
        summary: 'Watch several kinds in one stream (one connection: a browser opens at most six to a server)',
        parameters: ['resources', 'labelSelector', 'resourceVersion', 'allowWatchBookmarks'].map((p) =>
          ref('parameters', p),
        ),
        responses: {
          200: {
            description: 'Newline-delimited events of the kinds asked for',
            content: { 'application/json;stream=watch': { schema: ref('schemas', 'WatchEvent') } },
          },
          ...errorResponses([400, 401, 404, 410, 503]),
        },
      },
    },
  };
}

function operationsPaths(): Record<string, Json> {
  const probe = (summary: string, errors: Json): Json => ({
    tags: ['Operations'],
    summary,
    security: [],
    responses: { 200: { description: 'ok', content: TEXT }, ...errors },
  });
  return {
    '/healthz': { get: { ...probe('The server is up', {}), operationId: 'healthz' } },
    '/readyz': {
      get: { ...probe('The server can reach the datastore', errorResponses([503])), operationId: 'readyz' },
    },
    '/metrics': {
      get: {
        tags: ['Operations'],
        operationId: 'metrics',
        summary: 'Prometheus metrics (text exposition format)',
        responses: { 200: { description: 'The metrics', content: TEXT }, ...errorResponses([401]) },
      },
    },
    '/openapi.json': {
      get: {
        tags: ['Operations'],
        operationId: 'openapi',
        summary: 'This document',
        responses: { 200: { description: 'OpenAPI 3.1', content: json({ type: 'object' }) }, ...errorResponses([401]) },
      },
    },
  };
}

function openApiDocument(): Json {
  const schemas: Record<string, TSchema> = {
    Status: StatusSchema,
    ListMeta: ListMetaSchema,
    WatchEvent: WatchEventSchema,
    ...IPAM_SCHEMAS,
  };
  for (const kind of KINDS) {
    schemas[schemaName(kind)] = RESOURCE_SCHEMAS[kindId(kind)]!;
    schemas[schemaName(kind, 'List')] = listSchema(kind);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tabby-apiserver',
      version: CALICO_API_VERSION,
      description:
        "Calico's projectcalico.org/v3 resources and Kubernetes' networking.k8s.io/v1 NetworkPolicy, " +
        'Kubernetes-style; IPAM; health and metrics. Errors are Kubernetes Status objects.',
    },
    tags: [...KINDS.map((kind) => ({ name: tagOf(kind) })), { name: 'IPAM' }, { name: 'Operations' }],
    security: [{ bearerToken: [] }],
    paths: Object.assign({}, ...KINDS.map(kindPaths), severalKindsWatchPath(), ipamPaths(), operationsPaths()),
    components: {
      securitySchemes: {
        bearerToken: { type: 'http', scheme: 'bearer', description: "A token from the server's --token-file" },
      },
      parameters: PARAMETERS,
      responses: Object.fromEntries(
        Object.values(ERRORS).map(([reason, description]) => [
          reason,
          { description, content: json(ref('schemas', 'Status')) },
        ]),
      ),
      schemas: Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, jsonSchemaOf(schema)])),
    },
  };
}

/** The document at `/openapi.json`, and as a page at `/docs` with swagger-ui's own assets, served from here. */
export function registerApiDocs(app: FastifyInstance): void {
  const document = openApiDocument();
  app.get('/openapi.json', async () => document);
  // @fastify/swagger's static mode only serves the document given; its types predate OpenAPI 3.1 (swagger-ui reads it).
  app.register(fastifySwagger, {
    mode: 'static',
    specification: { document: document as unknown as StaticDocumentSpec['document'] },
  });
  app.register(fastifySwaggerUi, { routePrefix: '/docs' });
}
