import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { collectErrors, launchBrowser, screenshot } from '../helpers/browser.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { startServe } from '../helpers/serve-process.js';
import { tempDir } from '../helpers/tmp.js';

// The schema hook's output becomes its step's message: markup in it must show as text.
const MARKUP = '<img src=x onerror="window.__xss=1">';
const SERVICE = `name: shop
pods:
  node:
    count: 3
    dataDir: $ROOT/shop/node-{{POD_INDEX}}
hooks:
  backup-schema:
    command: 'sleep 1.5; echo "schema of node $POD_INDEX ${MARKUP.replaceAll('"', '\\"')}"'
`;
const NODE_MB = 40;
const SCHEMA_RUNNING = 'tr[data-step$=":[backup-schema]"].status-STARTED';

describe('the dashboard in a browser, against drplan serve, redis-server and s3rver', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let serve: Awaited<ReturnType<typeof startServe>>;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  before(async () => {
    const root = tempDir();
    for (let i = 0; i < 3; i += 1) {
      const dir = join(root, 'shop', `node-${i}`);
      mkdirSync(join(dir, 'tables'), { recursive: true });
      // Incompressible, so each upload takes long enough to be watched.
      writeFileSync(join(dir, 'tables', 'big.bin'), randomBytes(NODE_MB * 1024 * 1024));
      for (let f = 0; f < 20; f += 1) writeFileSync(join(dir, `small-${f}.txt`), `row ${f} of node ${i}\n`);
    }
    [redis, s3] = await Promise.all([startRedis(), startS3(['backups'])]);
    serve = await startServe({ redisUrl: redis.url, services: { 'shop.yml': SERVICE }, root });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    errors = collectErrors(page);
    await page.goto(serve.url);
    // A mark on the window: if the page reloads, it is gone.
    await page.evaluate('window.__mark = 1');
  });
  after(async () => {
    await browser?.close();
    await serve?.stop();
    await Promise.all([redis?.stop(), s3?.stop()]);
  });

  const headStatus = (): Promise<string> => page.locator('#plan-head .badge').first().innerText();
  /** Opens the start form of the selected plan, fills it for the S3 server and submits it. */
  const startFromForm = async (snapshot: string): Promise<void> => {
    await page.click('#plan-head button:has-text("Start…")');
    const form = page.locator('#start-form');
    await form.locator('#param-SNAPSHOT_NAME').fill(snapshot);
    for (const [name, value] of Object.entries(s3.parameters)) await form.locator(`#param-${name}`).fill(value);
    await form.locator('button[type="submit"]').click();
  };

  it('lists the four plans of the service', async () => {
    await page.locator('#plans li[data-plan]').nth(3).waitFor();
    const items = page.locator('#plans li[data-plan]');
    const names: Array<string | null> = [];
    for (let i = 0; i < (await items.count()); i += 1) names.push(await items.nth(i).getAttribute('data-plan'));
    assert.deepEqual(names.sort(), ['backup-azure', 'backup-s3', 'restore-azure', 'restore-s3']);
    await page.locator('#plans li[data-plan="backup-s3"] .badge', { hasText: 'PENDING' }).waitFor();
  });

  it('builds the start form from the declarations and shows a 400 problem beside its field', async () => {
    await page.click('#plans li[data-plan="backup-s3"] a');
    await page.locator('#plan-head h2', { hasText: 'backup-s3' }).waitFor();
    await page.click('#plan-head button:has-text("Start…")');
    const form = page.locator('#start-form');
    await form.waitFor();
    assert.equal(await form.locator('[data-parameter="SNAPSHOT_NAME"] .required').count(), 1, 'required is marked');
    assert.equal(await form.locator('#param-AWS_SECRET_ACCESS_KEY').getAttribute('type'), 'password');
    assert.equal(await form.locator('#param-AWS_ACCESS_KEY_ID').getAttribute('type'), 'password');
    assert.equal(await form.locator('select#param-BACKUP_RESTORE_STRATEGY').count(), 1, 'an enum is a select');
    assert.equal(await form.locator('#param-BACKUP_RESTORE_STRATEGY').inputValue(), 'serial', 'default filled');
    for (const [name, value] of Object.entries(s3.parameters)) await form.locator(`#param-${name}`).fill(value);
    await form.locator('button[type="submit"]').click();
    const problem = form.locator('[data-error-for="SNAPSHOT_NAME"]');
    await problem.filter({ hasText: 'is required' }).waitFor();
    assert.equal(await form.locator('[data-parameter="SNAPSHOT_NAME"]').getAttribute('class'), 'field invalid');
    assert.equal(await form.locator('[data-error-for="S3_BUCKET_NAME"]').innerText(), '', 'only the field at fault');
    assert.equal(await form.locator('.form-problems').innerText(), 'invalid parameters for plan backup-s3: SNAPSHOT_NAME is required');
    await screenshot(page, 'dashboard-start-form-error');
  });

  it('follows a valid start to COMPLETE without reloading, with progress on the way', async () => {
    const form = page.locator('#start-form');
    await form.locator('#param-SNAPSHOT_NAME').fill('nightly-1');
    await form.locator('button[type="submit"]').click();
    await page.locator('#notice', { hasText: 'backup-s3 started.' }).waitFor();
    // A running upload shows its bar with bytes, rate and ETA.
    const bar = page.locator('tr.step.status-STARTED .progress-text', { hasText: /MiB\/s · ETA/ });
    await bar.first().waitFor({ timeout: 60_000 });
    const text = await bar.first().innerText();
    assert.match(text, /^[\d.]+ (B|KiB|MiB) of [\d.]+ MiB · \d+% · [\d.]+ (B|KiB|MiB)\/s · ETA \d+/);
    await screenshot(page, 'dashboard-backup-in-progress');
    await page.locator('#plan-head .badge', { hasText: 'COMPLETE' }).waitFor({ timeout: 90_000 });
    assert.equal(await page.evaluate('window.__mark'), 1, 'the page was never reloaded');
    assert.equal(await page.locator('#plans li[data-plan="backup-s3"] .badge').innerText(), 'COMPLETE');
    // The catalogue picks the new snapshot up.
    await page.locator('#snapshots tr[data-snapshot="nightly-1"]').waitFor({ timeout: 20_000 });
    const row = await page.locator('#snapshots tr[data-snapshot="nightly-1"] td').allInnerTexts();
    assert.deepEqual([row[0], row[1], row[2], row[3], row[6]], ['nightly-1', 'backup-s3', 's3', 'backups', '3']);
    await screenshot(page, 'dashboard-backup-complete');
  });

  it('shows a step message holding HTML as text, never as markup', async () => {
    const cell = page.locator('tr[data-step="node-1:[backup-schema]"] td.message');
    assert.equal(await cell.innerText(), `schema of node 1 ${MARKUP}`);
    assert.equal(await page.locator('#plan img, #plans img').count(), 0);
  });

  it('pauses and resumes a run from the page', async () => {
    await startFromForm('nightly-2');
    // The schema hooks take 1.5 s each, one node after the other: pause while one runs.
    await page.locator(SCHEMA_RUNNING).first().waitFor({ timeout: 30_000 });
    await page.click('#plan-head button:has-text("Pause")');
    await page.locator('#plan-head .badge', { hasText: 'WAITING' }).waitFor({ timeout: 10_000 });
    await page.locator(SCHEMA_RUNNING).waitFor({ state: 'detached', timeout: 10_000 });
    await screenshot(page, 'dashboard-paused');
    // Paused: the running step finished, and nothing new starts.
    const done = await page.locator('tr[data-step$=":[backup-schema]"].status-COMPLETE').count();
    await page.waitForTimeout(3000);
    assert.equal(await headStatus(), 'WAITING');
    assert.equal(await page.locator('tr[data-step$=":[backup-schema]"].status-COMPLETE').count(), done);
    assert.equal(await page.locator('tr.step.status-STARTED, tr.step.status-STARTING').count(), 0);
    assert.equal(await page.locator('tr[data-step="node-0:[upload-s3]"] .badge').innerText(), 'PENDING');
    await page.click('#plan-head button:has-text("Resume")');
    await page.locator('#plan-head .badge', { hasText: 'COMPLETE' }).waitFor({ timeout: 90_000 });
  });

  it('asks before stopping, and stop cancels the run', async () => {
    await startFromForm('nightly-3');
    await page.locator(SCHEMA_RUNNING).first().waitFor({ timeout: 30_000 });
    await page.click('#plan-head button:has-text("Stop")');
    const dialog = page.locator('#confirm-dialog');
    await dialog.waitFor();
    assert.match(await dialog.locator('#confirm-message').innerText(), /^Stop backup-s3\?/);
    await dialog.locator('button[value="cancel"]').click();
    await page.waitForTimeout(1500);
    assert.match(await page.locator('#plan-head .meta').innerText(), / · running$/, 'cancelled: the run goes on');
    await page.click('#plan-head button:has-text("Stop")');
    await dialog.locator('button[value="confirm"]').click();
    await page.locator('#plan-head .meta', { hasText: 'stopped' }).waitFor({ timeout: 10_000 });
    assert.equal(await headStatus(), 'WAITING', 'stopped: interrupted and reset, as in DC/OS');
    assert.equal(await page.locator('tr[data-step="node-0:[upload-s3]"] .badge').innerText(), 'PENDING');
  });

  it('restarts the plan, force-completes a step after asking, and pauses and resumes one phase', async () => {
    // The plan stopped above: run it again with its stored parameters.
    await page.click('#plan-head button:has-text("Restart")');
    await page.locator('#plan-head .meta', { hasText: ' · running' }).waitFor({ timeout: 10_000 });
    // node-2's schema hook has not run yet (they run one node at a time): skip it.
    const row = page.locator('tr[data-step="node-2:[backup-schema]"]');
    assert.equal(await row.locator('.badge').innerText(), 'PENDING');
    await row.locator('button:has-text("Force complete")').click();
    const dialog = page.locator('#confirm-dialog');
    assert.equal(await dialog.locator('#confirm-message').innerText(), 'Mark node-2:[backup-schema] COMPLETE without running it? If it runs, it is cancelled.');
    await dialog.locator('button[value="confirm"]').click();
    await row.locator('.badge', { hasText: 'COMPLETE' }).waitFor({ timeout: 10_000 });
    // Pause the upload phase before it starts: the schema phase finishes, the uploads wait.
    const uploads = page.locator('.phase[data-phase="upload-backups"]');
    await uploads.locator('.phase-head button:has-text("Pause")').click();
    await uploads.locator('.phase-head .badge', { hasText: 'WAITING' }).waitFor({ timeout: 10_000 });
    await page.locator('.phase[data-phase="backup-schema"] .phase-head .badge', { hasText: 'COMPLETE' }).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(2000);
    assert.equal(await uploads.locator('tr[data-step="node-0:[upload-s3]"] .badge').innerText(), 'PENDING');
    assert.equal(await row.locator('td.message').innerText(), 'forced to complete by an operator', 'the skipped hook never ran');
    // The plan itself is not paused: its Pause stays offered, its Resume does not.
    assert.equal(await page.locator('#plan-head button:has-text("Pause")').isEnabled(), true);
    assert.equal(await page.locator('#plan-head button:has-text("Resume")').isEnabled(), false);
    await uploads.locator('.phase-head button:has-text("Resume")').click();
    await page.locator('#plan-head .badge', { hasText: 'COMPLETE' }).waitFor({ timeout: 90_000 });
    await page.locator('#snapshots tr[data-snapshot="nightly-3"]').waitFor({ timeout: 20_000 });
  });

  it('restores a snapshot from the catalogue, the form filled with its name and bucket', async () => {
    await page.locator('#snapshots tr[data-snapshot="nightly-1"] button:has-text("Restore…")').click();
    await page.locator('#plan-head h2', { hasText: 'restore-s3' }).waitFor();
    const form = page.locator('#start-form');
    await form.waitFor();
    assert.equal(await form.locator('#param-SNAPSHOT_NAME').inputValue(), 'nightly-1');
    assert.equal(await form.locator('#param-S3_BUCKET_NAME').inputValue(), 'backups');
    assert.equal(await form.locator('#param-RESTORE_POLICY').inputValue(), 'safe', 'the safe default');
    for (const [name, value] of Object.entries(s3.parameters)) if (name !== 'S3_BUCKET_NAME') await form.locator(`#param-${name}`).fill(value);
    // The nodes still have their data: only force replaces it.
    await form.locator('#param-RESTORE_POLICY').selectOption('force');
    await form.locator('button[type="submit"]').click();
    await page.locator('#notice', { hasText: 'restore-s3 started.' }).waitFor();
    await page.locator('#plan-head .badge', { hasText: 'COMPLETE' }).waitFor({ timeout: 90_000 });
    assert.equal(await page.locator('#plans li[data-plan="restore-s3"] .badge').innerText(), 'COMPLETE');

    // One node again, from its step: the form comes with the run's parameters and NODES, never its secrets.
    await page.locator('tr[data-step="node-1:[fetch-restore-s3]"] button:has-text("Restore this node…")').click();
    const again = page.locator('#start-form');
    await again.waitFor();
    assert.equal(await again.locator('#param-NODES').inputValue(), 'node-1');
    assert.equal(await again.locator('#param-SNAPSHOT_NAME').inputValue(), 'nightly-1');
    assert.equal(await again.locator('#param-AWS_SECRET_ACCESS_KEY').inputValue(), '', 'a secret is typed again, never copied');
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) await again.locator(`#param-${name}`).fill(s3.parameters[name] ?? '');
    await again.locator('button[type="submit"]').click();
    // The new run has no step for node-0; then it completes.
    await page.locator('tr[data-step="node-0:[fetch-restore-s3]"]').waitFor({ state: 'detached', timeout: 10_000 });
    await page.locator('tr[data-step="node-1:[fetch-restore-s3]"] .badge', { hasText: 'COMPLETE' }).waitFor({ timeout: 90_000 });
    await page.locator('#plan-head .badge', { hasText: 'COMPLETE' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('tr[data-step="node-1:[fetch-restore-s3]"] .badge').innerText(), 'COMPLETE', 'node-1 alone was restored');
  });

  it('shows the run history: outcome, duration, bytes, the snapshot, and who stopped a run', async () => {
    await page.click('#plans li[data-plan="backup-s3"] a');
    await page.locator('#plan-head h2', { hasText: 'backup-s3' }).waitFor();
    await startFromForm('nightly-4');
    await page.locator(SCHEMA_RUNNING).first().waitFor({ timeout: 30_000 });
    await page.click('#plan-head button:has-text("Stop")');
    await page.locator('#confirm-dialog button[value="confirm"]').click();
    await page.locator('#plan-head .meta', { hasText: 'stopped' }).waitFor({ timeout: 10_000 });
    const stopped = page.locator('#history tr.outcome-stopped').first();
    await stopped.waitFor({ timeout: 20_000 });
    const cells = await stopped.locator('td').allInnerTexts();
    assert.equal(cells[1], 'backup-s3');
    assert.match(cells[2] ?? '', /^WAITING\s+stopped$/);
    assert.match(cells[6] ?? '', /^stopped by dashboard from 127\.0\.0\.1 at /);
    const done = await page.locator('#history tr.outcome-complete', { hasText: 'nightly-3' }).first().locator('td').allInnerTexts();
    assert.equal(done[1], 'backup-s3');
    assert.match(done[3] ?? '', /^\d+(s|m \d\ds)$/, 'a duration');
    assert.match(done[4] ?? '', /^[\d.]+ (KiB|MiB)$/, 'the bytes it moved');
    assert.equal(done[5], 'nightly-3');
    assert.ok((await page.locator('#history tr[data-run]').count()) >= 4, 'every run, not only the last of each plan');
    await screenshot(page, 'dashboard-history');
  });

  it('asks for the API token when one is needed, says when it is refused, and keeps it for the tab', async () => {
    const api = await startServe({ redisUrl: redis.url, services: { 'shop.yml': SERVICE }, root: serve.root, command: 'api', env: { DRPLAN_API_TOKEN: 'right-token-4711' } });
    const tab = await browser.newPage();
    const tabErrors = collectErrors(tab);
    try {
      await tab.goto(api.url);
      const dialog = tab.locator('#token-dialog');
      await dialog.locator('#token-message', { hasText: 'This drplan API needs a bearer token.' }).waitFor();
      await dialog.locator('#token-input').fill('wrong-token');
      await dialog.locator('button[value="save"]').click();
      await dialog.locator('#token-message', { hasText: 'The token was refused: the bearer token is wrong.' }).waitFor();
      assert.match(await tab.locator('#connection').innerText(), /token was refused/);
      await screenshot(tab, 'dashboard-token-refused');
      await dialog.locator('#token-input').fill('right-token-4711');
      await dialog.locator('button[value="save"]').click();
      await tab.locator('#plans li[data-plan]').nth(3).waitFor();
      assert.equal(await dialog.isVisible(), false);
      assert.equal(await tab.evaluate("sessionStorage.getItem('drplan.token')"), 'right-token-4711');
      await tab.reload();
      await tab.locator('#plans li[data-plan]').nth(3).waitFor();
      assert.equal(await dialog.isVisible(), false, 'kept for the tab');
      assert.deepEqual(tabErrors, []);
    } finally {
      await tab.close();
      await api.stop();
    }
  });

  it('had no script errors', () => {
    assert.deepEqual(errors, []);
  });
});
