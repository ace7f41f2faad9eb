import { formatMicroversion, MAX_MICROVERSION, MIN_MICROVERSION } from './microversion.ts';

/** Nova's date for v2.1; clients only display it. */
const V21_UPDATED = '2013-07-23T11:33:21Z';

export interface VersionLink {
  rel: string;
  href: string;
  type?: string;
}

/** What openstacksdk (id, status, self link) and novaclient (version, min_version) read. */
function v21(baseUrl: string) {
  return {
    id: 'v2.1',
    status: 'CURRENT',
    version: formatMicroversion(MAX_MICROVERSION),
    min_version: formatMicroversion(MIN_MICROVERSION),
    updated: V21_UPDATED,
    links: [{ rel: 'self', href: `${baseUrl}/v2.1/` }] as VersionLink[],
  };
}

/** `GET /`: every API version we serve (only v2.1; the legacy v2.0 API is not offered). */
export function versionsDocument(baseUrl: string) {
  return { versions: [v21(baseUrl)] };
}

/** `GET /v2.1/`: the version document, with Nova's describedby link and media types. */
export function versionDocument(baseUrl: string) {
  const version = v21(baseUrl);
  version.links.push({ rel: 'describedby', type: 'text/html', href: 'https://docs.openstack.org/' });
  return {
    version: {
      ...version,
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
    },
  };
}
