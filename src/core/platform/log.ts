/** Core logs through this; the CLI and the extension each supply their own sink. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger that writes `<time> <level> <message>` lines at `level` and above to one sink. */
export function leveledLogger(level: LogLevel, write: (line: string) => void, now: () => Date = () => new Date()): Logger {
  const at = (l: LogLevel) => (m: string) => {
    if (ORDER[l] >= ORDER[level]) write(`${now().toISOString()} ${l} ${m}`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
