import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * onRequest hook: every /v1 route needs `Authorization: Bearer <token>`. It goes by the route that
 * matched, not the URL text, so percent-encoded paths (`/%761/plans`) cannot slip past.
 */
export function bearerAuth(token: string) {
  const expected = digest(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const route = request.routeOptions.url ?? '';
    if (!route.startsWith('/v1/')) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match?.[1] !== undefined && timingSafeEqual(digest(match[1].trim()), expected)) return;
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send({ error: 'UNAUTHORIZED', message: header === '' ? 'this API needs a bearer token (Authorization: Bearer <DRPLAN_API_TOKEN>)' : 'the bearer token is wrong' });
  };
}
