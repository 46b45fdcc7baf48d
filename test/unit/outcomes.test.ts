import * as assert from 'node:assert/strict';
import { ADAPTERS } from '../../src/core/agents/registry';
import { nextClockTime, parseJsonLines } from '../../src/core/agents/types';

// Event lines as the real CLIs print them against a model server answering 401 or 429
// (codex-cli 0.171.0, Claude Code 2.1.332, opencode 1.18.33, pi 0.73.1; first seen on codex-cli 0.169.0 and Claude Code 2.1.197).
const NOW = new Date('2026-03-01T20:00:00.000Z');
const outcome = (agent: keyof typeof ADAPTERS, lines: string[]) => ADAPTERS[agent].outcomeFromEvents(parseJsonLines(lines), NOW);

describe('how a run ended, from the agent\'s own events', () => {
  it('codex: 401 after its reconnects -> held for authentication', () => {
    const o = outcome('codex', [
      '{"type":"thread.started","thread_id":"t"}',
      '{"type":"error","message":"Reconnecting... 1/5 (unexpected status 401 Unauthorized: bad key, url: http://127.0.0.1/v1/responses)"}',
      '{"type":"error","message":"unexpected status 401 Unauthorized: bad key"}',
      '{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized: bad key"}}',
    ]);
    assert.equal(o?.kind, 'held');
    assert.match((o as { reason: string }).reason, /^authentication failed/);
  });

  it('codex: usage limit with "try again at 11:30 PM" -> held until then', () => {
    const o = outcome('codex', ['{"type":"error","message":"You’ve hit your usage limit. Upgrade to Pro, or try again at 11:30 PM."}']);
    assert.equal(o?.kind, 'held');
    const until = (o as { until?: Date }).until!;
    assert.equal(until.getHours(), 23);
    assert.equal(until.getMinutes(), 30);
    assert.ok(until > NOW && until.getTime() - NOW.getTime() <= 24 * 3600_000);
  });

  it('codex: an item of type "error" in a successful run is not a failure', () => {
    assert.equal(outcome('codex', ['{"type":"item.completed","item":{"type":"error","message":"Model metadata for `x` not found"}}', '{"type":"turn.completed"}']), undefined);
  });

  it('claude: result with api_error_status 401 -> held; 429 with rate_limit_event -> held until resetsAt', () => {
    const auth = outcome('claude', ['{"type":"result","subtype":"success","is_error":true,"api_error_status":401,"result":"Invalid API key · Fix external API key"}']);
    assert.equal(auth?.kind, 'held');
    const usage = outcome('claude', [
      '{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1772406000,"rateLimitType":"five_hour"}}',
      '{"type":"result","is_error":true,"api_error_status":429,"result":"You\'ve hit your session limit · resets 11:30pm (UTC)"}',
    ]);
    assert.equal(usage?.kind, 'held');
    assert.equal((usage as { until?: Date }).until?.getTime(), 1772406000 * 1000);
  });

  it('claude: the reset time read from the text when there is no rate_limit_event', () => {
    const usage = outcome('claude', ['{"type":"result","is_error":true,"result":"You\'ve hit your session limit · resets 11:30pm (UTC)"}']);
    assert.equal((usage as { until?: Date }).until?.toISOString(), '2026-03-01T23:30:00.000Z');
  });

  it('opencode: APIError 401 -> held; 429 with retry-after -> held until then', () => {
    assert.equal(outcome('opencode', ['{"type":"error","sessionID":"ses_1","error":{"name":"APIError","data":{"message":"Incorrect API key","statusCode":401,"isRetryable":false}}}'])?.kind, 'held');
    const usage = outcome('opencode', ['{"type":"error","sessionID":"ses_1","error":{"name":"APIError","data":{"message":"insufficient_quota","statusCode":429,"isRetryable":true,"responseHeaders":{"retry-after":"120"}}}}']);
    assert.equal((usage as { until?: Date }).until?.getTime(), NOW.getTime() + 120_000);
  });

  it('pi: exits 0 on API errors; its events say 401 -> held, 429 -> held, other -> failed', () => {
    // agent_end carries the conversation; its last assistant message says how the run ended.
    assert.equal(outcome('pi', ['{"type":"session","id":"p"}', '{"type":"agent_end","messages":[{"role":"user","content":"x"},{"role":"assistant","content":[],"stopReason":"error","errorMessage":"401 Incorrect API key provided"}]}'])?.kind, 'held');
    assert.equal(outcome('pi', ['{"type":"agent_end","messages":[{"role":"assistant","stopReason":"stop"}]}']), undefined);
    assert.equal(outcome('pi', ['{"type":"auto_retry_end","success":false,"attempt":3,"finalError":"429 You exceeded your current quota"}'])?.kind, 'held');
    assert.equal(outcome('pi', ['{"type":"message_end","message":{"role":"assistant","stopReason":"error","errorMessage":"500 boom"}}'])?.kind, 'failed');
    assert.equal(outcome('pi', ['{"type":"auto_retry_start","attempt":1}', '{"type":"message_end","message":{"stopReason":"stop"}}', '{"type":"agent_end"}']), undefined);
  });

  it('reads wall-clock reset times', () => {
    assert.equal(nextClockTime('11:30pm (UTC)', NOW)?.toISOString(), '2026-03-01T23:30:00.000Z');
    assert.equal(nextClockTime('7:05 am UTC', NOW)?.toISOString(), '2026-03-02T07:05:00.000Z');
    assert.equal(nextClockTime('soon', NOW), undefined);
  });
});
