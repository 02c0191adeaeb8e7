export * from './schema.ts';
export * from './skill-files.ts';
