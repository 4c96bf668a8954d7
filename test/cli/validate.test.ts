import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { validate } from '../../src/main/validate.js';
import { tempDir } from '../helpers/tmp.js';

function run(service: string, env: Record<string, string> = {}): { code: number; out: string[]; err: string[] } {
  const root = tempDir();
  mkdirSync(join(root, 'services'));
  writeFileSync(join(root, 'services', 'svc.yml'), service);
  const out: string[] = [];
  const err: string[] = [];
  const code = validate((t) => out.push(t), (t) => err.push(t), { DRPLAN_SERVICES_DIR: join(root, 'services'), DRPLAN_PLANS_DIR: join(import.meta.dirname, '../../plans'), ...env });
  return { code, out, err };
}

const SERVICE = `name: svc
pods:
  node: { count: 1, dataDir: /tmp/svc-data }
locations:
  primary:
    storage: s3
    bucket: backups
    region: eu-west-1
    prefix: prod
    credentials: { accessKeyIdEnv: KEY_ID, secretAccessKeyEnv: KEY_SECRET }
  offsite:
    storage: azure
    account: acct
    container: dr
    endpoint: https://acct.blob.core.usgovcloudapi.net
`;

describe('drplan validate', () => {
  it('lists each location, where its credentials come from, and which named variables this environment lacks', () => {
    const { code, out, err } = run(SERVICE, { KEY_ID: 'AKIA' });
    assert.equal(code, 0, err.join('\n'));
    assert.ok(out.includes('  location primary: s3://backups/prod (region eu-west-1), credentials from KEY_ID, KEY_SECRET (not set here: KEY_SECRET; the agents need them)'), out.join('\n'));
    assert.ok(out.includes('  location offsite: azure://dr (account acct, endpoint https://acct.blob.core.usgovcloudapi.net), credentials from DefaultAzureCredential of the agents'), out.join('\n'));
    assert.equal(out.at(-1), 'ok: 1 service, 4 plans');
  });

  it('fails with every problem of a location, with its line', () => {
    const { code, err } = run(SERVICE.replace('    region: eu-west-1\n', ''));
    assert.equal(code, 1);
    assert.match(err[0] ?? '', /svc\.yml:6: location primary \(s3\) needs region$/);
    assert.equal(err.at(-1), '1 problem');
  });
});
