// What undici alone costs: receive the URL's body through the same kind of
// dispatcher dlr uses (undici loaded the same way, same V8 flag) and drop
// every byte. No disk, no dlr code. `npm run bench` times it beside dlr and
// curl when BENCH_FLOOR=1, to show how much of dlr's time is the HTTP
// client's own receive path.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
const { EnvHttpProxyAgent } = await import('../dist/http/undici.js');

const agent = new EnvHttpProxyAgent();
const { statusCode, body } = await agent.request({ ...splitUrl(process.argv[2]), method: 'GET' });
if (statusCode !== 200) throw new Error(`status ${statusCode}`);
await new Promise((resolve, reject) => {
  body.on('data', () => undefined);
  body.once('end', resolve);
  body.once('error', reject);
});
await agent.close();

function splitUrl(text) {
  const url = new URL(text);
  return { origin: url.origin, path: url.pathname + url.search };
}
