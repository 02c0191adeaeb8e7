export * from './address-policy.ts';
export * from './guarded-agent.ts';
