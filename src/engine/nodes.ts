import type { ParameterProblem } from './parameters.js';
import { dedupeProblems, renderTemplate, templateNames } from './parameters.js';
import { phaseInstances, phasesFor } from './tasks.js';
import type { PhaseSpec, PlanSpec, ServiceSpec } from './types.js';

type Instance = { pod: string; index: number };

const SELECTOR = /^(?:([a-z0-9]([a-z0-9-]*[a-z0-9])?)-)?(\d+)$/;

/** The selectors of a `nodes:` text after rendering: [] for every node. */
function selectors(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

const matches = (selector: string, instance: Instance): boolean => {
  const match = SELECTOR.exec(selector);
  if (match === null) return false;
  return Number(match[3]) === instance.index && (match[1] === undefined || match[1] === instance.pod);
};

/**
 * The instances a phase runs on: every instance of the pods it walks, or those its `nodes:`
 * selects. Null for a service-wide phase.
 */
export function selectedInstances(phase: Pick<PhaseSpec, 'pod' | 'nodes'>, service: ServiceSpec, values: Record<string, string>): Instance[] | null {
  const instances = phaseInstances(phase, service);
  if (instances === null || phase.nodes === undefined) return instances;
  const rendered = renderTemplate(phase.nodes, values);
  // A parameter without a value selects nothing in particular: every node.
  if (rendered.includes('{{')) return instances;
  const wanted = selectors(rendered);
  return wanted.length === 0 ? instances : instances.filter((instance) => wanted.some((selector) => matches(selector, instance)));
}

/**
 * What is wrong with the nodes a start selects: a selector that is not `<index>` or
 * `<pod>-<index>`, one that names no node of the service, a phase left with no node.
 */
export function nodeSelectionProblems(plan: PlanSpec, service: ServiceSpec, values: Record<string, string>): ParameterProblem[] {
  const problems: ParameterProblem[] = [];
  for (const phase of phasesFor(plan, service)) {
    if (phase.nodes === undefined) continue;
    const all = phaseInstances(phase, service);
    if (all === null) continue;
    const rendered = renderTemplate(phase.nodes, values);
    if (rendered.includes('{{')) continue;
    const parameter = templateNames(phase.nodes)[0] ?? `phase ${phase.name}`;
    const known = all.map((i) => `${i.pod}-${i.index}`);
    for (const selector of selectors(rendered)) {
      if (!SELECTOR.test(selector)) problems.push({ parameter, message: `'${selector}' is not a node: give indexes or <pod>-<index>, comma-separated (e.g. 1 or 0,2 or node-1)` });
      else if (!all.some((instance) => matches(selector, instance))) problems.push({ parameter, message: `'${selector}' is not a node of service ${service.name} (${known.join(', ')})` });
    }
    if (problems.length === 0 && selectors(rendered).length > 0 && selectedInstances(phase, service, values)?.length === 0) {
      problems.push({ parameter, message: `selects no node of phase ${phase.name}` });
    }
  }
  return dedupeProblems(problems);
}
