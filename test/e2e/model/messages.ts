/** The Anthropic Messages API, POST /v1/messages[?beta=…] (claude). */
import { isInjectedContext, ModelApi, PER_REQUEST, sse } from './types';

export const messages: ModelApi = {
  read(rec) {
    const body = rec.body;
    const userTexts: string[] = [];
    let lastIsToolResult = false;
    let lastUser = '';
    rec.toolNames = Array.isArray(body.tools) ? body.tools.map((t: any) => t?.name).filter(Boolean) : [];
    const msgs: any[] = Array.isArray(body.messages) ? body.messages : [];
    for (const m of msgs) {
      if (m?.role !== 'user') continue;
      const blocks: any[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m.content) ? m.content : [];
      const texts = blocks.filter((bl) => bl?.type === 'text' && typeof bl.text === 'string').map((bl) => bl.text as string);
      userTexts.push(...texts);
      const real = texts.filter((t) => !isInjectedContext(t));
      if (real.length > 0) lastUser = real.join('\n');
    }
    const last = msgs[msgs.length - 1];
    if (last?.role === 'user' && Array.isArray(last.content)) {
      const results = last.content.filter((bl: any) => bl?.type === 'tool_result');
      if (results.length > 0) {
        lastIsToolResult = true;
        rec.toolResultIds.push(...results.map((bl: any) => String(bl.tool_use_id)));
      }
    }
    return { userTexts, lastUser, lastIsToolResult };
  },
  conversation: (body) => body?.messages,
  shellToolCall: (_rec, command) => ({ name: 'Bash', args: { command, description: 'Run a shell command' } }),
  toolCallIdPrefix: 'toolu_',
  authErrorBody: () => ({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }),
  usageLimitResponse(resetsIn) {
    const resetsAt = Math.floor(Date.now() / 1000) + resetsIn;
    return {
      headers: {
        'retry-after': String(resetsIn),
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-reset': String(resetsAt),
        'anthropic-ratelimit-unified-representative-claim': 'five_hour',
        'anthropic-ratelimit-unified-5h-status': 'rejected',
        'anthropic-ratelimit-unified-5h-reset': String(resetsAt),
        'anthropic-ratelimit-unified-5h-utilization': '1.0',
      },
      body: { type: 'error', error: { type: 'rate_limit_error', message: 'This request would exceed your account\'s rate limit. Please try again later.' } },
    };
  },
  encoder(rec, id) {
    const model = rec.model ?? 'test-model';
    const msgId = `msg_${id()}`;
    return {
      begin: () => [
        sse('message_start', {
          type: 'message_start',
          message: { id: msgId, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: PER_REQUEST.input - PER_REQUEST.cached, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: PER_REQUEST.cached } },
        }),
      ],
      textStart: () => [sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }), sse('ping', { type: 'ping' })],
      textDelta: (t) => sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } }),
      textEnd: () => [sse('content_block_stop', { type: 'content_block_stop', index: 0 })],
      toolCall: (callId, name, args) => [
        sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: callId, name, input: {} } }),
        sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: args } }),
        sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
      ],
      finish: (reason) => [
        sse('message_delta', { type: 'message_delta', delta: { stop_reason: reason === 'tool' ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: PER_REQUEST.output } }),
        sse('message_stop', { type: 'message_stop' }),
      ],
    };
  },
};
