import { chat } from './chat';
import { messages } from './messages';
import { responses } from './responses';
import type { Api } from './script';
import type { ModelApi } from './types';

/** One adapter per model API, by the name the server gives a request's API. */
export const APIS: Readonly<Record<Api, ModelApi>> = { responses, messages, chat };

export function apiFor(api: Api): ModelApi {
  return APIS[api];
}
