import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';

export interface HealthRoutesOptions {
  /** Whether Redis answers. */
  ready: () => Promise<boolean>;
}

const Health = Type.Object({ status: Type.String() });

export function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'Liveness', response: { 200: Health } } }, () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { tags: ['health'], summary: 'Readiness: Redis is reachable', response: { 200: Health, 503: Health } } },
    async (_request, reply) => {
      const ready = await options.ready().catch(() => false);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'redis unreachable' });
    },
  );
  return Promise.resolve();
}
