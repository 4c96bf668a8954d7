import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TObject } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { maskedParameters } from '../../engine/index.js';
import type { Operation, PlanRuns } from '../../runs/index.js';
import { planParameters, sendTree } from '../plan-info.js';
import { PhaseQuery, StepQuery } from '../schemas.js';

export interface PlanRoutesOptions {
  planRuns: PlanRuns;
  /** The service a request is about: from the path, or the default service. */
  serviceOf: (request: FastifyRequest) => string;
  /** OpenAPI tag: the two route sets are documented apart. */
  tag: string;
}

const PlanParams = Type.Object({ plan: Type.String() });
const ref = (id: string) => Type.Ref(id);
const errors = { 400: ref('Error'), 401: ref('Error'), 404: ref('Error'), 409: ref('Error') };

/** The DC/OS plan routes, mounted at /v1/plans (default service) and /v1/service/:service/plans. */
export function planRoutes(fastify: FastifyInstance, options: PlanRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { planRuns, serviceOf, tag } = options;
  const tags = [tag];

  app.get('/', { schema: { tags, summary: 'Names of the plans', response: { 200: Type.Array(Type.String()), ...errors } } }, (request) =>
    planRuns.planNames(serviceOf(request)),
  );

  app.get(
    '/:plan',
    {
      schema: {
        tags,
        summary: 'The plan tree: 200 complete, 202 not complete, 417 with errors',
        params: PlanParams,
        response: { 200: ref('Plan'), 202: ref('Plan'), 417: ref('Plan'), ...errors },
      },
    },
    async (request, reply) => {
      return sendTree(request, reply, await planRuns.tree(serviceOf(request), request.params.plan));
    },
  );

  app.get(
    '/:plan/parameters',
    {
      schema: {
        tags,
        summary: "The plan's declared parameters: what a start needs (for forms and scripts)",
        params: PlanParams,
        response: { 200: ref('PlanParameters'), ...errors },
      },
    },
    (request) => {
      const service = serviceOf(request);
      return planParameters(service, planRuns.plan(service, request.params.plan));
    },
  );

  app.post(
    '/:plan/start',
    {
      schema: {
        tags,
        summary: 'Start a run with parameters; 409 while another backup or restore runs on the service',
        params: PlanParams,
        body: Type.Record(Type.String(), Type.Unknown(), { description: '{"PARAM": "value"}; {} or no body when none' }),
        response: { 200: ref('Started'), ...errors },
      },
      // DC/OS wants `{}` for a plan without parameters; no body at all means the same here.
      preValidation: (request, _reply, done) => {
        request.body ??= {};
        done();
      },
    },
    async (request) => {
      const run = await planRuns.start(serviceOf(request), request.params.plan, request.body);
      const parameters = maskedParameters(run);
      request.log.info({ service: run.service, plan: run.plan, runId: run.id, parameters }, 'plan started');
      return { message: `Received cmd: start ${run.plan} (run ${run.id})`, runId: run.id, parameters };
    },
  );

  /** Who asked, as far as the API can tell: the drplan client that says so (or the user agent's first word), and the address. */
  const actorOf = (request: FastifyRequest): string => {
    const client = request.headers['x-drplan-client'];
    const named = typeof client === 'string' && /^[A-Za-z0-9._-]{1,40}$/.test(client) ? client : (request.headers['user-agent'] ?? 'a client').split(/[\s/]/)[0]?.slice(0, 40) || 'a client';
    return `${named} from ${request.ip}`;
  };

  const operation = (name: Operation, path: string, summary: string, query: TObject): void => {
    app.post(
      `/:plan/${path}`,
      { schema: { tags, summary, params: PlanParams, querystring: query, response: { 200: ref('Message'), 208: ref('Message'), ...errors } } },
      async (request, reply) => {
        const q = request.query as { phase?: string; step?: string };
        const result = await planRuns.operate(serviceOf(request), request.params.plan, name, { phase: q.phase, step: q.step }, actorOf(request));
        return reply.code(result.changed ? 200 : 208).send({ message: result.message });
      },
    );
  };
  operation('stop', 'stop', 'Interrupt, cancel running steps and reset everything to PENDING', Type.Object({}, { additionalProperties: false }));
  operation('interrupt', 'interrupt', 'Pause the plan or a phase: running steps finish, no new ones start (208 if already paused)', PhaseQuery);
  operation('continue', 'continue', 'Resume the plan or a phase (208 if not paused)', PhaseQuery);
  operation('restart', 'restart', 'Reset the plan, a phase or a step to PENDING and run it again with the stored parameters', StepQuery);
  operation('forceComplete', 'forceComplete', 'Mark the plan, a phase or a step COMPLETE, cancelling what runs', StepQuery);
  return Promise.resolve();
}
