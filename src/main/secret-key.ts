import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { AppError } from '../shared/index.js';

/** Where `drplan serve` keeps what it generates: DRPLAN_STATE_DIR, or var/ beside the services directory. */
export function stateDirOf(env: Readonly<Record<string, string | undefined>>, cwd = process.cwd()): string {
  const given = env['DRPLAN_STATE_DIR'];
  if (given !== undefined && given !== '') return isAbsolute(given) ? given : resolve(cwd, given);
  const services = env['DRPLAN_SERVICES_DIR'] ?? 'services';
  return resolve(cwd, isAbsolute(services) ? services : resolve(cwd, services), '..', 'var');
}

/**
 * The environment with a DRPLAN_SECRET_KEY: the one given, or the one kept in the state
 * directory (`secret-key`, mode 0600), made on first use. The embedded default needs one so that
 * a run with secret parameters can be restarted or resumed after it failed or was stopped.
 */
export function withSecretKey(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; generated: string | null } {
  if ((env['DRPLAN_SECRET_KEY'] ?? '') !== '') return { env, generated: null };
  const file = join(stateDirOf(env), 'secret-key');
  let key: string;
  try {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) throw new AppError('CONFIG', `${file} is readable by others (mode ${mode.toString(8)}): chmod 600 it, or set DRPLAN_SECRET_KEY`);
    key = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error instanceof AppError ? error : new AppError('CONFIG', `cannot read ${file}: ${(error as Error).message}`);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    key = randomBytes(32).toString('base64');
    // Created exclusively: two processes starting at once never end up with two keys.
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${key}\n`);
      closeSync(fd);
      chmodSync(file, 0o600);
    } catch (raced) {
      if ((raced as NodeJS.ErrnoException).code !== 'EEXIST') throw new AppError('CONFIG', `cannot write ${file}: ${(raced as Error).message}`);
      key = readFileSync(file, 'utf8').trim();
    }
  }
  return { env: { ...env, DRPLAN_SECRET_KEY: key }, generated: file };
}
