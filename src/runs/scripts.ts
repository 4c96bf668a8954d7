import type { Redis } from 'ioredis';

/**
 * Compare-and-set of a run document, with the side effects that must change with it:
 * the service lock, the active set, worker tokens (dropping their live progress) and the secrets.
 * KEYS: run, tokens, progress, lock, active, secrets
 * ARGV: expected version, json, run id, lock op ('' | acquire | release), channel, drop secrets (0|1), token changes (json)
 * Returns {1} or {0, 'conflict'} or {0, 'locked', holder}.
 */
const UPDATE = `
local v = redis.call('HGET', KEYS[1], 'v')
if v ~= ARGV[1] then return {0, 'conflict'} end
if ARGV[4] == 'acquire' then
  local holder = redis.call('GET', KEYS[4])
  if holder and holder ~= ARGV[3] then return {0, 'locked', holder} end
  redis.call('SET', KEYS[4], ARGV[3])
  redis.call('SADD', KEYS[5], ARGV[3])
elseif ARGV[4] == 'release' then
  if redis.call('GET', KEYS[4]) == ARGV[3] then redis.call('DEL', KEYS[4]) end
  redis.call('SREM', KEYS[5], ARGV[3])
end
redis.call('HSET', KEYS[1], 'v', tostring(tonumber(v) + 1), 'json', ARGV[2])
for step, token in pairs(cjson.decode(ARGV[7])) do
  if token == '' then
    redis.call('HDEL', KEYS[2], step)
    redis.call('HDEL', KEYS[3], step)
  else
    redis.call('HSET', KEYS[2], step, token)
  end
end
if ARGV[6] == '1' then redis.call('DEL', KEYS[6]) end
redis.call('PUBLISH', ARGV[5], ARGV[3])
return {1}
`;

/**
 * Creates a run if the service lock is free, points the plan at it and enters it in the service's
 * history. The plan's previous run stays in the history, without its secrets: only a plan's
 * latest run can run again.
 * KEYS: lock, active, latest, run, secrets, history, the previous run's secrets
 * ARGV: run id, json, sealed secrets ('' for none), channel, the previous run id ('' for none), created (ms)
 * Returns {1} or {0, holder} or {0, '', 'moved'} when the plan's latest run is no longer ARGV[5].
 */
const START = `
local holder = redis.call('GET', KEYS[1])
if holder then return {0, holder} end
local previous = redis.call('GET', KEYS[3]) or ''
if previous ~= ARGV[5] then return {0, '', 'moved'} end
if previous ~= '' then redis.call('DEL', KEYS[7]) end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'v', '1', 'json', ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[5], ARGV[3]) end
redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return {1}
`;

/**
 * Live progress from the worker that holds a step; refused when its token is no longer current,
 * which tells the worker to stop. KEYS: tokens, progress. ARGV: step id, token, json.
 */
const PROGRESS = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
`;

export interface RunScripts {
  updateRun(keys: string[], args: string[]): Promise<[number, string?, string?]>;
  startRun(keys: string[], args: string[]): Promise<[number, string?, string?]>;
  reportProgress(keys: string[], args: string[]): Promise<number>;
}

type ScriptFn = (...args: Array<string | number>) => Promise<unknown>;

/** Registers the scripts on a connection (EVALSHA with a fallback to EVAL, by ioredis). */
export function defineScripts(redis: Redis): RunScripts {
  const commands = redis as unknown as Record<string, ScriptFn | undefined>;
  if (commands['drplanUpdateRun'] === undefined) {
    redis.defineCommand('drplanUpdateRun', { numberOfKeys: 6, lua: UPDATE });
    redis.defineCommand('drplanStartRun', { numberOfKeys: 7, lua: START });
    redis.defineCommand('drplanProgress', { numberOfKeys: 2, lua: PROGRESS });
  }
  const call = (name: string) => (keys: string[], args: string[]) => (commands[name] as ScriptFn)(...keys, ...args);
  return {
    updateRun: call('drplanUpdateRun') as RunScripts['updateRun'],
    startRun: call('drplanStartRun') as RunScripts['startRun'],
    reportProgress: call('drplanProgress') as RunScripts['reportProgress'],
  };
}
