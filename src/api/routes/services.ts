import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Catalog } from '../../runs/index.js';

export interface ServiceRoutesOptions {
  catalog: Catalog;
  serviceNames: () => string[];
  defaultService: string | null;
}

const ServiceInfo = Type.Object({
  name: Type.String(),
  default: Type.Boolean(),
  pods: Type.Record(Type.String(), Type.Object({ count: Type.Integer() })),
  plans: Type.Array(Type.String()),
});

export function serviceRoutes(fastify: FastifyInstance, options: ServiceRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/v1/services',
    { schema: { tags: ['services'], summary: 'The services drplan protects, and the plans each can run', response: { 200: Type.Array(ServiceInfo) } } },
    () =>
      options.serviceNames().map((name) => {
        const service = options.catalog.service(name);
        const pods: Record<string, { count: number }> = {};
        for (const [pod, spec] of Object.entries(service?.pods ?? {})) pods[pod] = { count: spec.count };
        return { name, default: name === options.defaultService, pods, plans: options.catalog.plans(name).map((p) => p.name) };
      }),
  );
  return Promise.resolve();
}
