import { UsageError, word } from '../core/model/errors';

export type FlagKind = 'bool' | 'value' | 'rest';

export interface CommandSpec {
  positionals: { name: string; required: boolean }[];
  flags: Record<string, FlagKind>;
}

export interface Parsed {
  positionals: string[];
  flags: Map<string, string | boolean | string[]>;
}

/**
 * A strict parser: unknown flags and missing or extra arguments are usage errors. A flag that takes
 * a value takes the next element whatever it looks like, so `--prompt -x` is the prompt "-x".
 */
export function parseArgs(command: string, argv: readonly string[], spec: CommandSpec): Parsed {
  const positionals: string[] = [];
  const flags = new Map<string, string | boolean | string[]>();
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (onlyPositionals || !arg.startsWith('--') || arg === '--') {
      if (arg === '--' && !onlyPositionals) {
        onlyPositionals = true;
        continue;
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const kind = spec.flags[name];
    if (!kind) throw new UsageError(`unknown option ${word(`--${name}`)} for "${command}"`);
    if (flags.has(name)) throw new UsageError(`${word(`--${name}`)} given twice`);
    if (kind === 'bool') {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (kind === 'value') {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else {
      const rest = eq > 0 ? [arg.slice(eq + 1), ...argv.slice(i + 1)] : argv.slice(i + 1);
      if (rest.length === 0) throw new UsageError(`--${name} needs a program`);
      flags.set(name, rest);
      break;
    }
  }
  const required = spec.positionals.filter((p) => p.required).length;
  if (positionals.length < required) {
    const missing = spec.positionals[positionals.length];
    throw new UsageError(`"${command}" needs <${missing.name}>`);
  }
  if (positionals.length > spec.positionals.length) {
    throw new UsageError(`unexpected argument "${positionals[spec.positionals.length]}" for "${command}"`);
  }
  return { positionals, flags };
}
