import { parseHttpUrl } from '../http/parse-url.js';
import { isCivitaiUrl, resolveCivitai } from './civitai.js';
import { isHubUrl, resolveHuggingFace } from './huggingface.js';
import type { ResolvedFile, SourceContext, SourceSettings } from './types.js';

/** Civitai and Hugging Face URLs go through their sites' APIs; anything else is fetched as it is. */
export async function resolveSource(text: string, ctx: SourceContext): Promise<ResolvedFile> {
  const url = parseHttpUrl(text);
  switch (pickSource(url, ctx.settings)) {
    case 'civitai':
      return resolveCivitai(url, ctx);
    case 'huggingface':
      return resolveHuggingFace(url, ctx);
    default:
      return { source: 'direct', url, headers: {} };
  }
}

/**
 * Which site a URL belongs to. When Civitai's base URL and HF_ENDPOINT are
 * the same origin (one mirror or stand-in serving both), the path decides:
 * `/resolve/` and `/blob/` are the Hub's file routes, Civitai has neither.
 */
export function pickSource(url: URL, settings: Pick<SourceSettings, 'civitaiBaseUrl' | 'hfEndpoint'>): 'civitai' | 'huggingface' | 'direct' {
  const civitai = isCivitaiUrl(url, settings.civitaiBaseUrl);
  const hub = isHubUrl(url, settings.hfEndpoint);
  if (civitai && hub) return /\/(resolve|blob)\//.test(url.pathname) ? 'huggingface' : 'civitai';
  if (civitai) return 'civitai';
  if (hub) return 'huggingface';
  return 'direct';
}
