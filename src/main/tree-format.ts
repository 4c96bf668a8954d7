import type { PlanInfo } from '../api/index.js';

const show = (value: string | undefined | null): string => value ?? '<UNKNOWN>';

/** The DC/OS CLI tree: `plan (strategy) (STATUS)`, phases with ├─/└─, steps beneath, then errors. */
export function formatPlanTree(plan: Partial<PlanInfo>): string {
  const lines = [`${show(plan.name)} (${show(plan.strategy)} strategy) (${show(plan.status)})`];
  const phases = plan.phases ?? [];
  phases.forEach((phase, i) => {
    const lastPhase = i === phases.length - 1;
    lines.push(`${lastPhase ? '└─ ' : '├─ '}${show(phase.name)} (${show(phase.strategy)} strategy) (${show(phase.status)})`);
    const indent = lastPhase ? '   ' : '│  ';
    phase.steps.forEach((step, j) => {
      lines.push(`${indent}${j === phase.steps.length - 1 ? '└─ ' : '├─ '}${show(step.name)} (${show(step.status)})`);
    });
  });
  const errors = plan.errors ?? [];
  if (errors.length > 0) lines.push('', 'Errors:', ...errors.map((error) => `- ${error}`));
  return lines.join('\n');
}
