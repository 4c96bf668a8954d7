import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PlanRuns } from '../../runs/index.js';
import { sendTree, toRunInfo } from '../plan-info.js';

export interface RunRoutesOptions {
  planRuns: PlanRuns;
  defaultService: (request: FastifyRequest) => string;
}

const errors = { 400: Type.Ref('Error'), 401: Type.Ref('Error'), 404: Type.Ref('Error') };

/** The run history of a service (and of the default service under /v1/runs). */
export function runRoutes(fastify: FastifyInstance, options: RunRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const list = {
    tags: ['runs'],
    summary: 'Run history, newest first: outcome, parameters (secrets masked), times, bytes, errors, the committed snapshot, who stopped it',
    querystring: Type.Object({ plan: Type.Optional(Type.String()), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 100 })) }),
    response: { 200: Type.Array(Type.Ref('RunSummary')), ...errors },
  };
  const one = {
    tags: ['runs'],
    summary: "One run's whole tree, as the plan route showed it, also after later runs replaced it there",
    response: { 200: Type.Ref('Plan'), 202: Type.Ref('Plan'), 417: Type.Ref('Plan'), ...errors },
  };
  const routes = (prefix: string, serviceOf: (request: FastifyRequest) => string, params: Record<string, ReturnType<typeof Type.String>>): void => {
    app.get(`${prefix}/runs`, { schema: { ...list, params: Type.Object(params) } }, async (request) => {
      const q = request.query;
      return (await options.planRuns.runs(serviceOf(request), { ...(q.plan === undefined ? {} : { plan: q.plan }), limit: q.limit ?? 100 })).map(toRunInfo);
    });
    app.get(`${prefix}/runs/:runId`, { schema: { ...one, params: Type.Object({ ...params, runId: Type.String() }) } }, async (request, reply) => {
      return sendTree(request, reply, await options.planRuns.run(serviceOf(request), request.params.runId));
    });
  };
  routes('/v1/service/:service', (request) => (request.params as { service: string }).service, { service: Type.String() });
  routes('/v1', options.defaultService, {});
  return Promise.resolve();
}
