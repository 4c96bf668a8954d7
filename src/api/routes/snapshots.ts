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
  app.get('/v1/service/:service/snapshots', { schema: { ...schema, params: Type.Object({ service: Type.String() }) } }, (request) =>
    options.planRuns.snapshots(request.params.service),
  );
  app.get('/v1/snapshots', { schema: { ...schema, summary: `${schema.summary}, of the default service` } }, (request) =>
    options.planRuns.snapshots(options.defaultService(request)),
  );
  return Promise.resolve();
}
