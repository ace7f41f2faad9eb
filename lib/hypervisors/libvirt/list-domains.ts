import type { ServerState } from '../../contracts/records.ts';
import type { Virsh } from './virsh.ts';

export interface ListedDomain {
  uuid: string;
  name: string;
  state: ServerState;
}

/** virsh's state words (virshDomainStateToString) as Nova's power states map them. */
const STATES: Record<string, ServerState> = {
  running: 'active',
  idle: 'active',
  blocked: 'active',
  'in shutdown': 'active',
  paused: 'paused',
  'shut off': 'stopped',
  crashed: 'crashed',
  pmsuspended: 'suspended',
  'no state': 'unknown',
};

const UUID_AND_NAME = /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\s+(.+)$/;
// Names may contain spaces, so the state is taken from the end of the row, as one of virsh's words.
const TABLE_ROW = new RegExp(`^\\s*\\S+\\s+(.+?)\\s+(${Object.keys(STATES).join('|')})\\s*$`);

/**
 * Every domain, running or not, in two virsh calls whatever their number: `list --uuid --name`
 * pairs UUIDs with names, the default table pairs names with states (names are unique per
 * connection). A domain that comes or goes between the two calls is `unknown` until the next
 * listing.
 */
export async function listDomains(virsh: Virsh): Promise<ListedDomain[]> {
  const [pairs, table] = await Promise.all([virsh(['list', '--all', '--uuid', '--name']), virsh(['list', '--all'])]);
  const stateByName = new Map<string, ServerState>();
  for (const line of table.split('\n')) {
    const row = TABLE_ROW.exec(line);
    if (row) stateByName.set(row[1]!, STATES[row[2]!]!);
  }
  const domains: ListedDomain[] = [];
  for (const line of pairs.split('\n')) {
    const pair = UUID_AND_NAME.exec(line.trimEnd());
    if (!pair) continue;
    const name = pair[2]!;
    domains.push({ uuid: pair[1]!.toLowerCase(), name, state: stateByName.get(name) ?? 'unknown' });
  }
  return domains;
}
