export * from './types.js';
export { aggregateStatus, strategyCandidates, phaseStatus, planStatus, planErrors, planCandidates, phaseCandidates, isActive, isInFlight, isBusy } from './status.js';
export { resolveParameters, renderTemplate, templateNames, PARAMETER_NAME, type ParameterProblem, type ResolvedParameters } from './parameters.js';
export { createRun, stepName, dataDirOf, type CreateRunOptions } from './expand.js';
export { ALL_PODS, phaseProblems, phasesFor, phaseInstances, type PhaseProblem } from './tasks.js';
export {
  dueSteps,
  nextRetryAt,
  dispatchStep,
  dispatchDue,
  claimStep,
  completeStep,
  failStep,
  releaseStep,
  backoffMs,
  findStepById,
  type Transition,
  type StepOutcome,
  type StepFailure,
} from './transitions.js';
export {
  stopRun,
  interruptRun,
  continueRun,
  restartRun,
  forceCompleteRun,
  findPhase,
  findStep,
  resetStep,
  type OperationResult,
  type Target,
} from './operations.js';
export { planTree, maskedParameters, type PlanTree, type PhaseTree, type StepTree, type LiveProgress } from './tree.js';
export { RUN_EVENT_TYPES, runEvents, runFinishedEvent, runStartedEvent, stepEvent, type RunEvent, type RunEventType, type StepEventFields } from './events.js';
export { selectedInstances, nodeSelectionProblems } from './nodes.js';
