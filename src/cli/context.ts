import type { Settings } from '../core/model/settings';
import type { Logger } from '../core/platform/log';
import type { RemoteHosts } from '../core/ops/remote';
import type { TaskService } from '../core/ops/service';
import type { CommandSpec, Parsed } from './args';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Driven with --contract: fields for the envelope beside the answer (what a host's list snapshot is called). */
  meta?(fields: Record<string, unknown>): void;
}

export const stdio: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

/** What one command runs with: parsed once by main, nothing global. */
export interface CommandContext {
  svc: TaskService;
  /** This CLI's version. */
  version: string;
  settings: Settings;
  home: string;
  env: NodeJS.ProcessEnv;
  parsed: Parsed;
  io: Io;
  logger: Logger;
  json: boolean;
  /** The first two positionals (most commands take a name, start an agent and a name). */
  first: string;
  second: string;
  /** The registered hosts (ssh), for the commands that reach them. */
  remote: RemoteHosts;
  /** No --host given: a command that can (list) speaks of every host. */
  allHosts: boolean;
}

export interface Command {
  spec: CommandSpec;
  /** Commands that keep a background supervisor alive afterwards (every one that may start or change a task). */
  ensuresSupervisor?: boolean;
  /** Prints lines as they come until stopped (each with its contract): never wrapped in one answer. */
  streams?: boolean;
  run(ctx: CommandContext): Promise<number>;
}
