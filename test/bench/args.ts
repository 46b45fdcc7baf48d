// The command line: `[measure] [--crashes N] [--kills N] [--kill-tasks N[,N...]] [--starts N] [--passes N] [--prompts N] [--no-write]`.

export interface Args {
  crashes: number;
  passes: number;
  /** tmux server kills (server-kill) per task count, and the task counts (side by side). */
  kills: number;
  killTasks: number[];
  /** Tasks started one after another from the CLI (starts). */
  starts: number;
  /** Approval prompts (prompt -> waiting). */
  prompts: number;
  write: boolean;
}

export function parseArgs(argv: string[]): { which: string; args: Args } {
  const args: Args = { crashes: 50, passes: 10_000, kills: 10, killTasks: [10, 50], starts: 50, prompts: 10, write: true };
  let which = 'all';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--crashes') args.crashes = Number(argv[++i]);
    else if (a === '--passes') args.passes = Number(argv[++i]);
    else if (a === '--kills') args.kills = Number(argv[++i]);
    else if (a === '--kill-tasks') args.killTasks = String(argv[++i]).split(',').map(Number);
    else if (a === '--starts') args.starts = Number(argv[++i]);
    else if (a === '--prompts') args.prompts = Number(argv[++i]);
    else if (a === '--no-write') args.write = false;
    else if (!a.startsWith('-')) which = a;
    else throw new Error(`unknown option ${a}`);
  }
  if (![args.crashes, args.passes, args.kills, ...args.killTasks, args.starts, args.prompts].every((x) => Number.isInteger(x) && x >= 1)) {
    throw new Error('--crashes, --passes, --kills, --kill-tasks (one or more, comma-separated), --starts and --prompts need positive whole numbers');
  }
  return { which, args };
}
