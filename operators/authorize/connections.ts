/**
 * Which connections each SPIFFE ID has Requested (upstream spiffeIDConnectionMap): filled by the
 * authorize server, read by the monitor's service_connection check.
 */
export class SpiffeIdConnections {
  private readonly byId = new Map<string, Set<string>>();

  add(spiffeId: string, connectionIds: readonly string[]): void {
    let set = this.byId.get(spiffeId);
    if (set === undefined) this.byId.set(spiffeId, (set = new Set()));
    for (const id of connectionIds) set.add(id);
  }

  remove(spiffeId: string, connectionIds: readonly string[]): void {
    const set = this.byId.get(spiffeId);
    if (set === undefined) return;
    for (const id of connectionIds) set.delete(id);
    if (set.size === 0) this.byId.delete(spiffeId);
  }

  /** service_connection: the ID owns at least one of `connectionIds` (and there is at least one). */
  owns(spiffeId: string, connectionIds: readonly string[]): boolean {
    const set = this.byId.get(spiffeId);
    return set !== undefined && connectionIds.some((id) => set.has(id));
  }

  /** IDs with connections (leak checks: 0 once everything is closed). */
  get size(): number {
    return this.byId.size;
  }
}
