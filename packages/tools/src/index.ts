export * from './args.ts';
export * from './specs.ts';
