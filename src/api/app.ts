import etag from '@fastify/etag';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import { DASHBOARD_CSP, DASHBOARD_ROOT } from '../dashboard/index.js';
import type { Catalog, PlanRuns } from '../runs/index.js';
import { AppError, type Logger } from '../shared/index.js';
import { bearerAuth } from './auth.js';
import { errorHandler } from './errors.js';
import { healthRoutes } from './routes/health.js';
import { planRoutes } from './routes/plans.js';
import { serviceRoutes } from './routes/services.js';
import { runRoutes } from './routes/runs.js';
import { snapshotRoutes } from './routes/snapshots.js';
import { SHARED_SCHEMAS } from './schemas.js';

export interface AppDeps {
  planRuns: PlanRuns;
  catalog: Catalog;
  serviceNames: () => string[];
  /** The service behind /v1/plans; null when there is none. */
  defaultService: string | null;
  /** When set, /v1 needs `Authorization: Bearer <token>`. */
  apiToken: string | null;
  logger: Logger;
  ready: () => Promise<boolean>;
  version?: string;
}

/** The Fastify application. It never listens: callers inject requests or listen themselves. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // Unknown query keys are errors, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  }) as unknown as FastifyInstance;
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` });
  });
  app.addHook('onResponse', (request, reply, done) => {
    // Status polls would flood the log: reads go to debug, changes to info.
    const level = request.method === 'GET' ? 'debug' : 'info';
    request.log[level]({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    done();
  });
  if (deps.apiToken !== null) app.addHook('onRequest', bearerAuth(deps.apiToken));
  // Polls of an unchanged plan cost a 304 and no body (any status: 202 and 417 trees too).
  await app.register(etag, { algorithm: 'fnv1a' });

  await app.register(swagger, {
    openapi: {
      info: { title: 'drplan', version: deps.version ?? '0.0.0', description: 'DC/OS-style backup and restore plans over every node of a service' },
      components: deps.apiToken === null ? {} : { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(deps.apiToken === null ? {} : { security: [{ bearer: [] }] }),
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const defaultService = (): string => {
    if (deps.defaultService === null) {
      throw new AppError('NOT_FOUND', 'no default service: set DRPLAN_DEFAULT_SERVICE, or use /v1/service/{service}/plans');
    }
    return deps.defaultService;
  };
  await app.register(planRoutes, { prefix: '/v1/plans', planRuns: deps.planRuns, serviceOf: defaultService, tag: 'plans (default service)' });
  await app.register(planRoutes, {
    prefix: '/v1/service/:service/plans',
    planRuns: deps.planRuns,
    serviceOf: (request: FastifyRequest) => (request.params as { service: string }).service,
    tag: 'plans',
  });
  await app.register(snapshotRoutes, { planRuns: deps.planRuns, defaultService });
  await app.register(runRoutes, { planRuns: deps.planRuns, defaultService });
  await app.register(serviceRoutes, { catalog: deps.catalog, serviceNames: deps.serviceNames, defaultService: deps.defaultService });
  await app.register(healthRoutes, { ready: deps.ready });
  await app.register(fastifyStatic, {
    root: DASHBOARD_ROOT,
    prefix: '/',
    // One route per file, no catch-all: unknown paths stay JSON 404s.
    wildcard: false,
    decorateReply: false,
    schemaHide: true,
    cacheControl: false,
    setHeaders: (res) => {
      res.setHeader('content-security-policy', DASHBOARD_CSP);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('cache-control', 'no-cache');
    },
  });
  return app;
}
