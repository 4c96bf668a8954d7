// A steady rate of GET requests to one URL, from its own process (so the measuring side shares
// no event loop with a server under test): an open loop, each request sent on schedule whether or
// not the earlier ones were answered; every other request revalidates with the last entity tag
// seen, as the dashboard does. It warms up first (--warmup seconds at the same rate, not
// counted: the server's and its own code reach their optimised form), prints `ready`, waits for a
// line on stdin, then measures and prints one JSON line: latency percentiles (ms), the rate
// answered, failures, and p99 per second of the run.
//   node --import tsx bench/status-load.ts --url URL --rate 500 --seconds 20 --warmup 3
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { url: { type: 'string' }, rate: { type: 'string', default: '500' }, seconds: { type: 'string', default: '20' }, warmup: { type: 'string', default: '3' } } });
const url = new URL(String(values.url));
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const round = (n: number): number => Math.round(n * 10) / 10;

function get(headers: Record<string, string>): Promise<{ status: number; etag: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search, agent, headers }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: typeof res.headers.etag === 'string' ? res.headers.etag : undefined }));
      res.on('error', reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

let etag = '';

/** `total` requests at the rate; what each took (ms), when it was sent (ms after the start). */
async function steady(total: number): Promise<{ latencies: Array<[number, number]>; failed: number; elapsed: number }> {
  const latencies: Array<[number, number]> = [];
  let failed = 0;
  const pending: Array<Promise<void>> = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i += 1) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const sent = performance.now();
    const headers: Record<string, string> = i % 2 === 0 && etag !== '' ? { 'if-none-match': etag } : {};
    pending.push(
      get(headers).then(
        (response) => {
          if (![200, 202, 304, 417].includes(response.status)) failed += 1;
          etag = response.etag ?? etag;
          latencies.push([sent - t0, performance.now() - sent]);
        },
        () => void (failed += 1),
      ),
    );
  }
  await Promise.all(pending);
  return { latencies, failed, elapsed: (performance.now() - t0) / 1000 };
}

await steady(rate * Number(values.warmup));
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => lines.once('line', () => resolve()));
lines.close();

const total = rate * seconds;
const run = await steady(total);
const failed = run.failed;
const elapsed = run.elapsed;
const latencies = run.latencies.map(([, latency]) => latency);
const bySecond: number[][] = [];
for (const [at, latency] of run.latencies) (bySecond[Math.floor(at / 1000)] ??= []).push(latency);
const sorted = [...latencies].sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    requests: total,
    failed,
    achievedRate: Math.round(latencies.length / elapsed),
    p50ms: round(percentile(sorted, 50)),
    p99ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.at(-1) ?? 0),
    p99msBySecond: bySecond.map((l) => round(percentile([...l].sort((a, b) => a - b), 99))),
  })}\n`,
);
agent.destroy();
