export const AGENT_IDS = ['codex', 'claude', 'opencode', 'pi'] as const;
export type AgentId = (typeof AGENT_IDS)[number];

export const MAX_NAME_LENGTH = 64;
const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;

export function isAgentId(value: string): value is AgentId {
  return (AGENT_IDS as readonly string[]).includes(value);
}

/** Why a task name is refused, or undefined when it is valid. Names are refused, never rewritten. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a task name is required';
  if (name.length > MAX_NAME_LENGTH) return `a task name has at most ${MAX_NAME_LENGTH} characters (this one has ${name.length})`;
  if (!NAME_PATTERN.test(name)) {
    return 'a task name uses only lowercase letters, digits, "-" and "_", and starts with a letter or digit';
  }
  return undefined;
}

export function sessionName(agent: AgentId, name: string): string {
  return `${agent}-${name}`;
}

/** Splits a session name the seed's way (`codex-refactor-auth`) into agent and task name. */
export function parseSessionName(session: string): { agent: AgentId; name: string } | undefined {
  const dash = session.indexOf('-');
  if (dash <= 0) return undefined;
  const agent = session.slice(0, dash);
  const name = session.slice(dash + 1);
  if (!isAgentId(agent) || nameProblem(name)) return undefined;
  return { agent, name };
}
