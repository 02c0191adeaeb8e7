// The guarded agent lives in @switchboard/egress, shared with the scheduler's http steps: one
// implementation of "judge the resolved address, connect to that address".
export { createGuardedAgent } from '@switchboard/egress';
