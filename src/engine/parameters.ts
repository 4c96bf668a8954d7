import { own } from '../shared/index.js';
import type { ParameterSpec, PlanSpec } from './types.js';
import { STRATEGIES } from './types.js';

export const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One thing wrong with a start request, tied to the parameter it is about. */
export interface ParameterProblem {
  parameter: string;
  message: string;
}

export interface ResolvedParameters {
  /** Non-secret values, defaults included. */
  values: Record<string, string>;
  /** Secret values that were given. */
  secrets: Record<string, string>;
}

const TEMPLATE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Names referenced as `{{NAME}}` in a text. */
export function templateNames(text: string): string[] {
  return [...text.matchAll(TEMPLATE)].map((match) => match[1] ?? '');
}

/** Replaces `{{NAME}}` from `values`; names without a value are reported through `missing`. */
export function renderTemplate(text: string, values: Record<string, string>, missing?: (name: string) => void): string {
  return text.replace(TEMPLATE, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) {
      missing?.(name);
      return whole;
    }
    return value;
  });
}

function checkValue(spec: ParameterSpec, value: string): string | null {
  if (spec.enum !== undefined && !spec.enum.includes(value)) {
    return `must be one of: ${spec.enum.join(', ')}`;
  }
  if (spec.pattern !== undefined && !new RegExp(spec.pattern, 'u').test(value)) {
    return spec.secret ? `does not match the pattern ${spec.pattern}` : `'${value}' does not match the pattern ${spec.pattern}`;
  }
  return null;
}

function coerce(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

/**
 * Checks a start request against the plan's declarations and returns every problem at once:
 * unknown names, values that are not strings, missing required values, enum and pattern
 * mismatches, incomplete alternatives (`requireOneOf`) and strategies that do not resolve.
 * An empty string counts as not given.
 */
export function resolveParameters(
  plan: PlanSpec,
  input: Record<string, unknown>,
): { resolved: ResolvedParameters; problems: ParameterProblem[] } {
  const problems: ParameterProblem[] = [];
  const given: Record<string, string> = {};
  for (const [name, raw] of Object.entries(input)) {
    if (!PARAMETER_NAME.test(name)) {
      problems.push({ parameter: name, message: 'is not a valid parameter name ([A-Za-z_][A-Za-z0-9_]*)' });
      continue;
    }
    const spec = own(plan.parameters, name);
    if (spec === undefined) {
      problems.push({ parameter: name, message: `is not a parameter of plan ${plan.name}` });
      continue;
    }
    const value = coerce(raw);
    if (value === null) {
      problems.push({ parameter: name, message: 'must be a string' });
      continue;
    }
    if (value !== '') given[name] = value;
  }

  const values: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  for (const [name, spec] of Object.entries(plan.parameters)) {
    const value = given[name] ?? spec.default;
    if (value === undefined) {
      if (spec.required) problems.push({ parameter: name, message: 'is required' });
      continue;
    }
    const problem = checkValue(spec, value);
    if (problem !== null) problems.push({ parameter: name, message: problem });
    if (spec.secret) secrets[name] = value;
    else values[name] = value;
  }

  if (plan.requireOneOf.length > 0) {
    const has = (name: string): boolean => values[name] !== undefined || secrets[name] !== undefined;
    if (!plan.requireOneOf.some((group) => group.every(has))) {
      const options = plan.requireOneOf.map((group) => group.join(' + ')).join(', or ');
      for (const name of new Set(plan.requireOneOf.flat().filter((n) => !has(n)))) {
        problems.push({ parameter: name, message: `is needed: give ${options}` });
      }
    }
  }

  const flagged = new Set(problems.map((p) => p.parameter));
  for (const text of [plan.strategy, ...plan.phases.map((phase) => phase.strategy)]) {
    const names = templateNames(text);
    if (names.some((name) => flagged.has(name))) continue;
    const rendered = renderTemplate(text, { ...values, ...secrets });
    if (names.length > 0 && !STRATEGIES.includes(rendered as never) && !rendered.includes('{{')) {
      for (const name of names) {
        problems.push({ parameter: name, message: `'${rendered}' is not a strategy (${STRATEGIES.join(', ')})` });
      }
    }
  }

  return { resolved: { values, secrets }, problems: dedupeProblems(problems) };
}

/** The problems without repeats (the same parameter and message). */
export function dedupeProblems(problems: ParameterProblem[]): ParameterProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const key = `${problem.parameter}\u0000${problem.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
