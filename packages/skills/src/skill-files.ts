/** How a file in the skills folder is loaded: YAML is parsed, a module is imported; anything else is not a skill. */
export function skillFormat(file: string): 'yaml' | 'module' | undefined {
  if (file.startsWith('.')) return undefined;
  if (/\.ya?ml$/i.test(file)) return 'yaml';
  if (/\.(m?js|m?ts)$/i.test(file) && !/\.d\.m?ts$/i.test(file)) return 'module';
  return undefined;
}
