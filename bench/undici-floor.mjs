// What undici alone costs: receive the URL's body through the same kind of
// dispatcher dlr uses (undici loaded the same way, same V8 flag, the same
// young-generation GC every 8 MiB that dlr runs) and drop every byte. No
// disk, no part file, no CLI. `npm run bench` times it beside dlr and curl
// when BENCH_FLOOR=1, to show how much of dlr's time is the HTTP client's
// own receive path.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
const { EnvHttpProxyAgent } = await import('../dist/http/undici.js');
const { collectEvery } = await import('../dist/util/young-gc.js');
const { DEFAULT_POLICY } = await import('../dist/options.js');

const agent = new EnvHttpProxyAgent();
const { statusCode, body } = await agent.request({ ...splitUrl(process.argv[2]), method: 'GET' });
if (statusCode !== 200) throw new Error(`status ${statusCode}`);
await new Promise((resolve, reject) => {
  const countForCollection = collectEvery(DEFAULT_POLICY.collectEveryBytes);
  body.on('data', (chunk) => countForCollection(chunk.length));
  body.once('end', resolve);
  body.once('error', reject);
});
await agent.close();

function splitUrl(text) {
  const url = new URL(text);
  return { origin: url.origin, path: url.pathname + url.search };
}
