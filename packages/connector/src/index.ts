export * from './adapter.ts';
export * from './attachments.ts';
export * from './config.ts';
export * from './errors.ts';
export * from './markdown.ts';
export * from './run.ts';
export * from './run-types.ts';
