import type { HttpClient } from '../http/client.js';
import type { RetryBudget } from '../policy/with-retries.js';
import type { DlrError } from '../errors.js';
import type { ExpectedFile, InspectedResponse } from '../engine/types.js';

/** Where each site lives and the credentials for it; from the config and the environment. */
export interface SourceSettings {
  /** Civitai's origin, e.g. `https://civitai.com` (config `civitai.base_url`). */
  readonly civitaiBaseUrl: string;
  /** Civitai API key: config `api_key`, `CIVITAI_TOKEN` or `CIVITAI_API_KEY`. */
  readonly civitaiApiKey: string | undefined;
  /** The Hugging Face Hub's origin (`HF_ENDPOINT`, default `https://huggingface.co`). */
  readonly hfEndpoint: string;
  /** `HF_TOKEN`. */
  readonly hfToken: string | undefined;
}

export interface SourceContext {
  readonly settings: SourceSettings;
  /** The run's network client: policy, dispatcher, origin limiter. */
  readonly client: HttpClient;
  readonly signal?: AbortSignal;
  /** The file's retry budget, shared with its download (see RetryBudget); it also reports the waits. */
  readonly retryBudget?: RetryBudget;
}

/**
 * What a source knows about a URL before the download: the URL to request
 * on every attempt (never a signed redirect target, which expires), the
 * credentials for that URL's origin, and what the file should be.
 */
export interface ResolvedFile {
  readonly source: 'civitai' | 'huggingface' | 'direct';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /** The site's name for the file. */
  readonly filename?: string;
  /** dlr's model type, when the site says. */
  readonly type?: string;
  readonly expect?: ExpectedFile;
  readonly inspect?: (response: InspectedResponse) => DlrError | undefined;
  /** For pinning: the exact version resolved (Civitai version id, Hub commit). */
  readonly version?: string;
}
