export { queueAddress, queueLabel, SERVICE_QUEUE, type QueueAddress } from './names.js';
export { StepJobSchema, parseStepJob, attemptRef, jobIdOf, type StepJob } from './payload.js';
export { createProducer, type Producer, type ProducerOptions, type JobState, type JobStatus } from './producer.js';
