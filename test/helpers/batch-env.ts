import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { makeTempDir } from './temp-dir.js';

/**
 * A workspace for batch runs: a fault server, a temp dir with a config that
 * points every type's folder and the history inside it, and HOME pointed
 * there so no real user config can leak in.
 */
export interface BatchEnv {
  readonly server: FaultServer;
  readonly root: string;
  readonly historyPath: string;
  readonly env: Record<string, string>;
  dirOf(type: 'checkpoint' | 'lora' | 'embedding' | 'other'): string;
  writeHistory(rows: ReadonlyArray<readonly [type: string, path: string, filename: string]>): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makeBatchEnv(settings: Record<string, unknown> = {}): Promise<BatchEnv> {
  const server = await startFaultServer();
  const tmp = await makeTempDir('dlr-batch-');
  const root = tmp.path;
  const folders = { checkpoint: 'models/ckpt', lora: 'models/lora', embedding: 'models/emb', other: 'models/other' } as const;
  await writeFile(
    join(root, 'dlr.config.json'),
    JSON.stringify({
      download_paths: { ...folders, default: folders.other },
      history_file: 'history.csv',
      rate_limit_settings: { sleep_between_downloads: 0, retry_delays: [0.01, 0.01, 0.01], speed_threshold_kbps: 0, ...settings },
    }),
  );
  await mkdir(join(root, 'home'));
  const historyPath = join(root, 'history.csv');
  return {
    server,
    root,
    historyPath,
    env: { HOME: join(root, 'home'), XDG_CONFIG_HOME: join(root, 'home', '.config') },
    dirOf: (type) => join(root, folders[type]),
    writeHistory: (rows) =>
      writeFile(
        historyPath,
        ['timestamp,model_type,url,filename', ...rows.map(([type, path, filename]) => `2024-10-24 10:00:00,${type},${server.url(path)},${filename}`)].join('\n') + '\n',
      ),
    cleanup: async () => {
      await server.close();
      await tmp.cleanup();
    },
  };
}
