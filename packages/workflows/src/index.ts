export * from './errors.ts';
export * from './literals.ts';
export * from './parse.ts';
export * from './schema.ts';
export * from './template.ts';
export * from './workflow-store.ts';
