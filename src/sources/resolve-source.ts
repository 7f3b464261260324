import { parseHttpUrl } from '../http/parse-url.js';
import { isCivitaiUrl, resolveCivitai } from './civitai.js';
import { isHubUrl, resolveHuggingFace } from './huggingface.js';
import type { ResolvedFile, SourceContext } from './types.js';

/** Civitai and Hugging Face URLs go through their sites' APIs; anything else is fetched as it is. */
export async function resolveSource(text: string, ctx: SourceContext): Promise<ResolvedFile> {
  const url = parseHttpUrl(text);
  if (isCivitaiUrl(url, ctx.settings.civitaiBaseUrl)) return resolveCivitai(url, ctx);
  if (isHubUrl(url, ctx.settings.hfEndpoint)) return resolveHuggingFace(url, ctx);
  return { source: 'direct', url, headers: {} };
}
