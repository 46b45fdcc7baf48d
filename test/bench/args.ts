// The command line: `[measure] [--crashes N] [--kills N] [--kill-tasks N] [--passes N] [--prompts N] [--no-write]`.

export interface Args {
  crashes: number;
  passes: number;
  /** tmux server kills (server-kill), and the tasks running at each. */
  kills: number;
  killTasks: number;
  /** Approval prompts (prompt -> waiting). */
  prompts: number;
  write: boolean;
}

export function parseArgs(argv: string[]): { which: string; args: Args } {
  const args: Args = { crashes: 50, passes: 10_000, kills: 20, killTasks: 10, prompts: 10, write: true };
  let which = 'all';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--crashes') args.crashes = Number(argv[++i]);
    else if (a === '--passes') args.passes = Number(argv[++i]);
    else if (a === '--kills') args.kills = Number(argv[++i]);
    else if (a === '--kill-tasks') args.killTasks = Number(argv[++i]);
    else if (a === '--prompts') args.prompts = Number(argv[++i]);
    else if (a === '--no-write') args.write = false;
    else if (!a.startsWith('-')) which = a;
    else throw new Error(`unknown option ${a}`);
  }
  if (![args.crashes, args.passes, args.kills, args.killTasks, args.prompts].every((x) => Number.isInteger(x) && x >= 1)) {
    throw new Error('--crashes, --passes, --kills, --kill-tasks and --prompts need positive whole numbers');
  }
  return { which, args };
}
