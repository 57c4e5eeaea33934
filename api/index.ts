// tabby-apiserver: the REST API over the datastore (CONTRACT §5).
export { TokenTable, type TokenUser } from './auth';
export { ApiClient, type ApiClientOptions } from './client';
export { collectionPath, decodeContinue, encodeContinue, objectPath } from './paths';
export { type ApiServerOptions, buildApiServer, mergePatch } from './server';
export { type Status, status } from './status';
