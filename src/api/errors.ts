import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isAppError } from '../shared/index.js';

/** ioredis failing a command because the server is unreachable (the API's connection fails fast). */
function redisUnreachable(error: Error): boolean {
  return error.name === 'MaxRetriesPerRequestError' || /Stream isn't writeable|Connection is closed|ECONNREFUSED|ETIMEDOUT|ECONNRESET/.test(error.message);
}

export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  // The status comes from the one error table (shared/errors.ts). Client errors and UNAVAILABLE say
  // what was wrong; other server errors hide their internals behind the log.
  if (isAppError(error) && (error.status < 500 || error.code === 'UNAVAILABLE')) {
    const body: Record<string, unknown> = { error: error.code, message: error.message };
    if (error.details?.['problems'] !== undefined) body['problems'] = error.details['problems'];
    if (typeof error.details?.['runId'] === 'string') body['runId'] = error.details['runId'];
    void reply.code(error.status).send(body);
    return;
  }
  const status = (error as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const fastifyCode = (error as FastifyError).code;
    const message = fastifyCode === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError ? `body is not valid JSON: ${error.message}` : error.message;
    void reply.code(status).send({ error: status === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST', message });
    return;
  }
  if (redisUnreachable(error)) {
    request.log.warn({ err: error.message }, 'redis unreachable');
    void reply.code(503).send({ error: 'UNAVAILABLE', message: 'Redis is unreachable: run state cannot be read or changed; try again shortly' });
    return;
  }
  request.log.error({ err: error }, 'request failed');
  void reply.code(isAppError(error) ? error.status : 500).send({ error: 'INTERNAL', message: 'internal error; see the server log' });
}
