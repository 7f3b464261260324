/**
 * dlr's model types and their download priority. The seed plan's order:
 * checkpoints first (large, most likely to hit a throttle later in the
 * night), then LoRAs, then embeddings, then everything else.
 */
export const TYPE_PRIORITY: Readonly<Record<string, number>> = Object.freeze({ checkpoint: 0, lora: 1, embedding: 2 });
export const OTHER_PRIORITY = 999;

/**
 * Civitai's type names (WIRE.md 1.2) and the usual spellings users write,
 * mapped to dlr's types. LoCon, LyCORIS and DoRA are LoRA variants loaded
 * from the same folder by every UI; TextualInversion is an embedding.
 */
const ALIASES: Readonly<Record<string, string>> = Object.freeze({
  checkpoint: 'checkpoint',
  checkpoints: 'checkpoint',
  ckpt: 'checkpoint',
  model: 'checkpoint',
  lora: 'lora',
  loras: 'lora',
  locon: 'lora',
  lycoris: 'lora',
  dora: 'lora',
  embedding: 'embedding',
  embeddings: 'embedding',
  textualinversion: 'embedding',
  'textual inversion': 'embedding',
  'textual-inversion': 'embedding',
  ti: 'embedding',
});

/** Lower-cased, alias-resolved type; an empty type is `other`. */
export function normalizeModelType(raw: string | undefined): string {
  const key = (raw ?? '').trim().toLowerCase();
  if (key === '') return 'other';
  return ALIASES[key] ?? ALIASES[key.replace(/[\s_-]+/g, '')] ?? key;
}

export function priorityOf(type: string): number {
  return TYPE_PRIORITY[type] ?? OTHER_PRIORITY;
}
