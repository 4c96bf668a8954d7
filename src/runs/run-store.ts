import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  createRun,
  isActive,
  maskedParameters,
  planTree,
  runEvents,
  runFinishedEvent,
  runStartedEvent,
  stepEvent,
  type LiveProgress,
  type PhaseState,
  type RunEvent,
  type Transition,
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

/** A run's steps as stored: the head holds each phase's step ids in order. */
type RunHead = Omit<RunState, 'phases' | 'snapshot'> & { phases: Array<Omit<PhaseState, 'steps'> & { steps: string[] }> };

function headOf(run: RunState): RunHead {
  const { phases, snapshot: _snapshot, ...rest } = run;
  return { ...rest, phases: phases.map(({ steps, ...phase }) => ({ ...phase, steps: steps.map((step) => step.id) })) };
}

const lastFinish = (run: RunState): number | null => {
  const times = run.phases.flatMap((p) => p.steps).flatMap((s) => (s.finishedAt === null ? [] : [s.finishedAt]));
  return times.length === 0 ? null : Math.max(...times);
};

/** What a whole read of a run gives: the run, the version it was read at, and whether it holds its service. */
interface RunRead {
  run: RunState;
  /** The head as stored. */
  head: string;
  rv: string;
  pv: string;
  active: boolean;
}

/** A step's transition as the store applied it: the step now, or why not. */
export type StepUpdate = { ok: true; step: StepState; run: Omit<RunState, 'phases'> } | { ok: false; reason: string };

/** Runs a store keeps a copy of. */
const RUNS_CACHED = 64;

/** Outbox entries kept (approximately: Redis trims whole nodes of the stream). */
const OUTBOX_LENGTH = '100000';

export class RunStore {
  readonly keys: Keys;
  private readonly scripts: RunScripts;
  private readonly now: () => number;
  /** This store's copy of the runs it read lately: steps, and the version of each. */
  private readonly runs = new Map<string, { head: string; parsed: RunHead; versions: Map<string, string>; steps: Map<string, StepState> }>();
  /** Summaries of ended runs by run id, valid while the run's version stays. */
  private readonly summaries = new Map<string, { rv: string; summary: RunSummary }>();

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
    const steps = JSON.stringify(Object.fromEntries(run.phases.flatMap((p) => p.steps).map((step) => [step.id, JSON.stringify(step)])));
    const event = JSON.stringify([['run-started', JSON.stringify(runStartedEvent(run, maskedParameters(run)))]]);
    const k = this.keys;
    let settled = false;
    for (let attempt = 0; ; attempt += 1) {
      const previous = (await this.options.redis.get(k.latest(service.name, plan.name))) ?? '';
      const [ok, other, why] = await this.scripts.startRun(
        [k.lock(service.name), k.active, k.latest(service.name, plan.name), k.run(id), k.secrets(id), k.history(service.name), k.steps(id), k.outbox, k.run(previous), k.secrets(previous), k.stepVersions(id)],
        [id, JSON.stringify(headOf(run)), steps, sealed, k.events, previous, String(run.createdAt), event, OUTBOX_LENGTH],
      );
      if (ok === 1) break;
      if (why === 'moved' && attempt < 5) continue;
      const holder = await this.load(other ?? '');
      // A run whose last step just ended holds the service until a coordinator settles it: a
      // start settles it itself rather than wait for one.
      if (holder !== null && !settled && !isActive(holder)) {
        settled = true;
        await this.update(holder.id, () => null);
        continue;
      }
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
      await this.options.redis.multi().del(k.run(id), k.steps(id), k.stepVersions(id), k.tokens(id), k.progress(id), k.secrets(id)).zrem(k.history(service), id).exec();
      this.summaries.delete(id);
    }
  }

  /** The service's runs, newest first: every plan's, or one plan's. */
  async history(service: string, options: { plan?: string; limit?: number } = {}): Promise<RunSummary[]> {
    const limit = options.limit ?? 100;
    const ids = await this.options.redis.zrevrange(this.keys.history(service), 0, -1);
    const out: RunSummary[] = [];
    for (let i = 0; i < ids.length && out.length < limit; i += 50) {
      const batch = ids.slice(i, i + 50);
      const versions = await this.options.redis.pipeline(batch.map((id) => ['hget', this.keys.run(id), 'rv'])).exec();
      for (const [j, id] of batch.entries()) {
        // No version: gone, or a run stored as one document (the read below moves it).
        const rv = versions?.[j]?.[1];
        const cached = this.summaries.get(id);
        let summary = typeof rv === 'string' && cached !== undefined && cached.rv === rv ? cached.summary : null;
        if (summary === null) {
          const read = await this.read(id);
          if (read === null) continue;
          summary = summarize(read.run, this.now());
          if (!summary.active) this.summaries.set(id, { rv: read.rv, summary });
        }
        if (options.plan !== undefined && summary.plan !== options.plan) continue;
        out.push(summary);
        if (out.length >= limit) break;
      }
    }
    if (this.summaries.size > 4 * (this.options.historyLimit ?? 100)) this.summaries.clear();
    return out;
  }

  /**
   * The whole run, read at one version. Only the steps that changed since this store last read
   * the run cross the wire (a run of a few hundred steps changes a step or two at a time); a run
   * still stored as one document is moved to the present layout.
   */
  private async read(runId: string, withLive = false): Promise<(RunRead & { live: Record<string, LiveProgress>; secretsKept: boolean }) | null> {
    const k = this.keys;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const cached = this.runs.get(runId);
      const known = cached === undefined ? [] : [...cached.versions].flat();
      const [flat, changed, progress, secrets] = await this.scripts.read([k.run(runId), k.steps(runId), k.stepVersions(runId), k.progress(runId), k.secrets(runId)], [withLive ? '1' : '0', ...known]);
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      const head = fields['head'];
      if (head !== undefined) {
        const copy = cached?.head === head ? cached : { head, parsed: JSON.parse(head) as RunHead, versions: new Map(cached?.versions), steps: new Map(cached?.steps) };
        for (let i = 0; i + 2 < changed.length; i += 3) {
          copy.versions.set(changed[i]!, changed[i + 1]!);
          copy.steps.set(changed[i]!, deepFreeze(JSON.parse(changed[i + 2]!) as StepState));
        }
        this.runs.delete(runId);
        this.runs.set(runId, copy);
        if (this.runs.size > RUNS_CACHED) this.runs.delete(this.runs.keys().next().value as string);
        const live: Record<string, LiveProgress> = {};
        for (let i = 0; i + 1 < progress.length; i += 2) live[progress[i]!] = JSON.parse(progress[i + 1]!) as LiveProgress;
        return { run: assemble(copy.parsed, copy.steps, fields), head, rv: fields['rv'] ?? '0', pv: fields['pv'] ?? '0', active: fields['active'] === '1', live, secretsKept: secrets === 1 };
      }
      this.runs.delete(runId);
      const legacy = fields['json'];
      if (legacy === undefined) return null;
      const run = JSON.parse(legacy) as RunState;
      const steps = Object.fromEntries(run.phases.flatMap((p) => p.steps).map((step) => [step.id, JSON.stringify(step)]));
      await this.scripts.migrate([k.run(runId), k.steps(runId), k.stepVersions(runId)], [legacy, JSON.stringify(headOf(run)), JSON.stringify(steps), isActive(run) ? '1' : '0', run.snapshot ?? '']);
    }
    throw new AppError('UNAVAILABLE', `run ${runId} is changing too fast to read; try again`);
  }

  async load(runId: string): Promise<RunState | null> {
    return (await this.read(runId))?.run ?? null;
  }

  async latestRunId(service: string, plan: string): Promise<string | null> {
    return this.options.redis.get(this.keys.latest(service, plan));
  }

  /** The run's version: it changes with every write of its state (`rv`) and of its live progress (`pv`). Null: no such run. */
  async version(runId: string): Promise<string | null> {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const [rv, pv] = await this.options.redis.hmget(this.keys.run(runId), 'rv', 'pv');
      if (rv !== null) return `${rv}.${pv ?? '0'}`;
      // A run stored as one document has no version yet: reading it moves it to the present layout.
      if ((await this.read(runId)) === null) return null;
    }
    return null;
  }

  /**
   * The run with the live progress of its running steps, why it cannot run again (or null), and
   * the version all of it was read at.
   */
  async view(runId: string): Promise<(RunView & { version: string; rerunBlocked: string | null }) | null> {
    const read = await this.read(runId, true);
    if (read === null) return null;
    const rerunBlocked = read.run.secretNames.length === 0 || read.secretsKept ? null : discarded(runId);
    return { run: read.run, live: read.live, version: `${read.rv}.${read.pv}`, rerunBlocked };
  }

  async activeRunIds(): Promise<string[]> {
    return this.options.redis.smembers(this.keys.active);
  }

  /** The run's secret parameters, opened. */
  async secrets(run: Pick<RunState, 'id' | 'secretNames'>): Promise<Record<string, string>> {
    if (run.secretNames.length === 0) return {};
    const sealed = await this.options.redis.get(this.keys.secrets(run.id));
    if (sealed === null) throw new AppError('CONFIG', discarded(run.id));
    return JSON.parse(this.options.secretBox.open(sealed)) as Record<string, string>;
  }

  /**
   * Applies `change` to the whole run atomically: re-reads and retries when anything of the run
   * was written first. `change` returns the new run, or null for no change. Taking or releasing
   * the service lock follows from whether the run is active before and after; a run whose last
   * step ended (a step's own transition cannot know that) is settled by any update, `() => null`
   * included: it releases the service and its `run-finished` event is written.
   * @throws AppError CONFLICT when the run would become active while another run holds the lock.
   */
  async update(runId: string, change: (run: RunState) => RunState | null): Promise<UpdateResult | null> {
    const k = this.keys;
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const current = await this.read(runId);
      if (current === null) return null;
      const run = current.run;
      const proposed = change(run);
      // A run whose last step ended (a step's transition cannot know it was the last) still holds
      // its service: it is settled here, whatever else changes, as if it had been before.
      const held = current.active;
      const ended = held && !isActive(run);
      const was = held && !ended;
      if (proposed === null && !ended) return { run, changed: false };
      const next = structuredClone(proposed ?? run);
      const now = isActive(next);
      const endedAt = ended ? (lastFinish(run) ?? this.now()) : null;
      if (now) next.finishedAt = null;
      else if (ended) next.finishedAt = endedAt;
      else if (was) next.finishedAt = this.now();
      if (!was && now && next.secretNames.length > 0) {
        const gone = (ended && !this.options.secretBox.encrypted) || (await this.options.redis.exists(k.secrets(runId))) === 0;
        if (gone) throw new AppError('CONFLICT', `${discarded(runId)}: it cannot run again`);
      }
      const before = new Map(run.phases.flatMap((p) => p.steps).map((s) => [s.id, s]));
      const tokens: Record<string, string> = {};
      const steps: Record<string, string> = {};
      for (const step of next.phases.flatMap((p) => p.steps)) {
        const old = before.get(step.id);
        const json = JSON.stringify(step);
        if (old === undefined || JSON.stringify(old) !== json) steps[step.id] = json;
        const token = stepToken(step);
        if (token !== (old === undefined ? '' : stepToken(old))) tokens[step.id] = token;
      }
      const head = JSON.stringify(headOf(next));
      const lockOp = !held && now ? 'acquire' : held && !now ? 'release' : '';
      const dropSecrets = !now && !this.options.secretBox.encrypted ? '1' : '0';
      const finished = [
        ...(ended ? [runFinishedEvent(run, endedAt ?? this.now())] : []),
        ...runEvents(run, next, this.now(), false),
        ...(was && !now ? [runFinishedEvent(next, next.finishedAt ?? this.now())] : []),
      ];
      const events = finished.map((event) => [event.type, JSON.stringify(event)]);
      const snapshot = (next.snapshot ?? null) === (run.snapshot ?? null) ? '-' : (next.snapshot ?? '');
      const [ok, reason, holder] = await this.scripts.writeRun(
        [k.run(runId), k.steps(runId), k.stepVersions(runId), k.tokens(runId), k.progress(runId), k.lock(run.service), k.active, k.secrets(runId), k.outbox],
        [current.rv, head === current.head ? '' : head, JSON.stringify(steps), JSON.stringify(tokens), lockOp, dropSecrets, JSON.stringify(events), k.events, runId, now ? '1' : '0', snapshot, OUTBOX_LENGTH],
      );
      if (ok === 1) return { run: next, changed: proposed !== null };
      if (reason === 'gone') return null;
      if (reason === 'locked') {
        throw new AppError('CONFLICT', `service ${run.service} is busy: run ${holder ?? '?'} is active`, { details: { runId: holder } });
      }
      if (attempt > 3) await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
    throw new AppError('UNAVAILABLE', `run ${runId} is changing too fast to update; try again`);
  }

  /**
   * Applies a transition of one step (claim, complete, fail, release) atomically, writing that
   * step alone: `apply` sees the run's head with that step only (the transitions read nothing
   * else), and is applied again when the step changed first.
   */
  async transitionStep(runId: string, stepId: string, apply: (run: RunState) => Transition): Promise<StepUpdate> {
    const k = this.keys;
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const [[, head], [, snapshot], [, json], [, version]] = (await this.options.redis
        .multi()
        .hget(k.run(runId), 'head')
        .hget(k.run(runId), 'snapshot')
        .hget(k.steps(runId), stepId)
        .hget(k.stepVersions(runId), stepId)
        .exec()) as [[null, string | null], [null, string | null], [null, string | null], [null, string | null]];
      if (head === null) {
        if ((await this.read(runId)) !== null) continue;
        return { ok: false, reason: `run ${runId} no longer exists` };
      }
      if (json === null) return { ok: false, reason: `step ${stepId} is not in run ${runId}` };
      const slice = sliceOf(head, stepId, json, snapshot);
      const before = JSON.parse(json) as StepState;
      const t = apply(slice.run);
      if (!t.ok) return t;
      const event = stepEvent(t.run, slice.phase, before, t.step, this.now());
      const token = stepToken(t.step);
      const tokens = token === stepToken(before) ? {} : { [stepId]: token };
      const committed = (t.run.snapshot ?? null) !== (slice.run.snapshot ?? null) ? (t.run.snapshot ?? '') : '';
      const [ok, reason] = await this.scripts.writeStep(
        [k.run(runId), k.steps(runId), k.stepVersions(runId), k.tokens(runId), k.progress(runId), k.outbox],
        [stepId, version ?? '0', JSON.stringify(t.step), JSON.stringify(tokens), committed, JSON.stringify(event === null ? [] : [[event.type, JSON.stringify(event)]]), k.events, runId, OUTBOX_LENGTH],
      );
      if (ok === 1) {
        const { phases: _phases, ...run } = t.run;
        return { ok: true, step: t.step, run };
      }
      if (reason === 'gone') return { ok: false, reason: `run ${runId} no longer exists` };
      if (attempt > 3) await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
    throw new AppError('UNAVAILABLE', `step ${stepId} of run ${runId} is changing too fast to update; try again`);
  }

  /** Outbox entries after `after` (an entry id; '-' for the oldest kept), oldest first. */
  async events(after = '-', count = 1000): Promise<Array<{ id: string; event: RunEvent }>> {
    const entries = (await this.options.redis.xrange(this.keys.outbox, after === '-' ? '-' : `(${after}`, '+', 'COUNT', count)) as Array<[string, string[]]>;
    return entries.map(([id, fields]) => ({ id, event: JSON.parse(fields[fields.indexOf('data') + 1] ?? 'null') as RunEvent }));
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
    const ok = await this.scripts.reportProgress([k.tokens(runId), k.progress(runId), k.run(runId)], [stepId, token, JSON.stringify(live)]);
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

/**
 * The run from its head and steps (shared with the store's copy: frozen). A run whose last step
 * ended but which was not settled yet shows the time that step ended as its end.
 */
function assemble(head: RunHead, steps: ReadonlyMap<string, StepState>, fields: Record<string, string>): RunState {
  const run: RunState = {
    ...head,
    parameters: { ...head.parameters },
    secretNames: [...head.secretNames],
    retry: { ...head.retry },
    snapshot: fields['snapshot'] ?? null,
    phases: head.phases.map(({ steps: ids, ...phase }) => ({ ...phase, steps: ids.flatMap((id) => steps.get(id) ?? []) })),
  };
  if (fields['active'] === '1' && run.finishedAt === null && !isActive(run)) run.finishedAt = lastFinish(run);
  return run;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** The run's head with one step in its phase: what a step's transition reads. */
function sliceOf(head: string, stepId: string, json: string, snapshot: string | null): { run: RunState; phase: PhaseState } {
  const stored = JSON.parse(head) as RunHead;
  const step = JSON.parse(json) as StepState;
  const phases = stored.phases.map((phase): PhaseState => ({ ...phase, steps: phase.steps.includes(stepId) ? [step] : [] }));
  const phase = phases.find((p) => p.steps.length > 0) ?? { id: '', name: '', strategy: 'serial', task: step.task, finally: false, interrupted: false, steps: [step] };
  return { run: { ...stored, snapshot, phases }, phase };
}
