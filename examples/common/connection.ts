// Where the examples connect and how: the server that serves the page also serves the WebSocket
// endpoint (/ws) and the control endpoints, so everything is relative to the page's origin.
import type { ClientOptions } from "resocket";

/** The WebSocket endpoint, relative to the page: the client resolves it to ws://host/ws, or
 * wss:// on an https page. */
export const WS_URL = "/ws";

/** The simulated exchange feed (examples/backend/exchange.mjs, a plain WebSocket server, not
 * resocket): `?exchange=ws://…` in the page's URL, else the page's host on its port + 20, where
 * scripts/with-demo.sh starts it. */
export function exchangeUrl(): string {
  const given = new URLSearchParams(location.search).get("exchange");
  return given ?? `ws://${location.hostname}:${Number(location.port || 80) + 20}/ws`;
}

/** `?user=alice` in the page's URL, if any. */
export function userFromUrl(): string | undefined {
  return new URLSearchParams(location.search).get("user")?.trim() || undefined;
}

/** `?user=`, or a guest name kept for this tab (sessionStorage under `storageKey`). */
export function tabUser(storageKey: string, prefix: string): string {
  const fromUrl = userFromUrl();
  if (fromUrl) return fromUrl;
  let guest = sessionStorage.getItem(storageKey);
  if (!guest) sessionStorage.setItem(storageKey, (guest = `${prefix}-${Math.floor(1000 + Math.random() * 9000)}`));
  return guest;
}

/** A short-lived token for `user` from the demo server's dev-token endpoint (`GET /demo/token`,
 * demo mode only). It stands in for your backend's token endpoint, which would sign the user in
 * first and mint the token with its own secret (docs/AUTH.md). */
export async function devToken(user: string): Promise<string> {
  const response = await fetch(`/demo/token?user=${encodeURIComponent(user)}`);
  if (!response.ok) throw new Error(`dev token: ${response.status} ${(await response.text()).trim()}`);
  const body: { token: string } = await response.json();
  return body.token;
}

/** Client options shared by the examples: authenticated as `user` with the token function
 * (called before every connection attempt and before the token expires). Retries are quicker
 * than the defaults because a demo outage lasts a few seconds, and heartbeats more frequent so
 * round trips show up soon. */
export function demoOptions(user: string): ClientOptions {
  return {
    reconnect: { initialDelayMs: 250, maxDelayMs: 2_000 },
    heartbeat: { intervalMs: 2_000 },
    token: () => devToken(user),
  };
}

let controlSecret: Promise<string> | undefined;

/** The test server's control secret, from the demo's same-origin endpoint (served in demo mode
 * with test controls only, to the server's own pages on loopback: no CORS headers, so no other
 * site can read it). Asked once per page. */
function demoControlSecret(): Promise<string> {
  controlSecret ??= fetch("/demo/control-secret").then(async (response) => {
    if (!response.ok) {
      controlSecret = undefined;
      throw new Error(`control secret: ${response.status} ${(await response.text()).trim()}`);
    }
    const body: { secret: string } = await response.json();
    return body.secret;
  });
  return controlSecret;
}

/** Asks the test server to drop every connection and refuse new ones for `outageMs`: the
 * clients see an abrupt loss (1006), as when a network goes away. Needs the server's test
 * controls (loopback peers, with the control secret). */
export async function dropConnections(outageMs: number): Promise<void> {
  const secret = await demoControlSecret();
  const response = await fetch(`/control/drop?outage_ms=${outageMs}`, {
    method: "POST",
    headers: { "X-Resocket-Control-Secret": secret },
  });
  if (!response.ok) throw new Error(`${response.status} ${(await response.text()).trim()}`);
}
