import * as z from 'zod/mini';
import * as manifest from '../../../package.json';
import { AGENT_IDS, AgentId } from './names';

/** The settings' defaults live only in package.json (`contributes.configuration`). */
const PREFIX = 'resilientAgent.';
type ManifestProperty = { default?: unknown };
// Grouped in package.json (one titled section per concern in VS Code's settings editor).
const properties: Record<string, ManifestProperty> = Object.assign(
  {},
  ...(manifest as unknown as { contributes: { configuration: { properties: Record<string, ManifestProperty> }[] } })
    .contributes.configuration.map((group) => group.properties),
);

/** What a user can change per agent (VS Code settings or the CLI's config.json). */
export interface AgentSettings {
  /** Command name looked up on PATH, or an absolute path. */
  executable: string;
  /** Approval / sandbox flags; each adapter has a default. */
  modeArgs: string[];
  /** Extra arguments appended before the prompt. */
  extraArgs: string[];
}

export const SETTING_KEYS = Object.keys(properties).map((k) => k.slice(PREFIX.length));

export function settingDefault(key: string): unknown {
  return properties[PREFIX + key]?.default;
}

export interface Settings {
  intervalMs: number;
  backoffFactor: number;
  maxBackoffMs: number;
  maxRuntimeMs: number;
  maxAttempts: number;
  /** The first wait before trying a task again after a usage limit with no reset time. */
  usageLimitRetryMs: number;
  continuePrompt: string;
  tmuxSocket: string;
  supervisorMode: 'background' | 'window';
  /** Tasks get a git worktree of their own unless told otherwise (the start flow's first choice). */
  worktreeByDefault: boolean;
  /** A worktree's new branch: this prefix and the task's name. */
  worktreeBranchPrefix: string;
  /** The most agents running at once on this machine; a start beyond it is queued. */
  maxRunning: number;
  /** The most running at once per agent CLI (an account's limits are per agent); absent: only maxRunning. */
  maxRunningPerAgent: Partial<Record<AgentId, number>>;
  /** No new agent is started while the machine has less memory available than this (MiB). */
  minFreeMemoryMb: number;
  agents: Record<AgentId, AgentSettings>;
}

const stringArray = z.array(z.string());
const wholeAtLeast1 = z.int().check(z.minimum(1, 'must be a whole number of at least 1'));
const atLeast = (min: number) => z.number().check(z.minimum(min, `must be a number of at least ${min}`));

type ScalarField = Exclude<keyof Settings, 'agents'>;

/**
 * The one table of the settings that are not per agent: the key a person writes, the field core
 * reads, the unit between them (seconds and minutes in settings, milliseconds in core), the check.
 */
const SCALARS: { key: string; field: ScalarField; scale?: number; check: z.ZodMiniType }[] = [
  { key: 'monitor.intervalSeconds', field: 'intervalMs', scale: 1000, check: atLeast(0.05) },
  { key: 'monitor.backoffFactor', field: 'backoffFactor', check: atLeast(1) },
  { key: 'monitor.maxBackoffMinutes', field: 'maxBackoffMs', scale: 60_000, check: atLeast(0) },
  { key: 'monitor.maxRuntimeMinutes', field: 'maxRuntimeMs', scale: 60_000, check: atLeast(1) },
  { key: 'monitor.maxAttempts', field: 'maxAttempts', check: wholeAtLeast1 },
  { key: 'monitor.usageLimitRetryMinutes', field: 'usageLimitRetryMs', scale: 60_000, check: atLeast(0.01) },
  { key: 'continuePrompt', field: 'continuePrompt', check: z.string().check(z.minLength(1, 'must not be empty')) },
  { key: 'tmux.socket', field: 'tmuxSocket', check: z.string() },
  { key: 'supervisor.mode', field: 'supervisorMode', check: z.enum(['background', 'window']) },
  { key: 'worktree.byDefault', field: 'worktreeByDefault', check: z.boolean() },
  { key: 'worktree.branchPrefix', field: 'worktreeBranchPrefix', check: z.string() },
  { key: 'queue.maxRunning', field: 'maxRunning', check: wholeAtLeast1 },
  { key: 'queue.maxRunningPerAgent', field: 'maxRunningPerAgent', check: z.strictObject(Object.fromEntries(AGENT_IDS.map((a) => [a, z.optional(wholeAtLeast1)]))) },
  { key: 'queue.minFreeMemoryMB', field: 'minFreeMemoryMb', check: wholeAtLeast1 },
];
const AGENT_FIELDS: { name: keyof AgentSettings; check: z.ZodMiniType }[] = [
  { name: 'executable', check: z.string().check(z.minLength(1, 'must not be empty')) },
  { name: 'modeArgs', check: stringArray },
  { name: 'extraArgs', check: stringArray },
];
const VALIDATORS: Record<string, z.ZodMiniType> = Object.fromEntries([
  ...SCALARS.map((f) => [f.key, f.check]),
  ...AGENT_IDS.flatMap((a) => AGENT_FIELDS.map((f) => [`agents.${a}.${f.name}`, f.check])),
]);

export class SettingsError extends Error {}

/**
 * Builds settings from a lookup of user values (VS Code's configuration, or the CLI's config.json),
 * falling back to package.json's defaults. A bad value is one clear error naming the key.
 */
export function resolveSettings(lookup: (key: string) => unknown = () => undefined): Settings {
  const get = <T>(key: string): T => {
    const user = lookup(key);
    const value = user === undefined || user === null ? settingDefault(key) : user;
    const parsed = (VALIDATORS[key] ?? z.unknown()).safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0] as { code?: string; expected?: string; message?: string } | undefined;
      const issue0 = issue as { path?: PropertyKey[]; keys?: string[] } | undefined;
      const at = issue0?.path?.length ? `.${issue0.path.join('.')}` : '';
      const why = issue?.code === 'invalid_type'
        ? `must be ${issue.expected === 'array' ? 'a list of strings' : issue.expected === 'object' ? 'an object' : `a ${issue.expected === 'int' ? 'whole number' : issue.expected}`}`
        : issue?.code === 'invalid_value' ? 'is not one of the allowed values'
        : issue?.code === 'unrecognized_keys' ? `names no agent: ${(issue0?.keys ?? []).join(', ')} (agents: ${AGENT_IDS.join(', ')})`
        : issue?.message ?? 'is invalid';
      throw new SettingsError(`setting ${PREFIX}${key}${at} ${why} (got ${JSON.stringify(value)})`);
    }
    return parsed.data as T;
  };
  const agents = {} as Record<AgentId, AgentSettings>;
  for (const a of AGENT_IDS) {
    agents[a] = Object.fromEntries(AGENT_FIELDS.map((f) => [f.name, get(`agents.${a}.${f.name}`)])) as unknown as AgentSettings;
  }
  const out = { agents } as Settings;
  for (const f of SCALARS) (out as unknown as Record<string, unknown>)[f.field] = f.scale ? get<number>(f.key) * f.scale : get(f.key);
  return out;
}

/** Reads a flat JSON object of settings (`{"monitor.intervalSeconds": 60}`, prefix optional). */
export function lookupFromObject(obj: unknown): (key: string) => unknown {
  if (obj === undefined) return () => undefined;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new SettingsError('the config file must hold one JSON object');
  const map = new Map<string, unknown>();
  for (const [k, v] of Object.entries(obj)) {
    const key = k.startsWith(PREFIX) ? k.slice(PREFIX.length) : k;
    if (!SETTING_KEYS.includes(key)) throw new SettingsError(`unknown setting "${k}"`);
    map.set(key, v);
  }
  return (key) => map.get(key);
}

/** The settings as flat keys, to hand to another process (the background supervisor). */
export function settingsToObject(settings: Settings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of SCALARS) out[f.key] = f.scale ? (settings[f.field] as number) / f.scale : settings[f.field];
  for (const a of AGENT_IDS) for (const f of AGENT_FIELDS) out[`agents.${a}.${f.name}`] = settings.agents[a][f.name];
  return out;
}

/**
 * A settings lookup with the environment's overrides on top: RESILIENT_AGENT_TMUX_SOCKET picks the
 * tmux server for the CLI and the extension alike (tests and a second server use it).
 */
export function withEnvOverrides(lookup: (key: string) => unknown, env: NodeJS.ProcessEnv): (key: string) => unknown {
  return (key) => {
    if (key === 'tmux.socket' && env.RESILIENT_AGENT_TMUX_SOCKET !== undefined) return env.RESILIENT_AGENT_TMUX_SOCKET;
    return lookup(key);
  };
}
