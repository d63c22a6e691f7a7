import type { Connection, PathSegment } from '../../proto/gen/connection.js';
import type { Timestamp } from '../../proto/gen/google/protobuf/timestamp.js';

/** Helpers with the nil-safe meaning of the Go API's Connection getters (bounds-checked). */
export function currentSegment(conn: Connection | undefined): PathSegment | undefined {
  const path = conn?.path;
  return path?.pathSegments[path.index];
}

export function prevSegment(conn: Connection | undefined): PathSegment | undefined {
  const path = conn?.path;
  return path && path.index > 0 ? path.pathSegments[path.index - 1] : undefined;
}

export function nextSegment(conn: Connection | undefined): PathSegment | undefined {
  const path = conn?.path;
  return path?.pathSegments[path.index + 1];
}

/** Protobuf Timestamp ↔ milliseconds (scheduler time). Nanos below a millisecond are kept on the way in. */
export function timestampToMs(ts: Timestamp): number {
  return ts.seconds * 1000 + ts.nanos / 1e6;
}

export function msToTimestamp(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** Earliest `expires` of the path's segments in ms, or undefined when no segment has one. */
export function earliestExpiry(conn: Connection): number | undefined {
  let min: number | undefined;
  for (const s of conn.path?.pathSegments ?? []) {
    if (s.expires === undefined) continue;
    const t = timestampToMs(s.expires);
    if (min === undefined || t < min) min = t;
  }
  return min;
}
