import type { Command } from 'commander';
import type { SnapshotDetailInfo, SnapshotInfo } from '../api/index.js';
import { formatBytes } from '../shared/index.js';
import { apiCommand, clientFor, failure, type ApiDefaults } from './plan-commands.js';

/** Left-aligned columns, two spaces apart. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max([...h].length, ...rows.map((row) => [...(row[i] ?? '')].length)));
  const line = (cells: string[]): string => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ');
  return [header, ...rows].map(line).join('\n');
}

/** `drplan snapshots list`: the catalogue of committed snapshots. */
export function addSnapshotCommands(program: Command, out: (text: string) => void, defaults: ApiDefaults): void {
  const snapshots = apiCommand(program, 'snapshots', defaults).description('the catalogue of committed snapshots');
  const where = (location: string | undefined): string => (location === undefined ? '' : `?location=${encodeURIComponent(location)}`);
  snapshots
    .command('list')
    .alias('ls')
    .description('committed snapshots of the service, newest first')
    .option('--location <name>', 'only those of this location of the service')
    .action(async (o: { location?: string }, command: Command) => {
      const { client, opts } = clientFor(command, defaults);
      const response = await client.request('GET', client.snapshotsPath(where(o.location)));
      if (response.status !== 200) throw failure(response);
      const list = response.body as SnapshotInfo[];
      if (opts.json === true) return out(JSON.stringify(list, null, 2));
      if (list.length === 0) return out('No committed snapshots.');
      out(
        formatTable(
          ['NAME', 'PLAN', 'STORAGE', 'LOCATION', 'CREATED', 'SIZE', 'NODES'],
          list.map((s) => [s.name, s.plan, s.storage, s.locationName ?? `${s.location}${s.prefix === undefined || s.prefix === '' ? '' : `/${s.prefix}`}`, s.created, formatBytes(s.bytes), String(s.nodes)]),
        ),
      );
    });

  snapshots
    .command('describe')
    .description('one snapshot: where it is, how to restore it, its chain, and its manifest')
    .argument('<name>')
    .option('--location <name>', 'the location of the service it is in, when the name is in several')
    .action(async (name: string, o: { location?: string }, command: Command) => {
      const { client, opts } = clientFor(command, defaults);
      const response = await client.request('GET', client.snapshotsPath(`/${encodeURIComponent(name)}${where(o.location)}`));
      if (response.status !== 200) throw failure(response);
      const s = response.body as SnapshotDetailInfo;
      if (opts.json === true) return out(JSON.stringify(s, null, 2));
      const restore = s.restore === null ? 'no plan of the service restores it' : `drplan plan start ${s.restore.plan} ${Object.entries(s.restore.parameters).map(([k, v]) => `-p ${k}=${v}`).join(' ')}`;
      out(
        [
          `snapshot ${s.name} of service ${s.service}`,
          `  where:     ${placeOf(s)}${s.endpoint === undefined || s.endpoint === null ? '' : ` at ${s.endpoint}`}${s.region === undefined ? '' : `, region ${s.region}`}${s.account === undefined ? '' : `, account ${s.account}`}`,
          `  created:   ${s.created} by ${s.plan} (run ${s.runId})`,
          `  size:      ${formatBytes(s.bytes)} in ${s.nodes} nodes${s.type === undefined ? '' : `, ${s.type}`}`,
          `  chain:     ${s.chain.join(' → ')}`,
          ...(s.dependents.length === 0 ? [] : [`  built on by: ${s.dependents.join(', ')}`]),
          `  restore:   ${restore}`,
          '  manifest:',
          ...JSON.stringify(s.manifest, null, 2).split('\n').map((line) => `    ${line}`),
        ].join('\n'),
      );
    });

  snapshots
    .command('refresh')
    .description("rebuild the catalogue from the manifests in the service's locations (the bucket is the source of truth)")
    .option('--location <name>', 'only this location of the service')
    .action(async (o: { location?: string }, command: Command) => {
      const { client, opts } = clientFor(command, defaults);
      const response = await client.request('POST', client.snapshotsPath(`/refresh${where(o.location)}`));
      if (response.status !== 200) throw failure(response);
      const results = response.body as Array<{ location: string; snapshots: number; added: string[]; removed: string[]; unreadable: Array<{ name: string; problem: string }>; incomplete: string[]; error?: string }>;
      if (opts.json === true) return out(JSON.stringify(results, null, 2));
      const lines: string[] = [];
      for (const r of results) {
        if (r.error !== undefined) {
          lines.push(`${r.location}: not read: ${r.error}`);
          process.exitCode = 1;
          continue;
        }
        const changes = [r.added.length === 0 ? '' : `added ${r.added.join(', ')}`, r.removed.length === 0 ? '' : `removed ${r.removed.join(', ')}`].filter((c) => c !== '');
        lines.push(`${r.location}: ${r.snapshots} committed snapshot${r.snapshots === 1 ? '' : 's'}${changes.length === 0 ? ', catalogue unchanged' : `; ${changes.join('; ')}`}`);
        for (const u of r.unreadable) lines.push(`  unreadable: ${u.name}: ${u.problem}`);
        if (r.incomplete.length > 0) lines.push(`  never committed (no manifest): ${r.incomplete.join(', ')}`);
      }
      out(lines.join('\n'));
    });
}

/** `primary (s3://backups/prod)`, or the bare place for a snapshot made with explicit parameters. */
function placeOf(s: SnapshotInfo): string {
  const place = `${s.storage}://${s.location}${s.prefix === undefined || s.prefix === '' ? '' : `/${s.prefix}`}`;
  return s.locationName === undefined ? place : `${s.locationName} (${place})`;
}
