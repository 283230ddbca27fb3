import { useCallback, useState } from "react";
import { ConnectionBadge, DropButton, TopBar } from "../common/ui";
import { Channel } from "./Channel";

const ROOMS = ["general", "random"] as const;
type RoomName = (typeof ROOMS)[number];

export function ChatApp({ user }: { user: string }) {
  const [active, setActive] = useState<RoomName>("general");
  const [unread, setUnread] = useState<Partial<Record<string, number>>>({});
  const reportUnread = useCallback((room: string, count: number) => setUnread((u) => (u[room] === count ? u : { ...u, [room]: count })), []);
  return (
    <div className="chat-page">
      <TopBar title="Chat">
        <span className="muted">
          signed in as <strong data-testid="me">{user}</strong>
        </span>
        <ConnectionBadge />
        <DropButton />
      </TopBar>
      <div className="chat-layout">
        <nav className="rooms" aria-label="Rooms">
          {ROOMS.map((room) => (
            <button
              key={room}
              type="button"
              data-testid={`room-${room}`}
              aria-current={room == active ? "page" : undefined}
              onClick={() => setActive(room)}
            >
              # {room}
              {!!unread[room] && (
                <span className="count" data-testid={`unread-${room}`}>
                  {unread[room]}
                </span>
              )}
            </button>
          ))}
        </nav>
        {/* Every room stays joined (so it keeps counting unread messages); only the active one renders. */}
        {ROOMS.map((room) => (
          <Channel key={room} room={room} user={user} active={room == active} onUnread={reportUnread} />
        ))}
      </div>
    </div>
  );
}
