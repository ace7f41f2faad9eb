import { novaApi } from '../lib/nova-api/middleware.ts';
import { routePath } from '../lib/nova-api/routes.ts';
import { versionDocument, versionsDocument } from '../lib/nova-api/versions.ts';

/**
 * GET /, GET /v2.1 (and GET /v2.1/ through the catch-all) — version discovery, no authentication (clients call it first).
 * Nova redirects /v2.1 to /v2.1/; we answer both with the document (the spec allows either)
 * because serverless-offline strips trailing slashes, so a redirect would loop locally.
 */
export const handler = novaApi(
  async ({ event, baseUrl }) => ({
    status: 200,
    body: routePath(event).replace(/\/+$/, '') === '' ? versionsDocument(baseUrl) : versionDocument(baseUrl),
  }),
  { auth: false },
);
