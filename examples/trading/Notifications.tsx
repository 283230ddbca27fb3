// The notification center: fills (and anything else the server pushes) with read state.
import { useNotifications, type Notification } from "resocket/react";
import { decimalsOf, formatPrice } from "./feed";

interface Fill {
  type: "fill";
  orderId: string;
  symbol: string;
  side: "buy" | "sell";
  qty: number;
  price: number;
}

const isFill = (data: unknown): data is Fill => typeof data == "object" && data !== null && (data as { type?: unknown }).type == "fill";

function describe(data: unknown): string {
  if (!isFill(data)) return JSON.stringify(data);
  const verb = data.side == "buy" ? "Bought" : "Sold";
  return `${verb} ${data.qty} ${data.symbol} at ${formatPrice(data.price, decimalsOf(data.symbol))} (${data.orderId})`;
}

export function Notifications() {
  const { items, unread, markRead, dismiss, clear } = useNotifications();
  return (
    <section className="panel notifications">
      <h2>
        Notifications
        <span className="count" data-testid="unread" data-count={unread} hidden={unread == 0}>
          {unread}
        </span>
      </h2>
      <div className="toolbar">
        <button type="button" data-testid="mark-all-read" onClick={() => markRead()} disabled={unread == 0}>
          Mark all read
        </button>
        <button type="button" data-testid="clear" onClick={clear} disabled={items.length == 0}>
          Clear
        </button>
      </div>
      {items.length == 0 ? (
        <p className="muted">No notifications yet. Place an order to get a fill.</p>
      ) : (
        <ul className="notes">
          {items
            .slice()
            .reverse()
            .map((note) => (
              <NoteItem key={note.id} note={note} onRead={() => markRead(note.id)} onDismiss={() => dismiss(note.id)} />
            ))}
        </ul>
      )}
    </section>
  );
}

interface NoteItemProps {
  note: Notification;
  onRead: () => void;
  onDismiss: () => void;
}

function NoteItem({ note, onRead, onDismiss }: NoteItemProps) {
  return (
    <li data-testid="notification" data-read={note.read} className={note.read ? "read" : "unread"}>
      <span className="text">{describe(note.data)}</span>
      <time className="muted">{new Date(note.at).toLocaleTimeString()}</time>
      <span className="actions">
        {!note.read && (
          <button type="button" className="link" data-testid="mark-read" onClick={onRead}>
            Mark read
          </button>
        )}
        <button type="button" className="link" data-testid="dismiss" onClick={onDismiss}>
          Dismiss
        </button>
      </span>
    </li>
  );
}
