import type * as vscode from 'vscode';

/** A base class that owns disposables and disposes them once, in reverse order. */
export abstract class Disposable implements vscode.Disposable {
  private readonly owned: vscode.Disposable[] = [];
  private disposed = false;

  protected register<T extends vscode.Disposable>(d: T): T {
    if (this.disposed) d.dispose();
    else this.owned.push(d);
    return d;
  }

  protected get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    while (this.owned.length) {
      try {
        this.owned.pop()!.dispose();
      } catch {
        /* keep disposing the rest */
      }
    }
  }
}

export function toDisposable(fn: () => void): vscode.Disposable {
  return { dispose: fn };
}
