import { createRequire } from 'node:module';

const pkg = createRequire(import.meta.url)('../package.json') as { version: string };

export const VERSION: string = pkg.version;
/** Some CDNs reject library default agents; say who we are. */
export const USER_AGENT = `dlr/${VERSION}`;
