import fs = require('node:fs');
import { adapterFor } from '../../core/agents/registry';
import { isAgentId } from '../../core/model/names';
import { recordHook } from '../../core/store/hooks';

/**
 * `resilient-agent hook AGENT ATTEMPT_DIR WAKE_FILE` (hidden): what an interactive task's agent
 * runs at each of its hooks, with the hook's JSON payload on stdin. The adapter reads the payload
 * as a state, written into the attempt folder; when the state changed, the state dir's wake file is
 * touched, which wakes every supervisor watching it (no polling). Prints nothing (Claude Code adds a
 * UserPromptSubmit hook's output to the conversation) and always exits 0: a hook of ours never
 * stops or changes what the agent does, whatever goes wrong here.
 */
export async function hookCommand(args: readonly string[]): Promise<number> {
  // When the agent started this hook: a later event's hook may get through its start-up sooner.
  const at = Date.now();
  const [agent, attemptDir, wakeFile] = args;
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    if (!agent || !isAgentId(agent) || !attemptDir) return 0;
    const payload: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return 0;
    const reading = adapterFor(agent).interactive?.readHook(payload as Record<string, unknown>);
    if (!reading) return 0;
    const { changed } = recordHook(attemptDir, reading, String((payload as { hook_event_name?: unknown }).hook_event_name ?? '?'), at);
    // Only a change is worth a supervisor's pass (a turn of many tool calls is "working" throughout).
    if (changed && wakeFile) fs.writeFileSync(wakeFile, `${process.pid} ${Date.now()}\n`, { mode: 0o600 });
  } catch {
    /* the agent goes on; the supervisor still sees the pane and the run's end */
  }
  return 0;
}
