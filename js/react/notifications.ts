// Server-pushed notifications: the connection keeps the list, this hook reads and edits it.
import { useResocket, type Notification } from "./connection.js";
import { useStore } from "./store.js";

/** Server-pushed notifications with read state, shared by every user of the provider. */
export function useNotifications<T = unknown>() {
  const connection = useResocket();
  const items = useStore(connection.notifications) as Notification<T>[];
  return {
    items,
    unread: items.filter((n) => !n.read).length,
    markRead: connection.markRead,
    dismiss: connection.dismiss,
    clear: connection.clearNotifications,
  };
}
