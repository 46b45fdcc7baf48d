// The browser window, through the small part of playwright-core this uses. playwright-core lives
// in the install cache, not in the repo, so its types are declared here.

import type { HostConfig } from './config';
import { errorText, PREFIX, say } from './helpers';
import type { RunDirs } from './runDirs';

export const CHROMIUM = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface PwConsoleMessage {
  type(): string;
  text(): string;
}
export interface PwPage {
  exposeFunction(name: string, fn: (...args: unknown[]) => unknown): Promise<void>;
  goto(url: string, options?: { waitUntil?: 'load' | 'domcontentloaded' | 'commit'; timeout?: number }): Promise<unknown>;
  on(event: 'console', listener: (msg: PwConsoleMessage) => void): void;
  on(event: 'pageerror', listener: (err: Error) => void): void;
  on(event: 'crash' | 'close', listener: () => void): void;
  waitForSelector(selector: string, options?: { timeout?: number }): Promise<unknown>;
  screenshot(options: { path: string }): Promise<unknown>;
  /** A string is evaluated as an expression in the page (this project compiles without DOM types). */
  evaluate<T>(expression: string): Promise<T>;
  click(selector: string, options?: { timeout?: number }): Promise<void>;
  hover(selector: string, options?: { timeout?: number }): Promise<void>;
  mouse: { move(x: number, y: number, options?: { steps?: number }): Promise<void> };
  content(): Promise<string>;
  keyboard: {
    press(key: string): Promise<void>;
    type(text: string, options?: { delay?: number }): Promise<void>;
  };
}
interface PwContext {
  newPage(): Promise<PwPage>;
}
export interface PwBrowser {
  newContext(options?: { viewport?: { width: number; height: number } }): Promise<PwContext>;
  on(event: 'disconnected', listener: () => void): void;
  close(): Promise<void>;
}
export interface Playwright {
  chromium: {
    launch(options: {
      executablePath: string;
      headless: boolean;
      args: string[];
      timeout?: number;
      handleSIGINT?: boolean;
      handleSIGTERM?: boolean;
      handleSIGHUP?: boolean;
    }): Promise<PwBrowser>;
  };
}

export function launchBrowser(playwright: Playwright): Promise<PwBrowser> {
  return playwright.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
    // Our own handlers stop code-server too; Playwright's would exit before that.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
}

export function testUrl(port: number, dirs: RunDirs, cfg: HostConfig): string {
  const remote = (p: string): string => `vscode-remote://127.0.0.1:${port}${p}`;
  // vscode-remote:// puts both in the Node extension host, not the browser's worker host.
  const payload = [
    ['extensionDevelopmentPath', remote(cfg.extensionDir)],
    ['extensionTestsPath', remote(cfg.suiteEntry)],
  ];
  return (
    `http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.workspace)}` +
    `&payload=${encodeURIComponent(JSON.stringify(payload))}`
  );
}

export async function screenshot(page: PwPage, file: string): Promise<void> {
  try {
    await page.waitForSelector('.monaco-workbench .part.statusbar', { timeout: 15_000 });
  } catch {
    // Take it anyway: a half-drawn workbench is exactly what a failure needs to show.
  }
  await page.screenshot({ path: file }).catch((err: unknown) => say(`${PREFIX} screenshot failed: ${errorText(err)}`));
}
