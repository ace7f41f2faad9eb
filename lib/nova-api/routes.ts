import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/**
 * The routes this API serves (mirrors serverless.yml's httpApi events), so the catch-all can tell
 * "no such resource" (404) from "wrong method for a resource we serve" (405 with Allow).
 */
const ROUTES: ReadonlyArray<{ pattern: RegExp; methods: string[] }> = [
  { pattern: /^\/$/, methods: ['GET'] },
  { pattern: /^\/v2\.1\/?$/, methods: ['GET'] },
  { pattern: /^\/v2\.1\/servers\/?$/, methods: ['GET'] },
  { pattern: /^\/v2\.1\/servers\/detail\/?$/, methods: ['GET'] },
  { pattern: /^\/v2\.1\/servers\/[^/]+\/?$/, methods: ['GET'] },
  { pattern: /^\/v2\.1\/servers\/[^/]+\/action\/?$/, methods: ['POST'] },
  { pattern: /^\/v2\.1\/servers\/[^/]+\/remote-consoles\/?$/, methods: ['POST'] },
  { pattern: /^\/v2\.1\/os-services\/?$/, methods: ['GET'] },
];

/** The path without a named API Gateway stage (`/dev/v2.1/...` -> `/v2.1/...`). */
export function routePath(event: APIGatewayProxyEventV2): string {
  const raw = event.rawPath || '/';
  const stage = event.requestContext?.stage;
  if (stage && stage !== '$default' && (raw === `/${stage}` || raw.startsWith(`/${stage}/`))) {
    return raw.slice(stage.length + 1) || '/';
  }
  return raw;
}

export function allowedMethods(path: string): string[] | undefined {
  return ROUTES.find((r) => r.pattern.test(path))?.methods;
}
