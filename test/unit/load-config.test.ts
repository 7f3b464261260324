import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downloadDirFor, loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/errors.js';
import { makeTempDir } from '../helpers/temp-dir.js';

let dir: { path: string; cleanup: () => Promise<void> };
/** The project dir the command runs in. */
let cwd: string;
/** HOME, so the real ~/.config never leaks into a test. */
let home: string;

beforeEach(async () => {
  dir = await makeTempDir();
  cwd = join(dir.path, 'project');
  home = join(dir.path, 'home');
  await mkdir(cwd);
  await mkdir(home);
});
afterEach(async () => {
  await dir.cleanup();
});

async function writeJson(path: string, value: unknown): Promise<string> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

const load = (env: NodeJS.ProcessEnv = {}, explicitPath?: string) =>
  loadConfig({ env: { HOME: home, ...env }, cwd, ...(explicitPath === undefined ? {} : { explicitPath }) });

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('loadConfig: where the file comes from', () => {
  it('uses defaults relative to cwd when there is no file anywhere', async () => {
    const config = await load();
    expect(config.path).toBeUndefined();
    expect(config.apiKey).toBeUndefined();
    expect(config.downloadPaths).toEqual({
      checkpoint: join(cwd, 'models/checkpoint'),
      lora: join(cwd, 'models/lora'),
      embedding: join(cwd, 'models/embedding'),
      default: join(cwd, 'models/other'),
    });
    expect(config.historyFile).toBe(join(cwd, 'download_history.csv'));
    expect(config.policy).toEqual({});
    expect(config.sleepBetweenMs).toBeUndefined();
  });

  it('takes the first match: --config, DLR_CONFIG, ./dlr.config.json, XDG_CONFIG_HOME', async () => {
    const explicit = await writeJson(join(dir.path, 'a/explicit.json'), {});
    const fromEnv = await writeJson(join(dir.path, 'b/env.json'), {});
    const local = await writeJson(join(cwd, 'dlr.config.json'), {});
    const xdgHome = join(dir.path, 'xdg');
    const xdg = await writeJson(join(xdgHome, 'dlr/config.json'), {});
    const env = { DLR_CONFIG: fromEnv, XDG_CONFIG_HOME: xdgHome };

    expect((await load(env, explicit)).path).toBe(explicit);
    expect((await load(env)).path).toBe(fromEnv);
    expect((await load({ XDG_CONFIG_HOME: xdgHome })).path).toBe(local);
    await rm(local);
    expect((await load({ XDG_CONFIG_HOME: xdgHome })).path).toBe(xdg);
  });

  it('falls back to $HOME/.config/dlr/config.json without XDG_CONFIG_HOME', async () => {
    const path = await writeJson(join(home, '.config/dlr/config.json'), {});
    expect((await load()).path).toBe(path);
  });

  it('ignores a relative XDG_CONFIG_HOME, as the XDG spec asks', async () => {
    const path = await writeJson(join(home, '.config/dlr/config.json'), {});
    await writeJson(join(cwd, 'rel/dlr/config.json'), {});
    expect((await load({ XDG_CONFIG_HOME: 'rel' })).path).toBe(path);
  });

  it('resolves a relative --config or DLR_CONFIG against cwd', async () => {
    const path = await writeJson(join(cwd, 'conf/my.json'), {});
    expect((await load({}, 'conf/my.json')).path).toBe(path);
    expect((await load({ DLR_CONFIG: 'conf/my.json' })).path).toBe(path);
  });

  it('fails, naming the path, when --config or DLR_CONFIG does not exist', async () => {
    await writeJson(join(cwd, 'dlr.config.json'), {});
    const missing = join(dir.path, 'nope.json');
    const explicit = await configError(load({}, missing));
    expect(explicit.message).toContain(missing);
    expect(explicit.message).toContain('--config');
    const fromEnv = await configError(load({ DLR_CONFIG: missing }));
    expect(fromEnv.message).toContain(missing);
    expect(fromEnv.message).toContain('DLR_CONFIG');
  });
});

describe('loadConfig: values', () => {
  it('reads download_paths keys with the same aliases as model_type', async () => {
    const path = await writeJson(join(dir.path, 'dlr.json'), { download_paths: { Lora: 'L', TextualInversion: 'E', Checkpoint: 'C' } });
    const config = await load({}, path);
    expect(downloadDirFor(config, 'lora')).toBe(join(dir.path, 'L'));
    expect(downloadDirFor(config, 'embedding')).toBe(join(dir.path, 'E'));
    expect(downloadDirFor(config, 'checkpoint')).toBe(join(dir.path, 'C'));
  });

  it('expands ~ to the home directory in paths', async () => {
    const path = await writeJson(join(dir.path, 'dlr.json'), { download_paths: { lora: '~/sd/Lora' }, history_file: '~/h.csv' });
    const home = join(dir.path, 'the-home');
    const config = await load({ HOME: home }, path);
    expect(config.downloadPaths.lora).toBe(join(home, 'sd/Lora'));
    expect(config.historyFile).toBe(join(home, 'h.csv'));
  });

  it('resolves relative paths against the config file directory, keeps absolute ones', async () => {
    const absolute = join(dir.path, 'abs-vae');
    const path = await writeJson(join(dir.path, 'etc/dlr.json'), {
      download_paths: { checkpoint: 'models/Stable-diffusion', vae: absolute, default: 'downloads' },
      history_file: 'hist/history.csv',
    });
    const config = await load({}, path);
    const base = join(dir.path, 'etc');
    expect(config.downloadPaths).toEqual({
      checkpoint: join(base, 'models/Stable-diffusion'),
      lora: join(base, 'models/lora'),
      embedding: join(base, 'models/embedding'),
      vae: absolute,
      default: join(base, 'downloads'),
    });
    expect(config.historyFile).toBe(join(base, 'hist/history.csv'));
    expect(downloadDirFor(config, 'vae')).toBe(absolute);
    expect(downloadDirFor(config, 'lora')).toBe(join(base, 'models/lora'));
    expect(downloadDirFor(config, 'controlnet')).toBe(join(base, 'downloads'));
    expect(downloadDirFor(config, 'constructor')).toBe(join(base, 'downloads'));
  });

  it('puts the default history file beside the config file', async () => {
    const path = await writeJson(join(dir.path, 'etc/dlr.json'), {});
    expect((await load({}, path)).historyFile).toBe(join(dir.path, 'etc/download_history.csv'));
  });

  it('converts seconds to ms and KiB/s to bytes/s', async () => {
    const path = await writeJson(join(cwd, 'dlr.config.json'), {
      rate_limit_settings: {
        sleep_between_downloads: 5,
        retry_delays: [60, 0.5, 300],
        speed_threshold_kbps: 10,
        slow_duration_threshold_seconds: 30,
      },
    });
    const config = await load();
    expect(config.path).toBe(path);
    expect(config.sleepBetweenMs).toBe(5_000);
    expect(config.policy).toEqual({ retryDelaysMs: [60_000, 500, 300_000], speedFloorBytesPerSec: 10_240, speedWindowMs: 30_000 });
  });

  it('reports only the settings the file gave; 0 KiB/s and [] are kept', async () => {
    await writeJson(join(cwd, 'dlr.config.json'), { rate_limit_settings: { speed_threshold_kbps: 0, retry_delays: [] } });
    const config = await load();
    expect(config.policy).toEqual({ retryDelaysMs: [], speedFloorBytesPerSec: 0 });
    expect(config.sleepBetweenMs).toBeUndefined();
  });

  it('accepts a UTF-8 BOM', async () => {
    await writeJson(join(cwd, 'dlr.config.json'), '\uFEFF{"history_file": "h.csv"}');
    expect((await load()).historyFile).toBe(join(cwd, 'h.csv'));
  });
});

describe('loadConfig: api key', () => {
  const env = { CIVITAI_TOKEN: 'token-env', CIVITAI_API_KEY: 'apikey-env' };

  it('prefers the config, then CIVITAI_TOKEN, then CIVITAI_API_KEY', async () => {
    expect((await load(env)).apiKey).toBe('token-env');
    expect((await load({ CIVITAI_API_KEY: 'apikey-env' })).apiKey).toBe('apikey-env');
    await writeJson(join(cwd, 'dlr.config.json'), { api_key: 'from-file' });
    expect((await load(env)).apiKey).toBe('from-file');
  });

  it('treats an empty api_key as not set', async () => {
    await writeJson(join(cwd, 'dlr.config.json'), { api_key: '' });
    expect((await load(env)).apiKey).toBe('token-env');
  });

  it.each([
    ['a later key is wrong', '{"api_key": "s3cr3t-KEY-value", "history_file": ""}'],
    ['the JSON is broken right after it', '{"api_key": "s3cr3t-KEY-value" "x": 1}'],
    ['the JSON is broken inside it', '{"api_key": "s3cr3t-KEY-value}'],
    ['the JSON has an unexpected token near it', '{"api_key": "s3cr3t-KEY-value", }'],
  ])('never puts the key in a message when %s', async (_, text) => {
    await writeJson(join(cwd, 'dlr.config.json'), text);
    const error = await configError(load());
    expect(error.message).not.toContain('s3cr3t');
  });

  it('does not echo an api_key of the wrong type', async () => {
    await writeJson(join(cwd, 'dlr.config.json'), { api_key: 123456789 });
    const error = await configError(load());
    expect(error.message).toContain('api_key');
    expect(error.message).not.toContain('123456789');
  });
});

describe('loadConfig: bad configs', () => {
  const bad: Array<[string, string, string[]]> = [
    ['invalid JSON', '{"history_file": }', ['invalid JSON']],
    ['invalid JSON with a position', '{"history_file": "a",\n  oops}', ['invalid JSON at line 2 column 3']],
    ['an array at the top level', '[]', ['top level', 'a list']],
    ['a string at the top level', '"hi"', ['top level']],
    ['an unknown top-level key', '{"foo": 1}', ['unknown key "foo"', 'api_key, download_paths, rate_limit_settings, history_file']],
    ['an unknown nested key', '{"rate_limit_settings": {"foo": 1}}', ['unknown key "foo" in rate_limit_settings', 'retry_delays']],
    ['a type key with odd characters', '{"download_paths": {"lo/ra": "x"}}', ['unknown key "lo/ra" in download_paths']],
    ['two keys for one type', '{"download_paths": {"lora": "a", "LoCon": "b"}}', ['download_paths.LoCon names the same type (lora) as download_paths.lora']],
    ['retry_delays not a list', '{"rate_limit_settings": {"retry_delays": "60,180"}}', ['rate_limit_settings.retry_delays must be a list']],
    ['a negative delay', '{"rate_limit_settings": {"retry_delays": [60, -5]}}', ['rate_limit_settings.retry_delays[1] must be a number >= 0 (seconds), got -5']],
    ['a string delay', '{"rate_limit_settings": {"retry_delays": ["60"]}}', ['rate_limit_settings.retry_delays[0]', 'got "60"']],
    ['an infinite delay', '{"rate_limit_settings": {"retry_delays": [1e999]}}', ['rate_limit_settings.retry_delays[0]', 'Infinity']],
    ['a delay over 2^31-1 ms', '{"rate_limit_settings": {"retry_delays": [2147484]}}', ['rate_limit_settings.retry_delays[0] must be at most 2147483.647']],
    ['an infinite sleep', '{"rate_limit_settings": {"sleep_between_downloads": 1e999}}', ['rate_limit_settings.sleep_between_downloads']],
    ['a null sleep', '{"rate_limit_settings": {"sleep_between_downloads": null}}', ['rate_limit_settings.sleep_between_downloads', 'got null']],
    ['a negative speed threshold', '{"rate_limit_settings": {"speed_threshold_kbps": -1}}', ['rate_limit_settings.speed_threshold_kbps must be a number >= 0 (KiB/s)']],
    ['a zero speed window', '{"rate_limit_settings": {"slow_duration_threshold_seconds": 0}}', ['rate_limit_settings.slow_duration_threshold_seconds']],
    ['rate_limit_settings not an object', '{"rate_limit_settings": [5]}', ['rate_limit_settings must be an object']],
    ['an empty download path', '{"download_paths": {"lora": ""}}', ['download_paths.lora must be a non-empty path']],
    ['a blank history file', '{"history_file": "  "}', ['history_file must be a non-empty path']],
    ['a number as a path', '{"download_paths": {"checkpoint": 5}}', ['download_paths.checkpoint', 'got 5']],
    ['download_paths not an object', '{"download_paths": "models"}', ['download_paths must be an object', 'got "models"']],
  ];

  it.each(bad)('rejects %s', async (_, text, fragments) => {
    const path = await writeJson(join(cwd, 'dlr.config.json'), text);
    const error = await configError(load());
    expect(error.code).toBe('config');
    expect(error.message).toContain(path);
    expect(error.message).not.toContain('\n');
    for (const fragment of fragments) expect(error.message).toContain(fragment);
  });

  it('refuses a file over 1 MiB', async () => {
    const path = await writeJson(join(cwd, 'dlr.config.json'), `{"history_file": "h.csv"}${' '.repeat(1 << 20)}`);
    const error = await configError(load());
    expect(error.message).toContain(path);
    expect(error.message).toContain('1 MiB');
  });

  it('refuses a directory in place of the file, wherever it was found', async () => {
    const path = join(cwd, 'dlr.config.json');
    await mkdir(path);
    expect((await configError(load())).message).toContain(`${path}: is a directory`);
    expect((await configError(load({}, cwd))).message).toContain(`${cwd}: is a directory`);
  });
});
