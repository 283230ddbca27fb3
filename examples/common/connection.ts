// Where the examples connect and how: the server that serves the page also serves the WebSocket
// endpoint (/ws) and the control endpoints, so everything is relative to the page's origin.
import type { ClientOptions } from "resocket";

/** The WebSocket endpoint, relative to the page: the client resolves it to ws://host/ws, or
 * wss:// on an https page. */
export const WS_URL = "/ws";

/** `?user=alice` in the page's URL, if any. */
export function userFromUrl(): string | undefined {
  return new URLSearchParams(location.search).get("user")?.trim() || undefined;
}

/** Client options shared by the examples. Retries are quicker than the defaults because a demo
 * outage lasts a few seconds, and heartbeats more frequent so round trips show up soon. */
export function demoOptions(user?: string): ClientOptions {
  return {
    reconnect: { initialDelayMs: 250, maxDelayMs: 2_000 },
    heartbeat: { intervalMs: 2_000 },
    ...(user ? { user } : {}),
  };
}

/** Asks the test server to drop every connection and refuse new ones for `outageMs`: the
 * clients see an abrupt loss (1006), as when a network goes away. Loopback peers only. */
export async function dropConnections(outageMs: number): Promise<void> {
  const response = await fetch(`/control/drop?outage_ms=${outageMs}`, { method: "POST" });
  if (!response.ok) throw new Error(`${response.status} ${(await response.text()).trim()}`);
}
