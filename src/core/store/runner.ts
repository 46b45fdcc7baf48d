import { DONE_MARKER } from '../model/record';

/** The environment entry naming an attempt's folder, in its agent's environment. */
export const ATTEMPT_ENV = 'RESILIENT_AGENT_ATTEMPT';

/**
 * The program each tmux pane runs. It takes no user text on its command line: the agent's argv
 * and environment are NUL-separated files that core wrote, so no shell ever parses a prompt.
 * Written for bash 3.2 too (macOS): no mapfile, no EPOCHREALTIME.
 *   $1 attempt dir (argv, agent-env, stdin, render, hub, shown, pid, tmux, exit, interrupted, events.jsonl)   $2 environment file   $3 the task's folder
 * The agent's stdin is the attempt's `stdin` file when there is one (a prompt some CLIs only take
 * unaltered that way), else /dev/null: an unattended agent never waits on a terminal.
 * The agent's standard output (its JSON events) goes straight into events.jsonl, never through a
 * pipe: what shows it readable in the pane (the attempt's \`render\` argv, run beside the agent) only
 * reads that file, so if it dies or falls behind the agent runs on and every event is recorded.
 * With a \`hub\` file instead, the state dir's one render hub (../ops/hub.ts) writes the transcript
 * into this pane's terminal: nothing runs beside the agent, and the runner only waits at the end
 * (on a FIFO it holds open itself, bash builtins only) for the hub to say the pane shows the whole
 * run, and never on a hub that is gone.
 * $4 `interactive`: the agent is a TUI a person talks to: it gets the pane's own terminal (stdin,
 * stdout, and TERM as tmux set it), and nothing shows a transcript beside it (no render, no hub).
 */
export const RUNNER_SCRIPT = `
d=$1; envfile=$2; dir=$3; mode=\${4:-unattended}
# Ctrl-C (or Ctrl-\\) in the pane reaches the whole foreground group: the agent ends, the runner
# only notes it and records the end, so a person's interrupt is told from a crash whatever status
# the agent exits with. A handler (not an ignore) is reset for the agent at exec.
interrupted=
trap 'interrupted=1' INT QUIT
# What the runner writes is private (0600); the agent gets the user's own umask back.
um=$(umask); umask 077
argv=(); while IFS= read -r -d '' a; do argv+=("$a"); done < "$d/argv"
envv=(); while IFS= read -r -d '' a; do envv+=("$a"); done < "$envfile"
# This attempt's own entries, after the task's (an agent server's password: never on a command line).
if [ -f "$d/agent-env" ]; then while IFS= read -r -d '' a; do envv+=("$a"); done < "$d/agent-env"; fi
# The attempt, named in the agent's environment (and its children's): how a run that outlived its
# pane is found and ended before the next attempt, so that no session ever runs twice.
envv+=("${ATTEMPT_ENV}=$d")
# One file, whole or not at all: on a full disk nothing half-written (not even a temp file) stays.
put() { { printf '%s\\n' "$2" > "$d/$1.tmp" && mv -f "$d/$1.tmp" "$d/$1"; } 2>/dev/null || { rm -f "$d/$1.tmp"; echo "[resilient-agent] cannot write $d/$1 (disk full?)" >&2; return 1; }; }
# Written in place (a few bytes: whole, or nothing and removed on a full disk), no \`mv\` started: read
# empty for a moment it is "not said". Only the pid must appear whole (the hub opens this shell's
# output once it is there, and a builtin's \`> file\` points that output at the file for a moment).
{ printf '%s\\n' "\${TMUX:-}" > "$d/tmux"; } 2>/dev/null || rm -f "$d/tmux"
in=/dev/null; [ -f "$d/stdin" ] && in=$d/stdin
: >> "$d/events.jsonl"
rpid=
# The render hub: the lock file that names it (its pid), the file naming the hub started last
# (before it holds the lock), and the FIFO it says "shown" into. Held
# open read-write here, so the hub's write never blocks and never fails for want of a reader.
hubf=; hubs=
if [ -s "$d/hub" ] && { IFS= read -r hubf; IFS= read -r hubs; } < "$d/hub" && { [ ! -e "$d/shown" ] || rm -f "$d/shown"; } && mkfifo "$d/shown" 2>/dev/null && exec 9<>"$d/shown"; then
  :
else
  hubf=
fi
# The pid after every other \`> file\` of this shell: once it is there the render hub may open this
# shell's standard output as the pane, and a builtin's redirection (as in put, or \`: >>\`) points it
# at that file for a moment (the hub then opens it again, but a later look is a slower transcript).
put pid "$$"
# The transcript killed (-9 by a person, or by the watchdog below) is not a "Killed" line in the
# pane: bash -c reports a background job's signal once its foreground command ends, except in
# POSIX mode, where \`jobs\` is the only report (an older bash may still print it).
set -o posix
if [ -s "$d/render" ]; then
  rargv=(); while IFS= read -r -d '' a; do rargv+=("$a"); done < "$d/render"
  (umask "$um"; exec "\${rargv[@]}" < /dev/null) &
  rpid=$!
fi
if [ -n "$interrupted" ]; then
  code=130
elif cd -- "$dir"; then
  if [ "$mode" = interactive ]; then
    # The terminal's own TERM (tmux's), after the starter's: the TUI draws for this pane.
    (umask "$um"; exec env -i "\${envv[@]}" "TERM=\${TERM:-screen}" "\${argv[@]}" 9<&-)
  else
    (umask "$um"; exec env -i "\${envv[@]}" "\${argv[@]}" < "$in" 9<&-) >> "$d/events.jsonl"
  fi
  code=$?
else
  code=97
fi
[ -n "$interrupted" ] && : > "$d/interrupted"
noexit=
put exit "$code" || noexit=1
# The transcript sees the exit file, shows what is left of the events, and ends (it bounds its own
# last read). Not signalled: a signal could reach it before it can take one (Node resets them).
# Only one that has not ended in 10 s (stopped with SIGSTOP, stuck) is killed, by a watchdog
# ended as soon as the transcript is: the runner always ends.
# With no exit file (a full disk) the transcript would wait for one until the watchdog: the pane
# would look alive for 10 s after its agent ended. It is ended at once instead; tmux has the status.
if [ -n "$rpid" ] && [ -n "$noexit" ]; then
  # KILL, not TERM: a TERM that reached the transcript's subshell before its exec was lost now and
  # then (the pane then looked alive until the 10 s watchdog). No watchdog then: KILL is not lost.
  kill -KILL "$rpid" 2>/dev/null
  wait "$rpid" 2>/dev/null
elif [ -n "$rpid" ]; then
  # The watchdog's sleep holds none of the pane's files: a TERM that comes between its fork and
  # \`s=$!\` leaves it behind, and it must not keep the pane (or a caller's pipe) open for 10 s.
  ( s=; trap '[ -n "$s" ] && kill "$s"; exit 0' TERM; sleep 10 < /dev/null > /dev/null 2>&1 & s=$!; wait "$s"; kill -KILL "$rpid" ) 2>/dev/null &
  wd=$!
  wait "$rpid" 2>/dev/null
  kill "$wd" 2>/dev/null
  wait "$wd" 2>/dev/null
fi
# The hub sees the exit file, shows what is left of the events, and says so (within 10 s). A hub
# that is gone (its lock names no live process) is not waited for: the pane ends at once.
if [ -n "$hubf" ]; then
  w=0
  while [ -z "$noexit" ] && [ "$w" -lt 10 ]; do
    h=; IFS= read -r h 2>/dev/null < "$hubf"; h=\${h#*pid??}; h=\${h%%[!0-9]*}
    # No live hub holds the lock: the one started last may not have taken it yet.
    { [ -n "$h" ] && kill -0 "$h" 2>/dev/null; } || { h=; IFS= read -r h 2>/dev/null < "$hubs"; }
    { [ -n "$h" ] && kill -0 "$h" 2>/dev/null; } || break
    read -r -t 1 -u 9 s && break
    w=$((w + 1))
  done
  exec 9<&-
  rm -f "$d/shown"
fi
if [ "$code" -eq 0 ]; then
  printf '\\n${DONE_MARKER}\\n'
else
  printf '\\n[resilient-agent] the agent exited with status %s\\n' "$code"
fi
exit "$code"
`;

export const RUNNER_NAME = 'resilient-agent-runner';

/** The pane's command: bash runs the fixed script; the only arguments are paths core chose. */
export function runnerCommand(bash: string, attemptDir: string, envFile: string, dir: string, mode: 'interactive' | 'unattended' = 'unattended'): string[] {
  return [bash, '-c', RUNNER_SCRIPT, RUNNER_NAME, attemptDir, envFile, dir, ...(mode === 'interactive' ? [mode] : [])];
}

/** NUL-separated: the one encoding in which any argv element or environment entry survives. */
export function encodeNul(items: readonly string[]): Buffer {
  return Buffer.from(items.map((s) => `${s}\0`).join(''), 'utf8');
}

export function encodeEnv(env: NodeJS.ProcessEnv): Buffer {
  const entries: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) continue;
    if (k === 'TMUX' || k === 'TMUX_PANE') continue;
    entries.push(`${k}=${v}`);
  }
  return encodeNul(entries);
}
