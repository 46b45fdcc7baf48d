/**
 * Isolated configuration for running the real agent CLIs against the scripted
 * model server (see modelServer.ts), with no outside network.
 *
 * Each function writes the agent's config under `root` (a fresh temp folder
 * owned by the test) and returns the full environment to run the agent with
 * (built from scratch: nothing of the caller's HOME, API keys or XDG dirs leaks
 * in) plus the extra CLI arguments that select the scripted model.
 * The real ~/.codex, ~/.claude, ~/.config/opencode, ~/.pi are never read or written.
 */
import * as fs from 'fs';
import * as path from 'path';

export type AgentName = 'codex' | 'claude' | 'opencode' | 'pi';
export const AGENT_NAMES: readonly AgentName[] = ['codex', 'claude', 'opencode', 'pi'];

export interface AgentSetup {
  agent: AgentName;
  /** Complete environment for the child process. */
  env: NodeJS.ProcessEnv;
  /** Extra CLI args selecting the provider/model (put them before the prompt). */
  modelArgs: string[];
  /** The isolated HOME. */
  home: string;
  /** Where the agent keeps its sessions (for assertions/debugging). */
  sessionsDir: string;
}

/** The model id every agent is pointed at; the server accepts anything. */
export const TEST_MODEL = 'test-model';
/** codex warns (an `error` item in --json output) for a model it has no metadata for: use a known slug. */
export const CODEX_MODEL = 'gpt-5.5';
/** Provider id used in the codex/opencode/pi configs. */
export const TEST_PROVIDER = 'mock';
/** A loopback port nothing listens on (discard): used to make package registries unreachable. */
export const CLOSED_PORT = 9;

function mkdirs(...dirs: string[]): void {
  for (const d of dirs) fs.mkdirSync(d, { recursive: true });
}

export interface AgentEnvOptions {
  /** Directories prepended to PATH (e.g. the agents' node_modules/.bin). */
  extraPath?: string[];
  /**
   * claude only: 'apiKey' (default; ANTHROPIC_API_KEY) or 'oauth' (a fake
   * CLAUDE_CODE_OAUTH_TOKEN: claude then behaves as a claude.ai subscriber, e.g.
   * a rejected unified rate limit prints "You've hit your session limit · resets …").
   */
  claudeAuth?: 'apiKey' | 'oauth';
  /**
   * Cap the CLI's own retries of failed model requests (claude: CLAUDE_CODE_MAX_RETRIES,
   * default 10 with backoff up to ~40 s each, also for 401; codex: the provider's
   * request_max_retries/stream_max_retries, default 4/5; pi: retry.maxRetries,
   * default 3 agent-level retries × 2 SDK retries each, and retry.provider.maxRetries). Unset: the CLI's defaults. opencode has no such setting.
   */
  maxRetries?: number;
  /**
   * claude only: CLAUDE_CODE_RETRY_WATCHDOG=1 (what Claude Code's own remote runner sets), with
   * which `-p` waits out a claude.ai usage limit by itself and then goes on (2.1.332).
   */
  claudeWaitsOutLimits?: boolean;
}

/** HOME + XDG dirs under root, and a minimal base environment. */
function baseEnv(root: string, extraPath: string[] = []): { env: NodeJS.ProcessEnv; home: string } {
  const home = path.join(root, 'home');
  const xdg = {
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    XDG_STATE_HOME: path.join(home, '.local', 'state'),
  };
  const tmp = path.join(root, 'tmp');
  mkdirs(home, tmp, ...Object.values(xdg));
  const env: NodeJS.ProcessEnv = {
    PATH: [...extraPath, process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(path.delimiter),
    HOME: home,
    USER: process.env.USER ?? 'root',
    LOGNAME: process.env.LOGNAME ?? process.env.USER ?? 'root',
    SHELL: '/bin/bash',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    NO_COLOR: '1',
    TMPDIR: tmp,
    ...xdg,
    // Any npm/npx the agents spawn must not reach a registry.
    npm_config_registry: `http://127.0.0.1:${CLOSED_PORT}/`,
    npm_config_update_notifier: 'false',
    npm_config_cache: path.join(home, '.npm'),
  };
  return { env, home };
}

function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * codex: CODEX_HOME/config.toml with a Responses-API provider at the server.
 * Run: codex exec --json -s workspace-write --skip-git-repo-check -C <dir> <prompt>
 */
export function codexEnv(root: string, port: number, opts: AgentEnvOptions = {}): AgentSetup {
  const { env, home } = baseEnv(root, opts.extraPath);
  const codexHome = path.join(root, 'codex-home');
  mkdirs(codexHome);
  const toml = [
    `model = "${CODEX_MODEL}"`,
    `model_provider = "${TEST_PROVIDER}"`,
    `check_for_update_on_startup = false`,
    ``,
    `[model_providers.${TEST_PROVIDER}]`,
    `name = "Mock"`,
    `base_url = "http://127.0.0.1:${port}/v1"`,
    `env_key = "MOCK_API_KEY"`,
    `wire_api = "responses"`,
    ...(opts.maxRetries !== undefined ? [`request_max_retries = ${opts.maxRetries}`, `stream_max_retries = ${opts.maxRetries}`] : []),
    ``,
    `[analytics]`,
    `enabled = false`,
    ``,
    `[features]`,
    `plugins = false`,
    ``,
  ].join('\n');
  fs.writeFileSync(path.join(codexHome, 'config.toml'), toml);
  return {
    agent: 'codex',
    env: { ...env, CODEX_HOME: codexHome, MOCK_API_KEY: 'sk-test' },
    modelArgs: [],
    home,
    sessionsDir: path.join(codexHome, 'sessions'),
  };
}

/**
 * claude: CLAUDE_CONFIG_DIR + ANTHROPIC_BASE_URL at the server.
 * Run (in the folder): claude -p --output-format stream-json --verbose --session-id <uuid> --dangerously-skip-permissions <prompt>
 */
export function claudeEnv(root: string, port: number, opts: AgentEnvOptions = {}): AgentSetup {
  const { env, home } = baseEnv(root, opts.extraPath);
  const configDir = path.join(root, 'claude-config');
  mkdirs(configDir);
  return {
    agent: 'claude',
    env: {
      ...env,
      CLAUDE_CONFIG_DIR: configDir,
      ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`,
      ...(opts.claudeAuth === 'oauth' ? { CLAUDE_CODE_OAUTH_TOKEN: 'sk-ant-oat01-test' } : { ANTHROPIC_API_KEY: 'sk-ant-test' }),
      ...(opts.maxRetries !== undefined ? { CLAUDE_CODE_MAX_RETRIES: String(opts.maxRetries) } : {}),
      ...(opts.claudeWaitsOutLimits ? { CLAUDE_CODE_RETRY_WATCHDOG: '1' } : {}),
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      // As root, --dangerously-skip-permissions refuses to run without it.
      ...(isRoot() ? { IS_SANDBOX: '1' } : {}),
    },
    modelArgs: [],
    home,
    sessionsDir: path.join(configDir, 'projects'),
  };
}

/**
 * opencode: $XDG_CONFIG_HOME/opencode/opencode.json with an openai-compatible provider.
 * Run: opencode run --dir <dir> --format json --auto -m mock/test-model <prompt>
 */
export function opencodeEnv(root: string, port: number, opts: AgentEnvOptions = {}): AgentSetup {
  const { env, home } = baseEnv(root, opts.extraPath);
  const config = {
    $schema: 'https://opencode.ai/config.json',
    autoupdate: false,
    share: 'disabled',
    model: `${TEST_PROVIDER}/${TEST_MODEL}`,
    small_model: `${TEST_PROVIDER}/${TEST_MODEL}`,
    provider: {
      [TEST_PROVIDER]: {
        npm: '@ai-sdk/openai-compatible',
        name: 'Mock',
        options: { baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-test' },
        models: { [TEST_MODEL]: { name: 'Test Model', tool_call: true } },
      },
    },
  };
  writeJson(path.join(env.XDG_CONFIG_HOME!, 'opencode', 'opencode.json'), config);
  return {
    agent: 'opencode',
    env: {
      ...env,
      OPENCODE_DISABLE_MODELS_FETCH: '1',
      OPENCODE_DISABLE_AUTOUPDATE: '1',
      OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
      OPENCODE_DISABLE_SHARE: '1',
      OPENCODE_DISABLE_CLAUDE_CODE: '1',
    },
    modelArgs: ['-m', `${TEST_PROVIDER}/${TEST_MODEL}`],
    home,
    sessionsDir: path.join(env.XDG_DATA_HOME!, 'opencode'),
  };
}

/**
 * pi: ~/.pi/agent/models.json (via PI_CODING_AGENT_DIR) with an openai-completions provider.
 * Run (in the folder): pi -p --mode json --provider mock --model test-model --session <new .jsonl> <prompt>
 */
export function piEnv(root: string, port: number, opts: AgentEnvOptions = {}): AgentSetup {
  const { env, home } = baseEnv(root, opts.extraPath);
  const agentDir = path.join(home, '.pi', 'agent');
  writeJson(path.join(agentDir, 'models.json'), {
    providers: {
      [TEST_PROVIDER]: {
        baseUrl: `http://127.0.0.1:${port}/v1`,
        api: 'openai-completions',
        apiKey: 'sk-test',
        compat: { supportsDeveloperRole: false, supportsReasoningEffort: false },
        models: [{ id: TEST_MODEL, name: 'Test Model', reasoning: false, input: ['text'], contextWindow: 128000, maxTokens: 16000 }],
      },
    },
  });
  writeJson(path.join(agentDir, 'settings.json'), {
    defaultProvider: TEST_PROVIDER,
    defaultModel: TEST_MODEL,
    enableInstallTelemetry: false,
    quietStartup: true,
    ...(opts.maxRetries !== undefined ? { retry: { enabled: opts.maxRetries > 0, maxRetries: opts.maxRetries, provider: { maxRetries: opts.maxRetries } } } : {}),
  });
  return {
    agent: 'pi',
    env: {
      ...env,
      PI_CODING_AGENT_DIR: agentDir,
      PI_OFFLINE: '1',
      PI_TELEMETRY: '0',
      PI_SKIP_VERSION_CHECK: '1',
    },
    modelArgs: ['--provider', TEST_PROVIDER, '--model', TEST_MODEL],
    home,
    sessionsDir: path.join(agentDir, 'sessions'),
  };
}

export function agentEnv(agent: AgentName, root: string, port: number, opts: AgentEnvOptions = {}): AgentSetup {
  switch (agent) {
    case 'codex':
      return codexEnv(root, port, opts);
    case 'claude':
      return claudeEnv(root, port, opts);
    case 'opencode':
      return opencodeEnv(root, port, opts);
    case 'pi':
      return piEnv(root, port, opts);
  }
}
