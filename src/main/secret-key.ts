import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
    // Written whole beside it, then linked into place: the file is never seen empty or half
    // written, and of two processes starting at once, one key wins and both use it.
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      writeFileSync(temporary, `${key}\n`, { mode: 0o600, flag: 'wx' });
      linkSync(temporary, file);
    } catch (raced) {
      if ((raced as NodeJS.ErrnoException).code !== 'EEXIST') throw new AppError('CONFIG', `cannot write ${file}: ${(raced as Error).message}`);
      key = readFileSync(file, 'utf8').trim();
    } finally {
      rmSync(temporary, { force: true });
    }
  }
  if (Buffer.from(key, 'base64').length !== 32) throw new AppError('CONFIG', `${file} does not hold a 32-byte key in base64: remove it (runs sealed with it lose their secrets), or set DRPLAN_SECRET_KEY`);
  return { env: { ...env, DRPLAN_SECRET_KEY: key }, generated: file };
}
