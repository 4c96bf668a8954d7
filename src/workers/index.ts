export { createAgent, type Agent, type AgentOptions, type NodeRef } from './agent.js';
export { ProgressTracker } from './progress.js';
export { untilCancelled } from './until-cancelled.js';
