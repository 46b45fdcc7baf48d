/** OpenAI chat completions, POST /v1/chat/completions (opencode, pi). */
import { ModelApi, PER_REQUEST, openAiAuthErrorBody, sse, textOf } from './types';

export const chat: ModelApi = {
  read(rec) {
    const body = rec.body;
    const userTexts: string[] = [];
    let lastIsToolResult = false;
    let lastUser = '';
    rec.toolNames = Array.isArray(body.tools) ? body.tools.map((t: any) => t?.function?.name).filter(Boolean) : [];
    const msgs: any[] = Array.isArray(body.messages) ? body.messages : [];
    for (const m of msgs) {
      if (m?.role === 'user') {
        const t = textOf(m.content);
        userTexts.push(t);
        lastUser = t;
      }
    }
    for (let i = msgs.length - 1; i >= 0 && msgs[i]?.role === 'tool'; i--) {
      lastIsToolResult = true;
      rec.toolResultIds.push(String(msgs[i].tool_call_id));
    }
    const system = msgs
      .filter((m) => m?.role === 'system' || m?.role === 'developer')
      .map((m) => textOf(m.content))
      .join('\n');
    if (rec.toolNames.length === 0 && !lastIsToolResult && /title/i.test(system)) {
      rec.kind = 'title';
    }
    return { userTexts, lastUser, lastIsToolResult };
  },
  conversation: (body) => body?.messages,
  shellToolCall(rec, command) {
    // chat: opencode and pi both call it `bash`; only opencode's schema has `description`.
    const tool = (Array.isArray(rec.body?.tools) ? rec.body.tools : []).find((t: any) => t?.function?.name === 'bash');
    const props = tool?.function?.parameters?.properties ?? {};
    const args: Record<string, unknown> = { command };
    if ('description' in props) args.description = 'Run a shell command';
    return { name: 'bash', args };
  },
  toolCallIdPrefix: 'call_',
  authErrorBody: () => openAiAuthErrorBody(),
  usageLimitResponse(resetsIn) {
    return {
      headers: { 'retry-after': String(resetsIn) },
      body: {
        error: {
          message: 'You exceeded your current quota, please check your plan and billing details.',
          type: 'insufficient_quota',
          param: null,
          code: 'insufficient_quota',
        },
      },
    };
  },
  encoder(rec, id) {
    const model = rec.model ?? 'test-model';
    const created = Math.floor(Date.now() / 1000);
    const chatId = `chatcmpl-${id()}`;
    const chunk = (delta: unknown, finish: string | null, extra: Record<string, unknown> = {}): string =>
      sse(null, { id: chatId, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra });
    return {
      begin: () => [chunk({ role: 'assistant', content: '' }, null)],
      textStart: () => [],
      textDelta: (t) => chunk({ content: t }, null),
      textEnd: () => [],
      toolCall: (callId, name, args) => [
        chunk({ tool_calls: [{ index: 0, id: callId, type: 'function', function: { name, arguments: '' } }] }, null),
        chunk({ tool_calls: [{ index: 0, function: { arguments: args } }] }, null),
      ],
      finish: (reason) => [
        chunk({}, reason === 'tool' ? 'tool_calls' : 'stop'),
        sse(null, { id: chatId, object: 'chat.completion.chunk', created, model, choices: [], usage: { prompt_tokens: PER_REQUEST.input, completion_tokens: PER_REQUEST.output, total_tokens: PER_REQUEST.input + PER_REQUEST.output, prompt_tokens_details: { cached_tokens: PER_REQUEST.cached } } }),
        sse(null, '[DONE]'),
      ],
    };
  },
};
