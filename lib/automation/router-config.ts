import { z } from 'zod';
import { QUEUE_URL_PREFIX } from '../transport/queue-naming.ts';

/**
 * The queue router's own settings (besides the edge's: table, queue prefixes, auth), read once per
 * execution environment; a bad value fails its initialisation with a clear message.
 *   VMCONSOLE_CLIENT_REPLY_URL_PREFIXES   comma-separated queue URL prefixes replies may go to
 *                                         (the agents get the same list); required
 *   VMCONSOLE_QUEUE_REQUIRE_TOKEN         `true`: a request without a token is refused (default false:
 *                                         it acts for the operators, all projects)
 *   VMCONSOLE_QUEUE_RATE_PROJECT_PER_S    servers per second per project (default 100; 0 = no limit)
 *   VMCONSOLE_QUEUE_RATE_PROJECT_BURST    servers a project may ask for at once (default 1000, one full request)
 *   VMCONSOLE_QUEUE_RATE_API_PER_S        servers per second for all projects (default 1000; 0 = none)
 *   VMCONSOLE_QUEUE_RATE_API_BURST        (default 5000)
 * Rates count servers, not messages: a request for 500 servers costs what 500 HTTP console
 * requests cost the hosts. They hold per execution environment, like the HTTP API's.
 */
export interface RouterConfig {
  clientReplyUrlPrefixes: string[];
  requireToken: boolean;
  rateLimits: {
    project: { ratePerSecond: number; burst: number };
    api: { ratePerSecond: number; burst: number };
  };
}

const rate = z.coerce.number().min(0).max(1_000_000);
const burst = z.coerce.number().int().min(1).max(1_000_000);
const Schema = z.object({
  VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: z.string().transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(QUEUE_URL_PREFIX, 'must be SQS queue URL prefixes (https://host/account/name-prefix)')).min(1, 'is required')),
  VMCONSOLE_QUEUE_REQUIRE_TOKEN: z.enum(['true', 'false']),
  VMCONSOLE_QUEUE_RATE_PROJECT_PER_S: rate,
  VMCONSOLE_QUEUE_RATE_PROJECT_BURST: burst,
  VMCONSOLE_QUEUE_RATE_API_PER_S: rate,
  VMCONSOLE_QUEUE_RATE_API_BURST: burst,
});

export function readRouterConfig(env: NodeJS.ProcessEnv = process.env): RouterConfig {
  // Empty strings count as unset: serverless.yml passes '' for variables nobody set.
  const value = (name: string, fallback: string) => env[name]?.trim() || fallback;
  const parsed = Schema.safeParse({
    VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: value('VMCONSOLE_CLIENT_REPLY_URL_PREFIXES', ''),
    VMCONSOLE_QUEUE_REQUIRE_TOKEN: value('VMCONSOLE_QUEUE_REQUIRE_TOKEN', 'false'),
    VMCONSOLE_QUEUE_RATE_PROJECT_PER_S: value('VMCONSOLE_QUEUE_RATE_PROJECT_PER_S', '100'),
    VMCONSOLE_QUEUE_RATE_PROJECT_BURST: value('VMCONSOLE_QUEUE_RATE_PROJECT_BURST', '1000'),
    VMCONSOLE_QUEUE_RATE_API_PER_S: value('VMCONSOLE_QUEUE_RATE_API_PER_S', '1000'),
    VMCONSOLE_QUEUE_RATE_API_BURST: value('VMCONSOLE_QUEUE_RATE_API_BURST', '5000'),
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`);
    throw new Error(`invalid queue router configuration: ${problems.join('; ')}`);
  }
  const c = parsed.data;
  return {
    clientReplyUrlPrefixes: c.VMCONSOLE_CLIENT_REPLY_URL_PREFIXES,
    requireToken: c.VMCONSOLE_QUEUE_REQUIRE_TOKEN === 'true',
    rateLimits: {
      project: { ratePerSecond: c.VMCONSOLE_QUEUE_RATE_PROJECT_PER_S, burst: c.VMCONSOLE_QUEUE_RATE_PROJECT_BURST },
      api: { ratePerSecond: c.VMCONSOLE_QUEUE_RATE_API_PER_S, burst: c.VMCONSOLE_QUEUE_RATE_API_BURST },
    },
  };
}
