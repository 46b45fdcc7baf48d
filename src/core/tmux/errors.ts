export type TmuxErrorCause =
  | 'not-installed'
  | 'no-server'
  | 'no-such-session'
  | 'duplicate-session'
  /** No answer by the deadline (a stopped or wedged server): not an answer, so never "no sessions". */
  | 'timeout'
  | 'failed';

/** The one error the tmux driver throws. Callers branch on `cause`; users read `message`. */
export class TmuxError extends Error {
  constructor(
    readonly cause: TmuxErrorCause,
    message: string,
    readonly argv: readonly string[] = [],
    readonly exitCode?: number,
    readonly stderr = '',
  ) {
    super(message);
    this.name = 'TmuxError';
  }
}

/** Reads tmux's stderr into a cause. tmux has no error codes, only these sentences. */
export function classifyTmuxFailure(stderr: string): TmuxErrorCause {
  if (/no server running|error connecting to .*\(No such file or directory\)|server exited unexpectedly/i.test(stderr)) {
    return 'no-server';
  }
  // "no current target": a server with no session at all (just started by another command that
  // has not made its session yet, or shutting down): the session asked for is not there.
  if (/can't find session|session not found|can't find pane|can't find window|no current target/i.test(stderr)) return 'no-such-session';
  if (/duplicate session/i.test(stderr)) return 'duplicate-session';
  return 'failed';
}
