import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { existsSync } from 'node:fs';
import type { HookSpec } from '../engine/index.js';
import { AppError, formatDuration } from '../shared/index.js';
import { effectiveDataDir, podSpecOf, snapshotDir, snapshotNameOf } from './paths.js';
import type { Task, TaskContext } from './types.js';

const INHERITED = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'USER', 'LOGNAME', 'SHELL'];
const TAIL_BYTES = 8192;
const MESSAGE_CHARS = 600;
/** After SIGTERM, a hook has this long before SIGKILL. */
const KILL_GRACE_MS = 1000;

/** The last lines of output, at most MESSAGE_CHARS. */
export function outputTail(text: string): string {
  const lines = text.split('\n').map((line) => line.trimEnd()).filter((line) => line.length > 0);
  let out = '';
  for (let i = lines.length - 1; i >= 0; i -= 1) {
    const next = out === '' ? (lines[i] ?? '') : `${lines[i] ?? ''}\n${out}`;
    if (next.length > MESSAGE_CHARS) return out === '' ? next.slice(-MESSAGE_CHARS) : out;
    out = next;
  }
  return out;
}

/** The part of an agent's environment hooks may see; everything else (tokens, keys) stays out. */
export function inheritedEnvironment(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export function hookEnvironment(context: TaskContext): Record<string, string> {
  const env: Record<string, string> = { ...context.settings.hookEnv };
  Object.assign(env, context.parameters);
  const name = snapshotNameOf(context);
  env['SERVICE_NAME'] = context.service.name;
  env['PLAN_NAME'] = context.run.plan;
  env['RUN_ID'] = context.run.id;
  env['STEP_NAME'] = context.stepName;
  env['SNAPSHOT_NAME'] = name;
  if (context.podIndex !== null) env['POD_INDEX'] = String(context.podIndex);
  if (context.dataDir !== null) {
    env['DATA_DIR'] = context.dataDir;
    // With `snapshot: none` there is no snapshot: what the upload reads is the data dir itself.
    const mode = context.pod === null ? undefined : podSpecOf(context).snapshot;
    env['SNAPSHOT_DIR'] = mode === 'none' ? context.dataDir : snapshotDir(effectiveDataDir(context.dataDir), name);
  }
  return env;
}

/**
 * Runs a service-declared command on the node, in its own process group so a timeout or a
 * stop kills everything it started. Its output's tail becomes the step message.
 */
export function hookTask(name: string, hook: HookSpec): Task {
  return (context) =>
    new Promise((resolve, reject) => {
      const [file, ...args] = typeof hook.command === 'string' ? ['/bin/sh', '-c', hook.command] : hook.command;
      const cwd = context.dataDir !== null && existsSync(context.dataDir) ? context.dataDir : context.service.dir;
      const child = spawn(file ?? '/bin/sh', args, { cwd, env: hookEnvironment(context), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const decoder = new StringDecoder('utf8');
      const started = Date.now();
      const report = (): void => {
        const last = outputTail(output).split('\n').at(-1) ?? '';
        context.progress.message(`running ${name} for ${formatDuration((Date.now() - started) / 1000)}${last === '' ? '' : `: ${last}`}`);
      };
      const collect = (chunk: Buffer): void => {
        output = (output + decoder.write(chunk)).slice(-TAIL_BYTES);
        report();
      };
      report();
      const ticker = setInterval(report, 1000);
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);

      let ended: AppError | null = null;
      let killTimer: NodeJS.Timeout | undefined;
      const kill = (reason: AppError): void => {
        if (ended !== null || child.pid === undefined) return;
        ended = reason;
        const group = -child.pid;
        try {
          process.kill(group, 'SIGTERM');
        } catch {
          return;
        }
        killTimer = setTimeout(() => {
          try {
            process.kill(group, 'SIGKILL');
          } catch {
            // already gone
          }
        }, KILL_GRACE_MS);
      };
      const timeout = setTimeout(() => {
        kill(new AppError(hook.retryable ? 'TIMEOUT' : 'HOOK_FAILED_FINAL', `hook ${name} timed out after ${formatDuration(hook.timeoutSeconds)}`));
      }, hook.timeoutSeconds * 1000);
      const onAbort = (): void => kill(new AppError('CANCELLED', `hook ${name} was cancelled`));
      context.signal.addEventListener('abort', onAbort, { once: true });
      if (context.signal.aborted) onAbort();

      const finish = (): void => {
        clearInterval(ticker);
        clearTimeout(timeout);
        if (killTimer !== undefined) clearTimeout(killTimer);
        context.signal.removeEventListener('abort', onAbort);
      };
      child.on('error', (error) => {
        finish();
        reject(new AppError('CONFIG', `hook ${name} cannot start: ${error.message}`, { cause: error }));
      });
      // 'close' waits for stdout and stderr to end; a grandchild that escaped the process group
      // could hold them open forever, so once the hook itself has exited, stop waiting soon.
      child.on('exit', () => {
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }, KILL_GRACE_MS).unref();
      });
      child.on('close', (code, signal) => {
        finish();
        const tail = outputTail(output);
        if (ended !== null) {
          reject(new AppError(ended.code, tail === '' ? ended.message : `${ended.message}: ${tail}`));
        } else if (code === 0) {
          resolve({ message: tail === '' ? `hook ${name} succeeded` : tail });
        } else {
          const how = code === null ? `was killed by ${signal ?? 'a signal'}` : `exited with code ${code}`;
          // The hook's own declaration picks the code, and the code says whether it is retried.
          reject(new AppError(hook.retryable ? 'HOOK_FAILED' : 'HOOK_FAILED_FINAL', `hook ${name} ${how}${tail === '' ? '' : `: ${tail}`}`));
        }
      });
    });
}
