import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PlanRuns } from '../../runs/index.js';

export interface SnapshotRoutesOptions {
  planRuns: PlanRuns;
  defaultService: (request: FastifyRequest) => string;
}

/** The catalogue of committed snapshots, per service and for the default service. */
export function snapshotRoutes(fastify: FastifyInstance, options: SnapshotRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const schema = {
    tags: ['snapshots'],
    summary: 'Committed snapshots, newest first (name, plan, storage, bucket or container, created, bytes, nodes)',
    response: { 200: Type.Array(Type.Ref('Snapshot')), 401: Type.Ref('Error'), 404: Type.Ref('Error') },
  };
  const locationQuery = Type.Object({ location: Type.Optional(Type.String({ description: 'a named location of the service' })) });
  app.get('/v1/service/:service/snapshots', { schema: { ...schema, params: Type.Object({ service: Type.String() }), querystring: locationQuery } }, (request) =>
    options.planRuns.snapshots(request.params.service, request.query.location),
  );
  app.get('/v1/snapshots', { schema: { ...schema, summary: `${schema.summary}, of the default service`, querystring: locationQuery } }, (request) =>
    options.planRuns.snapshots(options.defaultService(request), request.query.location),
  );

  const one = {
    tags: ['snapshots'],
    summary: 'One snapshot: its catalogue entry, its manifest, the chain it restores with and the snapshots that build on it',
    querystring: locationQuery,
    response: { 200: Type.Ref('SnapshotDetail'), 401: Type.Ref('Error'), 404: Type.Ref('Error'), 409: Type.Ref('Error') },
  };
  app.get('/v1/service/:service/snapshots/:name', { schema: { ...one, params: Type.Object({ service: Type.String(), name: Type.String() }) } }, (request) =>
    options.planRuns.snapshot(request.params.service, request.params.name, request.query.location),
  );
  app.get('/v1/snapshots/:name', { schema: { ...one, params: Type.Object({ name: Type.String() }) } }, (request) =>
    options.planRuns.snapshot(options.defaultService(request), request.params.name, request.query.location),
  );

  const refresh = {
    tags: ['snapshots'],
    summary: "Rebuild the catalogue from the manifests in the service's locations (all, or ?location=): the bucket is the source of truth",
    querystring: locationQuery,
    response: { 200: Type.Array(Type.Ref('RefreshResult')), 400: Type.Ref('Error'), 401: Type.Ref('Error'), 404: Type.Ref('Error'), 502: Type.Ref('Error'), 503: Type.Ref('Error') },
  };
  app.post('/v1/service/:service/snapshots/refresh', { schema: { ...refresh, params: Type.Object({ service: Type.String() }) } }, (request) =>
    options.planRuns.refresh(request.params.service, request.query.location),
  );
  app.post('/v1/snapshots/refresh', { schema: refresh }, (request) => options.planRuns.refresh(options.defaultService(request), request.query.location));
  return Promise.resolve();
}
