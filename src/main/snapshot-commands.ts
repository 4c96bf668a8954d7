import type { Command } from 'commander';
import type { SnapshotInfo } from '../api/index.js';
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
  snapshots
    .command('list')
    .alias('ls')
    .description('committed snapshots of the service, newest first')
    .action(async (_o: unknown, command: Command) => {
      const { client, opts } = clientFor(command, defaults);
      const response = await client.request('GET', client.snapshotsPath());
      if (response.status !== 200) throw failure(response);
      const list = response.body as SnapshotInfo[];
      if (opts.json === true) return out(JSON.stringify(list, null, 2));
      if (list.length === 0) return out('No committed snapshots.');
      out(
        formatTable(
          ['NAME', 'PLAN', 'STORAGE', 'LOCATION', 'CREATED', 'SIZE', 'NODES'],
          list.map((s) => [s.name, s.plan, s.storage, s.location, s.created, formatBytes(s.bytes), String(s.nodes)]),
        ),
      );
    });
}
