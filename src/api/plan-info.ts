import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PlanSpec, PlanTree } from '../engine/index.js';
import type { RunSummary, TaggedTree } from '../runs/index.js';
import type { PlanInfo, PlanParameters, RunInfo } from './schemas.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The engine's tree with times as ISO strings, as the API serves it. */
export function toPlanInfo(tree: PlanTree): PlanInfo {
  return {
    ...tree,
    startedAt: iso(tree.startedAt),
    finishedAt: iso(tree.finishedAt),
    stoppedAt: iso(tree.stoppedAt),
    phases: tree.phases.map((phase) => ({
      ...phase,
      steps: phase.steps.map((step) => ({
        ...step,
        startedAt: iso(step.startedAt),
        finishedAt: iso(step.finishedAt),
        retryAt: iso(step.retryAt),
      })),
    })),
  };
}

const bodies = new WeakMap<PlanTree, Buffer>();

/**
 * Sends a plan tree with its entity tag, or 304 when the client holds that version already. A
 * tree kept built (one per version of a run) is serialized once, by the route's schema.
 */
export function sendTree(request: FastifyRequest, reply: FastifyReply, { tree, tag }: TaggedTree): FastifyReply {
  if (tag !== null) {
    reply.header('etag', tag);
    const held = request.headers['if-none-match'];
    if (held !== undefined && held.split(',').some((t) => t.trim().replace(/^W\//, '') === tag)) return reply.code(304).send();
  }
  reply.code(planHttpStatus(tree));
  let body = bodies.get(tree);
  if (body === undefined) {
    const serialized = reply.serialize(toPlanInfo(tree));
    body = typeof serialized === 'string' ? Buffer.from(serialized) : Buffer.from(serialized as ArrayBuffer);
    bodies.set(tree, body);
  }
  return reply.type('application/json; charset=utf-8').send(body);
}

/** A line of the run history with times as ISO strings. */
export function toRunInfo(run: RunSummary): RunInfo {
  return { ...run, startedAt: iso(run.startedAt) ?? '', finishedAt: iso(run.finishedAt), stoppedAt: iso(run.stoppedAt) };
}

/** DC/OS codes: 200 complete, 417 with errors (even when complete), 202 otherwise. */
export function planHttpStatus(tree: Pick<PlanTree, 'status' | 'errors'>): 200 | 202 | 417 {
  if (tree.status === 'ERROR' || tree.errors.length > 0) return 417;
  return tree.status === 'COMPLETE' ? 200 : 202;
}

/** A plan's parameter declarations as clients see them; a secret's default stays on the server. */
export function planParameters(service: string, plan: PlanSpec): PlanParameters {
  return {
    plan: plan.name,
    service,
    description: plan.description,
    parameters: Object.entries(plan.parameters).map(([name, spec]) => ({
      name,
      required: spec.required,
      secret: spec.secret,
      ...(spec.default === undefined || spec.secret ? {} : { default: spec.default }),
      ...(spec.enum === undefined ? {} : { enum: spec.enum }),
      ...(spec.pattern === undefined ? {} : { pattern: spec.pattern }),
      ...(spec.description === undefined ? {} : { description: spec.description }),
    })),
    requireOneOf: plan.requireOneOf,
  };
}
