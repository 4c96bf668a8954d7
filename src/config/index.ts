export { loadConfig, assertSafeListen, isLoopback, type Config } from './env.js';
export { loadSpecs, plansForService, DEFAULT_RETRY, DEFAULT_HOOK_TIMEOUT_SECONDS, type Specs } from './specs.js';
export { formatProblem, type SpecProblem } from './yaml-document.js';
