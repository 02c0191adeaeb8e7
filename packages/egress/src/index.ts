export * from './address-policy.ts';
export * from './config.ts';
export * from './guarded-agent.ts';
