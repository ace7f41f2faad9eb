/** Who is calling, as every use case sees it, whatever the authentication mode. */
export interface Principal {
  userId: string;
  projectId: string;
  roles: string[];
  isAdmin: boolean;
}

/**
 * Nova's default policy for one server: the owner's project, or an admin. Callers answer 404 (not
 * 403) when this is false, so a server's existence never leaks to another project.
 */
export function canSee(principal: Principal, server: { projectId: string }): boolean {
  return principal.isAdmin || principal.projectId === server.projectId;
}
