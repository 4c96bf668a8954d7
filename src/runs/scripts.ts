import type { Redis } from 'ioredis';

/*
 * A run lives in a few keys (keys.ts): its head (the run without its steps' state, as JSON, with
 * `rv`, bumped by every write, `pv`, bumped by every progress report, `active`, whether it holds
 * its service, and `snapshot`), one hash field per step (its state as JSON) with a version per
 * step, the workers' tokens and live progress, and its sealed secrets. A step's transition writes
 * that step alone, checked against its version; a change of the whole run (dispatch, stop, resume,
 * restart) is checked against `rv`. Every write appends its events to the outbox stream in the
 * same script, and publishes the run id for the coordinators. Every key is passed in KEYS.
 */

/** Appends the events (a JSON array of [type, json]) to the outbox. */
const APPEND_EVENTS = `
local function append(outbox, maxlen, run, events)
  for _, event in ipairs(cjson.decode(events)) do
    redis.call('XADD', outbox, 'MAXLEN', '~', maxlen, '*', 'type', event[1], 'run', run, 'data', event[2])
  end
end
`;

/** Sets or clears (with the live progress) the tokens of steps: a JSON object step id → token or ''. */
const SET_TOKENS = `
local function tokens(tokenKey, progressKey, changes)
  for step, token in pairs(cjson.decode(changes)) do
    if token == '' then
      redis.call('HDEL', tokenKey, step)
      redis.call('HDEL', progressKey, step)
    else
      redis.call('HSET', tokenKey, step, token)
    end
  end
end
`;

/**
 * One step's transition.
 * KEYS: run, steps, step versions, tokens, progress, outbox
 * ARGV: step id, its expected version, its json, token changes (json), snapshot ('' for none),
 *       events (json), channel, run id, outbox length
 * Returns {1} or {0, 'conflict'} or {0, 'gone'}.
 */
const WRITE_STEP = `${APPEND_EVENTS}${SET_TOKENS}
if redis.call('HEXISTS', KEYS[1], 'head') == 0 then return {0, 'gone'} end
local v = redis.call('HGET', KEYS[3], ARGV[1]) or '0'
if v ~= ARGV[2] then return {0, 'conflict'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
redis.call('HINCRBY', KEYS[1], 'rv', 1)
tokens(KEYS[4], KEYS[5], ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'snapshot', ARGV[5]) end
append(KEYS[6], ARGV[9], ARGV[8], ARGV[6])
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {1}
`;

/**
 * A change of the whole run, with what must change with it: the service lock, the active set,
 * tokens (dropping their live progress) and the secrets.
 * KEYS: run, steps, step versions, tokens, progress, lock, active, secrets, outbox
 * ARGV: expected rv, head json ('' unchanged), changed steps (json: id → json), token changes
 *       (json), lock op ('' | acquire | release), drop secrets (0|1), events (json), channel,
 *       run id, active (0|1), snapshot ('-' unchanged, '' none), outbox length
 * Returns {1} or {0, 'conflict'} or {0, 'gone'} or {0, 'locked', holder}.
 */
const WRITE_RUN = `${APPEND_EVENTS}${SET_TOKENS}
local rv = redis.call('HGET', KEYS[1], 'rv')
if rv == false or redis.call('HEXISTS', KEYS[1], 'head') == 0 then return {0, 'gone'} end
if rv ~= ARGV[1] then return {0, 'conflict'} end
if ARGV[5] == 'acquire' then
  local holder = redis.call('GET', KEYS[6])
  if holder and holder ~= ARGV[9] then return {0, 'locked', holder} end
  redis.call('SET', KEYS[6], ARGV[9])
  redis.call('SADD', KEYS[7], ARGV[9])
elseif ARGV[5] == 'release' then
  if redis.call('GET', KEYS[6]) == ARGV[9] then redis.call('DEL', KEYS[6]) end
  redis.call('SREM', KEYS[7], ARGV[9])
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'head', ARGV[2]) end
redis.call('HSET', KEYS[1], 'active', ARGV[10])
redis.call('HINCRBY', KEYS[1], 'rv', 1)
for step, json in pairs(cjson.decode(ARGV[3])) do
  redis.call('HSET', KEYS[2], step, json)
  redis.call('HINCRBY', KEYS[3], step, 1)
end
tokens(KEYS[4], KEYS[5], ARGV[4])
if ARGV[11] ~= '-' then
  if ARGV[11] == '' then redis.call('HDEL', KEYS[1], 'snapshot') else redis.call('HSET', KEYS[1], 'snapshot', ARGV[11]) end
end
if ARGV[6] == '1' then redis.call('DEL', KEYS[8]) end
append(KEYS[9], ARGV[12], ARGV[9], ARGV[7])
redis.call('PUBLISH', ARGV[8], ARGV[9])
return {1}
`;

/**
 * Creates a run if the service lock is free, points the plan at it and enters it in the service's
 * history. The plan's previous run stays in the history, without its secrets: only a plan's
 * latest run can run again.
 * KEYS: lock, active, latest, run, secrets, history, steps, outbox, the previous run, its secrets,
 *       step versions
 * ARGV: run id, head json, steps (json: id → json), sealed secrets ('' for none), channel,
 *       the previous run id ('' for none), created (ms), event (json), outbox length
 * Returns {1} or {0, holder} or {0, '', 'moved'} when the plan's latest run is no longer ARGV[6].
 */
const START = `${APPEND_EVENTS}
local holder = redis.call('GET', KEYS[1])
if holder then return {0, holder} end
local previous = redis.call('GET', KEYS[3]) or ''
if previous ~= ARGV[6] then return {0, '', 'moved'} end
if previous ~= '' then
  redis.call('DEL', KEYS[10])
  if redis.call('EXISTS', KEYS[9]) == 1 then redis.call('HINCRBY', KEYS[9], 'rv', 1) end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'head', ARGV[2], 'rv', '1', 'pv', '0', 'active', '1')
for step, json in pairs(cjson.decode(ARGV[3])) do
  redis.call('HSET', KEYS[7], step, json)
  redis.call('HSET', KEYS[11], step, '0')
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[5], ARGV[4]) end
redis.call('ZADD', KEYS[6], ARGV[7], ARGV[1])
append(KEYS[8], ARGV[9], ARGV[1], ARGV[8])
redis.call('PUBLISH', ARGV[5], ARGV[1])
return {1}
`;

/**
 * Live progress from the worker that holds a step; refused when its token is no longer current,
 * which tells the worker to stop. KEYS: tokens, progress, run. ARGV: step id, token, json.
 */
const PROGRESS = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[3], 'pv', 1)
return 1
`;

/**
 * Rewrites a run stored as one document (before per-step state) in the present layout, if it is
 * still the document that was read. KEYS: run, steps, step versions. ARGV: the document, head json, steps (json),
 * active (0|1), snapshot ('' for none). Returns 1 (now in the present layout) or 0 (gone).
 */
const MIGRATE = `
if redis.call('HEXISTS', KEYS[1], 'head') == 1 then return 1 end
if redis.call('HGET', KEYS[1], 'json') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'json', 'v')
redis.call('HSET', KEYS[1], 'head', ARGV[2], 'active', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'rv', 1)
redis.call('HSETNX', KEYS[1], 'pv', '0')
for step, json in pairs(cjson.decode(ARGV[3])) do
  redis.call('HSET', KEYS[2], step, json)
  redis.call('HSET', KEYS[3], step, '0')
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'snapshot', ARGV[5]) end
return 1
`;

/**
 * Reads a run at one version, sending only the steps that changed since the reader's copy, and
 * with them, when asked, its live progress and whether its secrets are kept (what a plan tree
 * shows, read at the version its tag names).
 * KEYS: run, steps, step versions, progress, secrets. ARGV: '1' for the progress and the secrets
 * ('0' without), then pairs of step id and the version the reader holds.
 * Returns {the run's fields (HGETALL), {step id, version, json, ...} for every step whose version
 * differs, the progress (HGETALL, or {}), 1 when the secrets are kept}.
 */
const READ = `
local known = {}
for i = 2, #ARGV, 2 do known[ARGV[i]] = ARGV[i + 1] end
local changed = {}
local versions = redis.call('HGETALL', KEYS[3])
for i = 1, #versions, 2 do
  if known[versions[i]] ~= versions[i + 1] then
    changed[#changed + 1] = versions[i]
    changed[#changed + 1] = versions[i + 1]
    changed[#changed + 1] = redis.call('HGET', KEYS[2], versions[i]) or ''
  end
end
local progress = {}
local secrets = 0
if ARGV[1] == '1' then
  progress = redis.call('HGETALL', KEYS[4])
  secrets = redis.call('EXISTS', KEYS[5])
end
return {redis.call('HGETALL', KEYS[1]), changed, progress, secrets}
`;

type Reply = Promise<[number, string?, string?]>;

export interface RunScripts {
  writeStep(keys: string[], args: string[]): Reply;
  writeRun(keys: string[], args: string[]): Reply;
  startRun(keys: string[], args: string[]): Reply;
  reportProgress(keys: string[], args: string[]): Promise<number>;
  migrate(keys: string[], args: string[]): Promise<number>;
  read(keys: string[], args: string[]): Promise<[string[], string[], string[], number]>;
}

type ScriptFn = (...args: Array<string | number>) => Promise<unknown>;

/** The scripts by command name, with how many of their arguments are keys. */
export const SCRIPTS = {
  drplanWriteStep: { numberOfKeys: 6, lua: WRITE_STEP },
  drplanWriteRun: { numberOfKeys: 9, lua: WRITE_RUN },
  drplanStartRun: { numberOfKeys: 11, lua: START },
  drplanProgress: { numberOfKeys: 3, lua: PROGRESS },
  drplanMigrateRun: { numberOfKeys: 3, lua: MIGRATE },
  drplanReadRun: { numberOfKeys: 5, lua: READ },
};

/** Registers the scripts on a connection (EVALSHA with a fallback to EVAL, by ioredis). */
export function defineScripts(redis: Redis): RunScripts {
  const commands = redis as unknown as Record<string, ScriptFn | undefined>;
  for (const [name, definition] of Object.entries(SCRIPTS)) if (commands[name] === undefined) redis.defineCommand(name, definition);
  const call = (name: keyof typeof SCRIPTS) => (keys: string[], args: string[]) => (commands[name] as ScriptFn)(...keys, ...args);
  return {
    writeStep: call('drplanWriteStep') as RunScripts['writeStep'],
    writeRun: call('drplanWriteRun') as RunScripts['writeRun'],
    startRun: call('drplanStartRun') as RunScripts['startRun'],
    reportProgress: call('drplanProgress') as RunScripts['reportProgress'],
    migrate: call('drplanMigrateRun') as RunScripts['migrate'],
    read: call('drplanReadRun') as RunScripts['read'],
  };
}
