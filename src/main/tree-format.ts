import type { PlanInfo } from '../api/index.js';
import { formatBytes, formatDuration } from '../shared/index.js';

const show = (value: string | undefined | null): string => value ?? '<UNKNOWN>';

type Step = PlanInfo['phases'][number]['steps'][number];

export interface TreeOptions {
  /** Add each running step's progress bar (bytes, rate, ETA) or message: the `--watch` view. */
  live?: boolean;
  /** Cut lines to this width (a terminal's columns), so a redraw knows how many lines it wrote. */
  columns?: number;
}

/** `[██████░░░░] 60% 1.2 GiB/2.0 GiB 84 MiB/s ETA 10s`, or the message of a step that moves no bytes. */
export function stepProgress(step: Pick<Step, 'status' | 'progress' | 'message'>, barWidth = 20): string {
  const progress = step.progress;
  if (progress !== null && (step.status === 'STARTED' || step.status === 'DELAYED' || progress.bytesDone > 0)) {
    const parts: string[] = [];
    const total = progress.bytesTotal;
    if (total !== null && total > 0) {
      const fraction = Math.min(1, progress.bytesDone / total);
      const filled = Math.round(fraction * barWidth);
      parts.push(`[${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}] ${Math.floor(fraction * 100)}%`);
      parts.push(`${formatBytes(progress.bytesDone)}/${formatBytes(total)}`);
    } else {
      parts.push(formatBytes(progress.bytesDone));
    }
    if (progress.rate !== undefined && step.status === 'STARTED') parts.push(`${formatBytes(progress.rate)}/s`);
    if (progress.eta !== undefined && step.status === 'STARTED') parts.push(`ETA ${formatDuration(progress.eta)}`);
    return parts.join(' ');
  }
  if (step.status === 'STARTED' || step.status === 'DELAYED') return step.message.split('\n').filter((l) => l.trim() !== '').at(-1) ?? '';
  return '';
}

/** Control characters (an escape sequence in a hook's output) would drive the terminal: show them as spaces. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const clean = (line: string): string => line.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');

const cut = (line: string, columns: number | undefined): string =>
  columns === undefined || [...line].length < columns ? line : `${[...line].slice(0, Math.max(1, columns - 2)).join('')}…`;

/** The DC/OS CLI tree: `plan (strategy) (STATUS)`, phases with ├─/└─, steps beneath, then errors. */
export function formatPlanTree(plan: Partial<PlanInfo>, options: TreeOptions = {}): string {
  const lines = [`${show(plan.name)} (${show(plan.strategy)} strategy) (${show(plan.status)})`];
  const phases = plan.phases ?? [];
  phases.forEach((phase, i) => {
    const lastPhase = i === phases.length - 1;
    lines.push(`${lastPhase ? '└─ ' : '├─ '}${show(phase.name)} (${show(phase.strategy)} strategy) (${show(phase.status)})`);
    const indent = lastPhase ? '   ' : '│  ';
    phase.steps.forEach((step, j) => {
      const extra = options.live === true ? stepProgress(step) : '';
      lines.push(`${indent}${j === phase.steps.length - 1 ? '└─ ' : '├─ '}${show(step.name)} (${show(step.status)})${extra === '' ? '' : ` ${extra}`}`);
    });
  });
  const errors = plan.errors ?? [];
  if (errors.length > 0) lines.push('', 'Errors:', ...errors.flatMap((error) => `- ${error}`.split('\n')));
  return lines.map((line) => cut(clean(line), options.columns)).join('\n');
}
