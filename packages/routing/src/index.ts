export * from './errors.ts';
export * from './identity.ts';
export * from './safe-regex.ts';
export * from './schema.ts';
export * from './store.ts';
