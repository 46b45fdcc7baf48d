import path = require('node:path');
import vscode = require('vscode');
import { nameProblem } from '../core/model/names';
import { Disposable } from './lifecycle';

/** What a start flow chose before it left to let the person write the prompt in an editor. */
export interface PendingStart {
  agent: string;
  name: string;
}

/** Documents whose whole text can be a task's prompt (the editor title's and context menu's "when"). */
export const PROMPT_LANGUAGES = ['markdown', 'plaintext'];

/** `fix-parser.md` -> `fix-parser`: a task name to suggest, when the file's name makes one. */
export function nameFromFile(uri: vscode.Uri): string | undefined {
  if (uri.scheme === 'untitled') return undefined;
  const base = path.basename(uri.fsPath, path.extname(uri.fsPath)).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  return base && !nameProblem(base) ? base : undefined;
}

/**
 * Prompts as documents: a long task's prompt is paragraphs, written in an editor. The start flow's
 * "Write the prompt in an editor…" opens an untitled Markdown document that remembers the agent
 * and name chosen so far; a CodeLens on its first line (and the editor title's button) starts the
 * task with the whole document, byte for byte, as its prompt.
 */
export class PromptDocuments extends Disposable implements vscode.CodeLensProvider {
  private readonly pending = new Map<string, PendingStart>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;

  constructor() {
    super();
    this.register(this.changed);
    this.register(vscode.languages.registerCodeLensProvider(PROMPT_LANGUAGES.map((language) => ({ language })), this));
    this.register(vscode.workspace.onDidCloseTextDocument((d) => {
      if (this.pending.delete(d.uri.toString())) this.changed.fire();
    }));
  }

  /** Opens an untitled Markdown document for the prompt of this start. */
  async write(start: PendingStart): Promise<vscode.TextDocument> {
    const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: '' });
    this.pending.set(doc.uri.toString(), start);
    await vscode.window.showTextDocument(doc);
    this.changed.fire();
    return doc;
  }

  pendingFor(doc: vscode.TextDocument): PendingStart | undefined {
    return this.pending.get(doc.uri.toString());
  }

  /** The start it was opened for is done (or the person started it some other way). */
  settle(doc: vscode.TextDocument): void {
    if (this.pending.delete(doc.uri.toString())) this.changed.fire();
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const start = this.pending.get(doc.uri.toString());
    const range = new vscode.Range(0, 0, 0, 0);
    // Only on documents opened for a start (any Markdown file has the editor title's button instead).
    if (!start) return [];
    const title = `$(play) Start task "${start.name}" (${start.agent}): the whole document is its prompt`;
    return [new vscode.CodeLens(range, { title, command: 'resilientAgent.startFromFile', arguments: [doc.uri] })];
  }
}
