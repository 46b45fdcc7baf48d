import vscode = require('vscode');
import { Disposable, toDisposable } from './lifecycle';
import type { TaskModel } from './model';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*(\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

interface Mirror {
  channel: vscode.OutputChannel;
  timer: NodeJS.Timeout | undefined;
  text: string;
  /** What the transcript was made from, last time (unchanged: nothing to redo). */
  signature?: string;
}

/**
 * One output channel per task: its transcript (what the agent said and did, every attempt, read
 * from its events), or for a session started by hand its pane. Refreshed while it is shown, and
 * only then: a hidden channel costs nothing.
 */
export class PaneMirror extends Disposable {
  private readonly mirrors = new Map<string, Mirror>();

  constructor(private readonly model: TaskModel, private refreshMs: number) {
    super();
    this.register(vscode.window.onDidChangeVisibleTextEditors(() => this.rearmAll()));
    this.register(toDisposable(() => {
      for (const m of this.mirrors.values()) {
        if (m.timer) clearTimeout(m.timer);
        m.channel.dispose();
      }
      this.mirrors.clear();
    }));
  }

  static channelName(session: string): string {
    return `Agent: ${session}`;
  }

  setRefresh(ms: number): void {
    this.refreshMs = ms;
  }

  /** The text last mirrored for a session (read by tests and by "copy output"). */
  textOf(session: string): string | undefined {
    return this.mirrors.get(session)?.text;
  }

  async show(session: string): Promise<void> {
    let m = this.mirrors.get(session);
    if (!m) {
      m = { channel: vscode.window.createOutputChannel(PaneMirror.channelName(session)), timer: undefined, text: '' };
      this.mirrors.set(session, m);
    }
    m.channel.show(true);
    await this.refresh(session);
    this.arm(session);
  }

  private visible(session: string): boolean {
    const name = PaneMirror.channelName(session);
    return vscode.window.visibleTextEditors.some((e) => e.document.uri.scheme === 'output' && decodeURIComponent(e.document.uri.toString()).includes(name));
  }

  private rearmAll(): void {
    for (const session of this.mirrors.keys()) this.arm(session);
  }

  private arm(session: string): void {
    const m = this.mirrors.get(session);
    if (!m || m.timer || this.isDisposed) return;
    m.timer = setTimeout(async () => {
      m.timer = undefined;
      // Just shown, or still shown: refresh and go on; hidden: stop until it is shown again.
      if (!this.visible(session)) return;
      await this.refresh(session);
      this.arm(session);
    }, this.refreshMs);
  }

  async refresh(session: string): Promise<void> {
    const m = this.mirrors.get(session);
    if (!m) return;
    let text: string;
    try {
      const transcript = this.model.service.transcriptOf(session, m.signature);
      if (transcript && transcript.signature === m.signature) return;
      if (transcript) m.signature = transcript.signature;
      text = transcript ? transcript.text : stripAnsi((await this.model.service.capture(session, 2000)).join('\n'));
    } catch (e) {
      text = `${m.text}\n[the tmux session ${session} is gone: ${(e as Error).message}]`;
      if (m.text.endsWith(']')) return;
    }
    if (text === m.text) return;
    m.text = text;
    m.channel.replace(text);
  }
}
