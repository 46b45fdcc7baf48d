import vscode = require('vscode');
import { resolveSettings, Settings, withEnvOverrides } from '../core/model/settings';

export const SECTION = 'resilientAgent';

/** The extension-only settings; their defaults, like every default, live in package.json. */
export interface UiSettings {
  notify: { done: boolean; waiting: boolean; gaveUp: boolean; held: boolean };
  mirrorRefreshMs: number;
  viewRefreshMs: number;
}

/** Core settings from VS Code's configuration. RESILIENT_AGENT_TMUX_SOCKET wins, as for the CLI. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const config = vscode.workspace.getConfiguration(SECTION);
  return resolveSettings(withEnvOverrides((key) => {
    const inspected = config.inspect(key);
    // Only values a user set; the default comes from the manifest through core.
    return inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
  }, env));
}

export function readUiSettings(): UiSettings {
  const c = vscode.workspace.getConfiguration(SECTION);
  return {
    notify: {
      done: c.get<boolean>('notifications.onDone')!,
      waiting: c.get<boolean>('notifications.onWaiting')!,
      gaveUp: c.get<boolean>('notifications.onGaveUp')!,
      held: c.get<boolean>('notifications.onHeld')!,
    },
    mirrorRefreshMs: c.get<number>('mirror.refreshSeconds')! * 1000,
    viewRefreshMs: c.get<number>('view.refreshSeconds')! * 1000,
  };
}

/** The person set a queue limit in VS Code (not only the default): the window shares it with the state dir. */
export function queueLimitsSetByUser(): boolean {
  const c = vscode.workspace.getConfiguration(SECTION);
  return ['queue.maxRunning', 'queue.maxRunningPerAgent', 'queue.minFreeMemoryMB'].some((k) => {
    const i = c.inspect(k);
    return i?.globalValue !== undefined || i?.workspaceValue !== undefined || i?.workspaceFolderValue !== undefined;
  });
}
