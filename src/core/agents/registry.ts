import type { AgentId } from '../model/names';
import { claude } from './claude';
import { codex } from './codex';
import { opencode } from './opencode';
import { pi } from './pi';
import type { AgentAdapter } from './types';

/** Adding an agent: one adapter file and one line here. */
export const ADAPTERS: Readonly<Record<AgentId, AgentAdapter>> = { codex, claude, opencode, pi };

export function adapterFor(agent: AgentId): AgentAdapter {
  return ADAPTERS[agent];
}
