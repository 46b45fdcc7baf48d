import type { Usage } from './record';

/** 12,345 in (12,000 cached) · 67 out · $0.0123 */
export function usageText(u: Usage): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const cached = u.cachedInputTokens ? ` (${n(u.cachedInputTokens)} cached)` : '';
  return `${n(u.inputTokens)} in${cached} · ${n(u.outputTokens)} out${u.costUsd !== undefined ? ` · ${costText(u.costUsd)}` : ''}`;
}

export function costText(usd: number): string {
  return `$${usd < 0.01 ? usd.toFixed(4) : usd.toFixed(2)}`;
}

/** 950, 12.3k, 4.1M: a count for a narrow column. */
export function shortCount(x: number): string {
  if (x < 1000) return String(x);
  if (x < 1_000_000) return `${(x / 1000).toFixed(x < 10_000 ? 1 : 0)}k`;
  return `${(x / 1_000_000).toFixed(x < 10_000_000 ? 1 : 0)}M`;
}

/** 12.3k in / 670 out: tokens for a column or a tree description. */
export function usageShort(u: Usage): string {
  return `${shortCount(u.inputTokens)} in / ${shortCount(u.outputTokens)} out`;
}
