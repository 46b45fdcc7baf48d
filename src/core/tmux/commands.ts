/**
 * tmux commands as data: each builder returns the argv after `tmux [-L socket]`.
 * Pure, so tests can assert the exact argv. Targets are always exact (`=name`);
 * pane and window targets need the trailing colon (`=name:`), see notes on tmux.
 */

/** A separator that cannot occur in the session names we accept and is passed through by tmux. */
export const FIELD_SEPARATOR = '\x1f';

/** The window option naming the channel a pane's pane-died hook signals (see wakeHookArgs). */
export const WAKE_OPTION = 'resilient-agent-wake';

export const PANE_FIELDS = [
  'session_name',
  'window_index',
  'pane_index',
  'pane_id',
  'pane_pid',
  'pane_dead',
  'pane_dead_status',
  'pane_dead_signal',
  'window_activity',
  'pane_current_command',
  'session_created',
  'pid',
  // The channel the pane's pane-died hook signals (set with the hook): which panes wake a supervisor.
  `@${WAKE_OPTION}`,
] as const;

export function sessionTarget(session: string): string {
  return `=${session}`;
}

export function paneTarget(session: string): string {
  return `=${session}:`;
}

export function listPanesArgs(): string[] {
  return ['list-panes', '-a', '-F', PANE_FIELDS.map((f) => `#{${f}}`).join(FIELD_SEPARATOR)];
}

export interface NewSessionSpec {
  session: string;
  cwd: string;
  /** The pane's program and its arguments, each one argv element: tmux runs it without a shell. */
  command: readonly string[];
  width?: number;
  height?: number;
  /** tmux commands run in the same invocation, before the pane's process can exit and be reaped. */
  then?: readonly (readonly string[])[];
  /** Keep the pane (and so the session) after its program exits. Default true. */
  keepDeadPane?: boolean;
  /** Environment for the pane, on top of the server's (tmux -e). */
  env?: Record<string, string>;
}

/** One tmux invocation: new-session, then remain-on-exit, then any extra commands, chained with `;`. */
export function newSessionArgs(spec: NewSessionSpec): string[] {
  const env = Object.entries(spec.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const args = [
    'new-session', '-d', '-s', spec.session, '-c', spec.cwd,
    '-x', String(spec.width ?? 200), '-y', String(spec.height ?? 50), ...env,
    '--', ...spec.command,
  ];
  const chained = [...(spec.keepDeadPane === false ? [] : [keepDeadPaneArgs(spec.session)]), ...(spec.then ?? [])];
  for (const cmd of chained) args.push(';', ...cmd);
  return args;
}

export function keepDeadPaneArgs(session: string): string[] {
  return ['set-option', '-t', paneTarget(session), 'remain-on-exit', 'on'];
}

export function respawnPaneArgs(session: string, cwd: string, command: readonly string[], then: readonly (readonly string[])[] = []): string[] {
  const args = ['respawn-pane', '-k', '-t', paneTarget(session), '-c', cwd, '--', ...command];
  for (const cmd of then) args.push(';', ...cmd);
  return args;
}

/** A wait-for channel: letters, digits and dashes only (it is written into a hook's command text). */
export function isWakeChannel(channel: string): boolean {
  return /^[a-z0-9][a-z0-9-]{0,63}$/.test(channel);
}

/**
 * When this session's pane dies (remain-on-exit keeps it), tmux itself signals the channel: no
 * shell, no process. Set on the session's own window only, never globally; the window option
 * beside it names the channel, so a pane list shows which panes have it. Two commands, chained.
 */
export function wakeHookArgs(session: string, channel: string): string[][] {
  if (!isWakeChannel(channel)) throw new Error(`not a wake channel: ${channel}`);
  return [
    ['set-hook', '-t', paneTarget(session), 'pane-died', `wait-for -S ${channel}`],
    ['set-option', '-w', '-t', paneTarget(session), `@${WAKE_OPTION}`, channel],
  ];
}


/** Blocks until the channel is signalled (or the server exits). */
export function waitForArgs(channel: string): string[] {
  return ['wait-for', channel];
}

export function killSessionArgs(session: string): string[] {
  return ['kill-session', '-t', sessionTarget(session)];
}

export function hasSessionArgs(session: string): string[] {
  return ['has-session', '-t', sessionTarget(session)];
}

export function capturePaneArgs(session: string, lines: number): string[] {
  return ['capture-pane', '-p', '-J', '-t', paneTarget(session), '-S', `-${Math.max(1, Math.floor(lines))}`];
}

/**
 * Several panes captured by one tmux process: each capture is followed by a separator line, so
 * the output splits back into one text per session.
 */
export function captureManyArgs(sessions: readonly string[], lines: number, separator: string): string[] {
  const args: string[] = [];
  for (const session of sessions) {
    if (args.length) args.push(';');
    args.push(...capturePaneArgs(session, lines), ';', 'display-message', '-p', separator);
  }
  return args;
}

export function parseCaptureMany(stdout: string, sessions: readonly string[], separator: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = stdout.split(`${separator}\n`);
  sessions.forEach((s, i) => {
    if (i < parts.length - 1) out.set(s, parts[i]);
  });
  return out;
}

export function sendLiteralArgs(session: string, text: string): string[] {
  return ['send-keys', '-l', '-t', paneTarget(session), '--', text];
}

export function sendEnterArgs(session: string): string[] {
  return ['send-keys', '-t', paneTarget(session), 'Enter'];
}

export function panePathArgs(session: string): string[] {
  return ['display-message', '-p', '-t', paneTarget(session), '#{pane_current_path}'];
}

export function attachArgs(session: string): string[] {
  return ['attach-session', '-t', sessionTarget(session)];
}

export interface PaneInfo {
  session: string;
  windowIndex: number;
  paneIndex: number;
  paneId: string;
  pid: number;
  dead: boolean;
  deadStatus: number | null;
  deadSignal: number | null;
  activity: number;
  currentCommand: string;
  created: number;
  /** The tmux server's own pid. */
  serverPid: number;
  /** The channel this pane's pane-died hook signals ('' when it has none of ours). */
  wakeChannel?: string;
}

function intOrNull(text: string | undefined): number | null {
  if (text === undefined || text === '') return null;
  const n = Number(text);
  return Number.isInteger(n) ? n : null;
}

/** Parses `list-panes -a` output; keeps the first pane (lowest window, then pane index) of each session. */
export function parseListPanes(stdout: string): Map<string, PaneInfo> {
  const sessions = new Map<string, PaneInfo>();
  for (const line of stdout.split('\n')) {
    if (!line) continue;
    const f = line.split(FIELD_SEPARATOR);
    if (f.length !== PANE_FIELDS.length) continue;
    const pane: PaneInfo = {
      session: f[0],
      windowIndex: intOrNull(f[1]) ?? 0,
      paneIndex: intOrNull(f[2]) ?? 0,
      paneId: f[3],
      pid: intOrNull(f[4]) ?? 0,
      dead: f[5] === '1',
      deadStatus: intOrNull(f[6]),
      deadSignal: intOrNull(f[7]),
      activity: intOrNull(f[8]) ?? 0,
      currentCommand: f[9],
      created: intOrNull(f[10]) ?? 0,
      serverPid: intOrNull(f[11]) ?? 0,
      wakeChannel: f[12],
    };
    const prior = sessions.get(pane.session);
    if (!prior || pane.windowIndex < prior.windowIndex ||
        (pane.windowIndex === prior.windowIndex && pane.paneIndex < prior.paneIndex)) {
      sessions.set(pane.session, pane);
    }
  }
  return sessions;
}
