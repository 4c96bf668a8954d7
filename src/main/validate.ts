import { formatProblem, loadConfig, loadSpecs, plansForService } from '../config/index.js';
import type { LocationSpec, ParameterSpec } from '../engine/index.js';
import { builtinTaskNames } from '../tasks/index.js';

function describeParameter(name: string, spec: ParameterSpec): string {
  const traits: string[] = [];
  if (spec.required) traits.push('required');
  if (spec.secret) traits.push('secret');
  if (spec.default !== undefined) traits.push(`default ${spec.default}`);
  if (spec.enum !== undefined) traits.push(`one of ${spec.enum.join('|')}`);
  if (spec.pattern !== undefined) traits.push(`pattern ${spec.pattern}`);
  const head = `    ${name}${traits.length > 0 ? ` (${traits.join(', ')})` : ''}`;
  return spec.description === undefined ? head : `${head}\n        ${spec.description}`;
}

const DEFAULT_CHAIN: Record<string, string> = { s3: 'the AWS default credential chain', azure: 'DefaultAzureCredential' };

function describeLocation(location: LocationSpec, env: NodeJS.ProcessEnv): string {
  const where = `${location.storage}://${location.container}${location.prefix === '' ? '' : `/${location.prefix}`}`;
  const details = [location.region === undefined ? '' : `region ${location.region}`, location.account === undefined ? '' : `account ${location.account}`, location.endpoint === null ? '' : `endpoint ${location.endpoint}`].filter((d) => d !== '');
  const variables = Object.values(location.credentialsEnv);
  const unset = variables.filter((name) => (env[name] ?? '') === '');
  const credentials =
    variables.length > 0
      ? `credentials from ${variables.join(', ')}${unset.length === 0 ? '' : ` (not set here: ${unset.join(', ')}; the agents need them)`}`
      : location.storage in DEFAULT_CHAIN ? `credentials from ${DEFAULT_CHAIN[location.storage] ?? ''} of the agents` : '';
  return `  location ${location.name}: ${where}${details.length === 0 ? '' : ` (${details.join(', ')})`}${credentials === '' ? '' : `, ${credentials}`}`;
}

/** `drplan validate`: prints what was read; returns the exit code (1 when anything is wrong). */
export function validate(out: (text: string) => void, err: (text: string) => void, env: NodeJS.ProcessEnv = process.env): number {
  const config = loadConfig(env);
  const specs = loadSpecs(config.servicesDir, config.plansDir, builtinTaskNames());
  for (const service of specs.services.values()) {
    out(`service ${service.name} (${service.file})`);
    for (const [pod, spec] of Object.entries(service.pods)) out(`  pod ${pod}: ${spec.count} instances, data in ${spec.dataDir}, snapshot ${spec.snapshot}`);
    for (const [name, hook] of Object.entries(service.hooks)) {
      const command = typeof hook.command === 'string' ? hook.command : JSON.stringify(hook.command);
      out(`  hook ${name}: timeout ${hook.timeoutSeconds}s${hook.retryable ? '' : ', not retried'}: ${command.replace(/\s+/g, ' ').slice(0, 100)}`);
    }
    for (const location of Object.values(service.locations)) out(describeLocation(location, env));
    out(`  plans: ${plansForService(specs, service.name).map((p) => p.name).join(', ') || '(none)'}`);
    for (const [plan, reasons] of specs.unavailable.get(service.name) ?? []) out(`  not available: ${plan}: ${reasons.join('; ')}`);
  }
  for (const plan of specs.plans.values()) {
    out('');
    out(`plan ${plan.name} (${plan.file})`);
    if (plan.description !== '') out(`  ${plan.description}`);
    out(`  strategy ${plan.strategy}; retries: ${plan.retry.attempts} attempts, backoff ${plan.retry.backoffSeconds}s doubling to ${plan.retry.maxBackoffSeconds}s`);
    for (const phase of plan.phases) {
      const flags = [phase.optional ? 'optional' : '', phase.finally ? 'finally' : ''].filter((f) => f !== '').join(', ');
      out(`  phase ${phase.name}: ${phase.task} on ${phase.pod === undefined ? 'the service' : phase.pod === '*' ? 'every node of every pod' : `each ${phase.pod}`}, ${phase.strategy}${flags === '' ? '' : ` (${flags})`}`);
    }
    const params = Object.entries(plan.parameters);
    if (params.length > 0) out('  parameters:');
    for (const [name, spec] of params) out(describeParameter(name, spec));
    for (const group of plan.requireOneOf) out(`  one of these is needed in full: ${group.join(' + ')}`);
  }
  if (specs.problems.length === 0) {
    out('');
    out(`ok: ${specs.services.size} service${specs.services.size === 1 ? "" : "s"}, ${specs.plans.size} plan${specs.plans.size === 1 ? "" : "s"}`);
    return 0;
  }
  for (const problem of specs.problems) err(formatProblem(problem));
  err(`${specs.problems.length} problem${specs.problems.length === 1 ? '' : 's'}`);
  return 1;
}
