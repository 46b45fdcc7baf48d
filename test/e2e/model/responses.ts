/** The OpenAI Responses API, POST /v1/responses (codex). */
import { isInjectedContext, ModelApi, PER_REQUEST, openAiAuthErrorBody, sse, textOf } from './types';

export const responses: ModelApi = {
  read(rec) {
    const body = rec.body;
    const userTexts: string[] = [];
    let lastIsToolResult = false;
    let lastUser = '';
    rec.toolNames = Array.isArray(body.tools) ? body.tools.map((t: any) => t?.name ?? t?.type).filter(Boolean) : [];
    const input: any[] = Array.isArray(body.input) ? body.input : typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : [];
    for (const item of input) {
      if ((item?.type === 'message' || item?.type === undefined) && item?.role === 'user') {
        const t = textOf(item.content);
        userTexts.push(t);
        if (!isInjectedContext(t)) lastUser = t;
      }
    }
    const last = input[input.length - 1];
    if (last && (last.type === 'function_call_output' || last.type === 'custom_tool_call_output')) {
      lastIsToolResult = true;
      for (let i = input.length - 1; i >= 0 && /_output$/.test(input[i]?.type ?? ''); i--) rec.toolResultIds.push(String(input[i].call_id));
    }
    return { userTexts, lastUser, lastIsToolResult };
  },
  conversation: (body) => body?.input,
  shellToolCall(rec, command) {
    if (rec.toolNames.includes('exec_command') || rec.toolNames.length === 0) return { name: 'exec_command', args: { cmd: command } };
    if (rec.toolNames.includes('shell')) return { name: 'shell', args: { command: ['bash', '-lc', command] } };
    return { name: 'exec_command', args: { cmd: command } };
  },
  toolCallIdPrefix: 'call_',
  authErrorBody: () => openAiAuthErrorBody(),
  usageLimitResponse(resetsIn) {
    const resetsAt = Math.floor(Date.now() / 1000) + resetsIn;
    return {
      headers: {
        'retry-after': String(resetsIn),
        'x-codex-primary-used-percent': '100',
        'x-codex-primary-window-minutes': '300',
        'x-codex-primary-reset-after-seconds': String(resetsIn),
        'x-codex-primary-reset-at': String(resetsAt),
      },
      body: {
        error: {
          type: 'usage_limit_reached',
          message: 'The usage limit has been reached',
          plan_type: 'plus',
          resets_at: resetsAt,
          resets_in_seconds: resetsIn,
        },
      },
    };
  },
  encoder(rec, id) {
    const model = rec.model ?? 'test-model';
    const created = Math.floor(Date.now() / 1000);
    const respId = `resp_${id()}`;
    const msgId = `msg_${id()}`;
    const output: unknown[] = [];
    const usage = { input_tokens: PER_REQUEST.input, input_tokens_details: { cached_tokens: PER_REQUEST.cached }, output_tokens: PER_REQUEST.output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: PER_REQUEST.input + PER_REQUEST.output };
    return {
      begin: () => [sse('response.created', { type: 'response.created', response: { id: respId, object: 'response', created_at: created, status: 'in_progress', model, output: [] } })],
      textStart: () => [
        sse('response.output_item.added', { type: 'response.output_item.added', output_index: 0, item: { id: msgId, type: 'message', role: 'assistant', status: 'in_progress', content: [] } }),
        sse('response.content_part.added', { type: 'response.content_part.added', item_id: msgId, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }),
      ],
      textDelta: (t) => sse('response.output_text.delta', { type: 'response.output_text.delta', item_id: msgId, output_index: 0, content_index: 0, delta: t }),
      textEnd: (full) => {
        const item = { id: msgId, type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: full, annotations: [] }] };
        output.push(item);
        return [
          sse('response.output_text.done', { type: 'response.output_text.done', item_id: msgId, output_index: 0, content_index: 0, text: full }),
          sse('response.output_item.done', { type: 'response.output_item.done', output_index: 0, item }),
        ];
      },
      toolCall: (callId, name, args) => {
        const fcId = `fc_${id()}`;
        const item = { id: fcId, type: 'function_call', status: 'completed', name, arguments: args, call_id: callId };
        output.push(item);
        return [
          sse('response.output_item.added', { type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } }),
          sse('response.function_call_arguments.done', { type: 'response.function_call_arguments.done', item_id: fcId, output_index: 0, arguments: args }),
          sse('response.output_item.done', { type: 'response.output_item.done', output_index: 0, item }),
        ];
      },
      finish: () => [sse('response.completed', { type: 'response.completed', response: { id: respId, object: 'response', created_at: created, status: 'completed', model, output, usage } })],
    };
  },
};
