import { readFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { load } from 'js-yaml';

/**
 * docs/openapi.yaml, loaded once, and a check of real responses against it: the response schema of
 * a path template, method and status, validated by Ajv (JSON Schema 2020-12, the dialect of
 * OpenAPI 3.1's schemas) with the document's components resolvable by $ref.
 */
export interface OpenApi {
  doc: any;
  /** "GET /vmconsole/v1/servers/{server_id}/diagnoses" for every operation. */
  operations(): string[];
  /** Problems of `body` against the schema of this operation's `status` response; [] when it matches. */
  check(method: string, pathTemplate: string, status: number, body: unknown): string[];
}

export async function loadOpenApi(file = new URL('../../docs/openapi.yaml', import.meta.url)): Promise<OpenApi> {
  const doc = load(await readFile(file, 'utf8')) as any;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  ajv.addSchema({ $id: 'openapi', components: doc.components }, 'openapi');
  const rewrite = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'));
  const resolve = (ref: string) => ref.replace(/^#\//, '').split('/').reduce((o: any, k) => o?.[k], doc);
  return {
    doc,
    operations: () => Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)),
    check(method, pathTemplate, status, body) {
      const operation = doc.paths?.[pathTemplate]?.[method.toLowerCase()];
      if (!operation) return [`${method} ${pathTemplate} is not in the document`];
      let response = operation.responses?.[String(status)];
      if (!response) return [`${method} ${pathTemplate} does not document status ${status}`];
      if (response.$ref) response = resolve(response.$ref);
      const schema = response?.content?.['application/json']?.schema;
      if (!schema) return [`${method} ${pathTemplate} ${status} has no JSON schema`];
      const validate = ajv.compile(rewrite(schema) as object);
      return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
    },
  };
}
