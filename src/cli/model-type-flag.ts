import { UsageError } from '../errors.js';
import { normalizeModelType, TYPE_PRIORITY } from '../domain/model-type.js';

/**
 * Civitai's model types (its API's `type` enum), as dlr spells them once
 * normalized: the types a Civitai row may be given by the site, so naming one
 * by hand is not a typo.
 */
const CIVITAI_TYPES = [
  'Checkpoint', 'TextualInversion', 'Hypernetwork', 'AestheticGradient', 'LORA', 'LoCon', 'DoRA', 'Controlnet', 'Upscaler',
  'MotionModule', 'VAE', 'TextEncoder', 'UNet', 'CLIPVision', 'Poses', 'Wildcards', 'Workflows', 'ComfyWorkflows', 'Detection',
  'VisionLanguage', 'CLIP', 'LLM', 'Other',
].map((t) => normalizeModelType(t));

/** dlr's own types first (in download order), then Civitai's others, then the config's own folder names. */
export function knownModelTypes(configuredTypes: Iterable<string>): string[] {
  const configured = [...configuredTypes].filter((t) => t !== 'default');
  return [...new Set([...Object.keys(TYPE_PRIORITY), ...CIVITAI_TYPES, ...configured])];
}

/**
 * `--type` is written into the history and picks the folder: a typo
 * (`lroa`) would put a LoRA in the default folder and the history for good.
 * So an unknown type is a usage error that lists the known ones; a type the
 * config gives a folder (`download_paths`) is known.
 * Returns the type as normalized (aliases resolved).
 */
export function checkModelTypeFlag(raw: string, configuredTypes: Iterable<string>): string {
  const known = knownModelTypes(configuredTypes);
  const type = normalizeModelType(raw);
  if (raw.trim() !== '' && known.includes(type)) return type;
  throw new UsageError(
    `--type: unknown model type '${raw.slice(0, 60)}'; known: ${known.join(', ')} (aliases such as LoCon or TextualInversion work too; a download_paths key in the config adds one)`,
  );
}
