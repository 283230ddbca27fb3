// Pieces every example page shows: the page frame with its top bar, the connection badge and
// the button that simulates an outage.
import { StrictMode, useState, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import type { ConnectionState } from "resocket";
import { useConnection } from "resocket/react";
import { dropConnections } from "./connection";

/** Renders `app` into `#root`. */
export function mount(app: ReactNode): void {
  const root = document.getElementById("root");
  if (!root) throw new Error("the page has no #root element");
  createRoot(root).render(<StrictMode>{app}</StrictMode>);
}

export function TopBar({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <header className="topbar">
      <a className="home" href="../" title="All examples">
        resocket
      </a>
      <h1>{title}</h1>
      <div className="topbar-tools">{children}</div>
    </header>
  );
}

function describe(state: ConnectionState): string {
  switch (state.status) {
    case "open":
      return "Live";
    case "idle":
    case "connecting":
      return "Connecting…";
    case "reconnecting":
      return `Offline · retry ${state.attempt}`;
    case "offline":
      return "No network";
    case "closed":
      return "Offline";
  }
}

/** Live / connecting / offline, from the connection state (`data-status` is the raw status). */
export function ConnectionBadge() {
  const { state } = useConnection();
  return (
    <span className="badge" data-testid="connection" data-status={state.status}>
      <span className="dot" aria-hidden="true" />
      {describe(state)}
    </span>
  );
}

/** Drops every connection on the server with a short outage, to watch the page recover. */
export function DropButton({ outageMs = 1_500 }: { outageMs?: number }) {
  const [dropping, setDropping] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const drop = async () => {
    setDropping(true);
    setError(null);
    try {
      await dropConnections(outageMs);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setDropping(false);
    }
  };
  return (
    <>
      <button type="button" className="danger" data-testid="drop" onClick={drop} disabled={dropping}>
        Drop connection
      </button>
      {error && (
        <span className="error-text" role="alert">
          Drop failed: {error}
        </span>
      )}
    </>
  );
}
