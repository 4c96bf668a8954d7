import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  createRun,
  isActive,
  planTree,
  type LiveProgress,
  type PlanSpec,
  type ResolvedParameters,
  type RunState,
  type ServiceSpec,
  type SnapshotRecord,
  type StepState,
} from '../engine/index.js';
import { AppError, type Logger, type SecretBox } from '../shared/index.js';
import { createKeys, type Keys } from './keys.js';
import { defineScripts, type RunScripts } from './scripts.js';

export interface RunStoreOptions {
  /** A connection for commands (not used for blocking calls or subscriptions). */
  redis: Redis;
  /** DRPLAN_QUEUE_PREFIX. */
  prefix: string;
  secretBox: SecretBox;
  logger: Logger;
  /** @defaultValue Date.now */
  now?: () => number;
  /** Runs kept per service (the latest run of each plan is always kept). @defaultValue 100 */
  historyLimit?: number;
}

/** One run as the history lists it. */
export interface RunSummary {
  id: string;
  plan: string;
  status: string;
  parameters: Record<string, string>;
  startedAt: number;
  finishedAt: number | null;
  /** Wall time from start to end (or until now for a run still going), ms. */
  durationMs: number;
  active: boolean;
  bytes: number;
  errors: string[];
  snapshot: string | null;
  stoppedAt: number | null;
  stoppedBy: string | null;
}

/** A run with the live progress of its running steps. */
export interface RunView {
  run: RunState;
  live: Record<string, LiveProgress>;
}

export interface UpdateResult {
  run: RunState;
  changed: boolean;
}

/** The token a worker must present to report live progress for a step: set while it is STARTED. */
export function stepToken(step: StepState): string {
  return step.status === 'STARTED' && step.owner !== null ? `${step.gen}.${step.attempts}.${step.owner}` : '';
}

const discarded = (runId: string): string =>
  `the secret parameters of run ${runId} were discarded when it ended (set DRPLAN_SECRET_KEY to keep them, sealed); start the plan again`;

/** A run in a line of the history. */
export function summarize(run: RunState, now: number): RunSummary {
  const tree = planTree(run, {});
  return {
    id: run.id,
    plan: run.plan,
    status: tree.status,
    parameters: tree.parameters,
    startedAt: run.createdAt,
    finishedAt: run.finishedAt,
    durationMs: (run.finishedAt ?? (tree.active ? now : run.createdAt)) - run.createdAt,
    active: tree.active,
    bytes: tree.progress.bytesDone,
    errors: tree.errors,
    snapshot: run.snapshot ?? null,
    stoppedAt: run.stoppedAt ?? null,
    stoppedBy: run.stoppedBy ?? null,
  };
}

/**
 * One entry per place: the same name in two buckets of one name on two endpoints, or under two
 * prefixes of a bucket, is two snapshots. Fields join storage, endpoint, account, bucket or
 * container, prefix and name with newlines (none of them holds one).
 */
type Place = Pick<SnapshotRecord, 'storage' | 'location' | 'prefix' | 'endpoint' | 'account'>;
function catalogueField(record: Place & { name: string }): string {
  return [record.storage, record.endpoint ?? '', record.account ?? '', record.location, record.prefix ?? '', record.name].join('\n');
}
/** The field entries had before endpoints and accounts were part of it. */
function legacyField(record: Place & { name: string }): string {
  return [record.storage, record.location, record.prefix ?? '', record.name].join(':');
}

export class RunStore {
  readonly keys: Keys;
  private readonly scripts: RunScripts;
  private readonly now: () => number;

  constructor(private readonly options: RunStoreOptions) {
    this.keys = createKeys(options.prefix);
    this.scripts = defineScripts(options.redis);
    this.now = options.now ?? Date.now;
  }

  get redis(): Redis {
    return this.options.redis;
  }

  /**
   * Starts a run of a plan if no other backup or restore run is active on the service.
   * @throws AppError CONFLICT with `details.runId` of the active run.
   */
  async start(plan: PlanSpec, service: ServiceSpec, parameters: ResolvedParameters): Promise<RunState> {
    const id = randomUUID();
    const run = createRun(plan, service, parameters, { runId: id, now: this.now(), newId: randomUUID });
    const sealed = run.secretNames.length === 0 ? '' : this.options.secretBox.seal(JSON.stringify(parameters.secrets));
    const k = this.keys;
    for (let attempt = 0; ; attempt += 1) {
      const previous = (await this.options.redis.get(k.latest(service.name, plan.name))) ?? '';
      const [ok, other, why] = await this.scripts.startRun(
        [k.lock(service.name), k.active, k.latest(service.name, plan.name), k.run(id), k.secrets(id), k.history(service.name), k.secrets(previous)],
        [id, JSON.stringify(run), sealed, k.events, previous, String(run.createdAt)],
      );
      if (ok === 1) break;
      if (why === 'moved' && attempt < 5) continue;
      const holder = await this.load(other ?? '');
      const what = holder === null ? `run ${other ?? '?'}` : `run ${other ?? '?'} of plan ${holder.plan}`;
      throw new AppError('CONFLICT', `service ${service.name} is busy: ${what} is active`, { details: { runId: other } });
    }
    await this.trimHistory(service.name).catch((error: unknown) => this.options.logger.warn({ err: (error as Error).message }, 'could not trim the run history'));
    return run;
  }

  /** Drops the oldest runs beyond the limit, never the latest run of a plan (the one its tree shows). */
  private async trimHistory(service: string): Promise<void> {
    const limit = this.options.historyLimit ?? 100;
    const k = this.keys;
    const count = await this.options.redis.zcard(k.history(service));
    if (count <= limit) return;
    const oldest = await this.options.redis.zrange(k.history(service), 0, count - limit - 1);
    for (const id of oldest) {
      const run = await this.load(id);
      if (run !== null && (await this.latestRunId(service, run.plan)) === id) continue;
      await this.options.redis.multi().del(k.run(id), k.tokens(id), k.progress(id), k.secrets(id)).zrem(k.history(service), id).exec();
    }
  }

  /** The service's runs, newest first: every plan's, or one plan's. */
  async history(service: string, options: { plan?: string; limit?: number } = {}): Promise<RunSummary[]> {
    const limit = options.limit ?? 100;
    const ids = await this.options.redis.zrevrange(this.keys.history(service), 0, -1);
    const out: RunSummary[] = [];
    for (let i = 0; i < ids.length && out.length < limit; i += 50) {
      const batch = ids.slice(i, i + 50);
      const jsons = batch.length === 0 ? [] : await this.options.redis.pipeline(batch.map((id) => ['hget', this.keys.run(id), 'json'])).exec();
      for (const [, json] of jsons ?? []) {
        if (typeof json !== 'string') continue;
        const run = JSON.parse(json) as RunState;
        if (options.plan !== undefined && run.plan !== options.plan) continue;
        out.push(summarize(run, this.now()));
        if (out.length >= limit) break;
      }
    }
    return out;
  }

  async load(runId: string): Promise<RunState | null> {
    const json = await this.options.redis.hget(this.keys.run(runId), 'json');
    return json === null ? null : (JSON.parse(json) as RunState);
  }

  async latestRunId(service: string, plan: string): Promise<string | null> {
    return this.options.redis.get(this.keys.latest(service, plan));
  }

  async view(runId: string): Promise<RunView | null> {
    const [[, json], [, progress]] = (await this.options.redis
      .multi()
      .hget(this.keys.run(runId), 'json')
      .hgetall(this.keys.progress(runId))
      .exec()) as [[null, string | null], [null, Record<string, string>]];
    if (json === null) return null;
    const live: Record<string, LiveProgress> = {};
    for (const [stepId, value] of Object.entries(progress)) live[stepId] = JSON.parse(value) as LiveProgress;
    return { run: JSON.parse(json) as RunState, live };
  }

  async activeRunIds(): Promise<string[]> {
    return this.options.redis.smembers(this.keys.active);
  }

  /** Why the run cannot run again (its secret parameters are gone), or null. */
  async rerunBlocked(run: RunState): Promise<string | null> {
    if (run.secretNames.length === 0) return null;
    return (await this.options.redis.exists(this.keys.secrets(run.id))) === 1 ? null : discarded(run.id);
  }

  /** The run's secret parameters, opened. */
  async secrets(run: RunState): Promise<Record<string, string>> {
    if (run.secretNames.length === 0) return {};
    const sealed = await this.options.redis.get(this.keys.secrets(run.id));
    if (sealed === null) throw new AppError('CONFIG', discarded(run.id));
    return JSON.parse(this.options.secretBox.open(sealed)) as Record<string, string>;
  }

  /**
   * Applies `change` atomically: re-reads and retries when someone else wrote first. `change`
   * returns the new run, or null for no change. Taking or releasing the service lock follows
   * from whether the run is active before and after.
   * @throws AppError CONFLICT when the run would become active while another run holds the lock.
   */
  async update(runId: string, change: (run: RunState) => RunState | null): Promise<UpdateResult | null> {
    const k = this.keys;
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const [version, json] = await this.options.redis.hmget(k.run(runId), 'v', 'json');
      if (typeof version !== 'string' || typeof json !== 'string') return null;
      const run = JSON.parse(json) as RunState;
      const proposed = change(run);
      if (proposed === null) return { run, changed: false };
      const next = structuredClone(proposed);
      const was = isActive(run);
      const now = isActive(next);
      if (was && !now) next.finishedAt = this.now();
      if (!was && now) {
        next.finishedAt = null;
        if (next.secretNames.length > 0 && (await this.options.redis.exists(k.secrets(runId))) === 0) {
          throw new AppError('CONFLICT', `${discarded(runId)}: it cannot run again`);
        }
      }
      const tokens: Record<string, string> = {};
      const before = new Map(run.phases.flatMap((p) => p.steps).map((s) => [s.id, stepToken(s)]));
      for (const step of next.phases.flatMap((p) => p.steps)) {
        const token = stepToken(step);
        if (token !== (before.get(step.id) ?? '')) tokens[step.id] = token;
      }
      const lockOp = !was && now ? 'acquire' : was && !now ? 'release' : '';
      const dropSecrets = !now && !this.options.secretBox.encrypted ? '1' : '0';
      const [ok, reason, holder] = await this.scripts.updateRun(
        [k.run(runId), k.tokens(runId), k.progress(runId), k.lock(run.service), k.active, k.secrets(runId)],
        [version, JSON.stringify(next), runId, lockOp, k.events, dropSecrets, JSON.stringify(tokens)],
      );
      if (ok === 1) return { run: next, changed: true };
      if (reason === 'locked') {
        throw new AppError('CONFLICT', `service ${run.service} is busy: run ${holder ?? '?'} is active`, { details: { runId: holder } });
      }
      if (attempt > 3) await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
    throw new AppError('UNAVAILABLE', `run ${runId} is changing too fast to update; try again`);
  }

  /** Adds a committed snapshot (and its manifest) to its service's catalogue, which outlives runs. */
  async recordSnapshot(record: SnapshotRecord, manifest?: unknown): Promise<void> {
    const field = catalogueField(record);
    const multi = this.options.redis.multi().hset(this.keys.snapshots(record.service), field, JSON.stringify(record));
    if (manifest !== undefined) multi.hset(this.keys.manifests(record.service), field, JSON.stringify(manifest));
    await multi.exec();
  }

  /**
   * Makes the catalogue's entries for one place (storage, bucket or container, prefix) exactly
   * `entries`: what its manifests say now. Entries of other places stay.
   */
  async replaceSnapshots(service: string, place: Place, entries: Array<{ record: SnapshotRecord; manifest: unknown }>, listedFrom?: string): Promise<{ added: string[]; removed: string[] }> {
    const k = this.keys;
    const head = catalogueField({ ...place, name: '' });
    const legacyHead = legacyField({ ...place, name: '' });
    const fields = await this.options.redis.hkeys(k.snapshots(service));
    const existing = fields.filter((field) => field.startsWith(head) && !field.slice(head.length).includes('\n'));
    const legacy = fields.filter((field) => field.startsWith(legacyHead) && !field.slice(legacyHead.length).includes(':') && !field.includes('\n'));
    const fresh = new Map(entries.map((entry) => [catalogueField(entry.record), entry]));
    let stale = existing.filter((field) => !fresh.has(field));
    // An entry recorded after the listing began (a backup that committed meanwhile) is newer than
    // what the listing could see: it stays.
    if (listedFrom !== undefined && stale.length > 0) {
      const records = await this.options.redis.hmget(k.snapshots(service), ...stale);
      stale = stale.filter((_, i) => {
        const json = records[i];
        return json === null || json === undefined || (JSON.parse(json) as SnapshotRecord).created < listedFrom;
      });
    }
    const added = [...fresh.keys()].filter((field) => !existing.includes(field));
    const multi = this.options.redis.multi();
    const dropped = [...stale, ...legacy];
    if (dropped.length > 0) multi.hdel(k.snapshots(service), ...dropped).hdel(k.manifests(service), ...dropped);
    for (const [field, entry] of fresh) {
      multi.hset(k.snapshots(service), field, JSON.stringify(entry.record)).hset(k.manifests(service), field, JSON.stringify(entry.manifest));
    }
    await multi.exec();
    const name = (field: string): string => field.slice(head.length);
    const legacyNames = new Set(legacy.map((field) => field.slice(legacyHead.length)));
    return { added: added.map(name).filter((n) => !legacyNames.has(n)).sort(), removed: [...stale.map(name), ...[...legacyNames].filter((n) => !entries.some((e) => e.record.name === n))].sort() };
  }

  /** The catalogue of a service, newest first. */
  async snapshots(service: string): Promise<SnapshotRecord[]> {
    const all = await this.options.redis.hvals(this.keys.snapshots(service));
    return all.map((json) => JSON.parse(json) as SnapshotRecord).sort((a, b) => b.created.localeCompare(a.created));
  }

  /** The manifest kept with a catalogue entry, or null (entries recorded before manifests were kept). */
  async snapshotManifest(record: SnapshotRecord): Promise<unknown> {
    const json = await this.options.redis.hget(this.keys.manifests(record.service), catalogueField(record));
    return json === null ? null : (JSON.parse(json) as unknown);
  }

  /** Live progress from the worker holding a step. False: the step was reset, stopped or taken over. */
  async heartbeat(runId: string, stepId: string, token: string, live: LiveProgress): Promise<boolean> {
    const k = this.keys;
    const ok = await this.scripts.reportProgress([k.tokens(runId), k.progress(runId)], [stepId, token, JSON.stringify(live)]);
    return ok === 1;
  }

  /** Calls `listener` with a run id whenever that run changes. */
  async subscribe(listener: (runId: string) => void): Promise<{ close(): Promise<void> }> {
    const subscriber = this.options.redis.duplicate();
    subscriber.on('message', (_channel: string, runId: string) => listener(runId));
    subscriber.on('error', (error: Error) => this.options.logger.warn({ err: error.message }, 'run events connection error'));
    await subscriber.subscribe(this.keys.events);
    return {
      close: async () => {
        subscriber.disconnect();
        await Promise.resolve();
      },
    };
  }
}
