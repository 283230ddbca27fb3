import { useEffect, useRef, useState, type FormEvent } from "react";
import { useChat, usePresence, type ChatMessage } from "resocket/react";

type Chat = ReturnType<typeof useChat>;

interface ChannelProps {
  room: string;
  user: string;
  active: boolean;
  onUnread: (room: string, count: number) => void;
}

/** One room: joined while mounted, shown while active. */
export function Channel({ room, user, active, onUnread }: ChannelProps) {
  const chat = useChat(room, { maxMessages: 200, typingTimeout: 3_000 });
  const { unread, markRead } = chat;
  // Whatever the active room shows counts as read.
  useEffect(() => {
    if (active && unread > 0) markRead();
  }, [active, unread]);
  useEffect(() => onUnread(room, active ? 0 : unread), [room, active, unread, onUnread]);
  if (!active) return null;
  return (
    <>
      <section className="channel" data-testid="channel" data-room={room}>
        <header className="channel-head">
          <h2># {room}</h2>
          <span className="muted" data-testid="room-status">
            {chat.status.status}
          </span>
        </header>
        <MessageList messages={chat.messages} user={user} />
        <TypingLine typing={chat.typing.map((m) => m.user ?? "someone").filter((name) => name != user)} />
        <Composer key={room} room={room} chat={chat} />
      </section>
      <Presence room={room} user={user} />
    </>
  );
}

function MessageList({ messages, user }: { messages: ChatMessage[]; user: string }) {
  const list = useRef<HTMLOListElement>(null);
  // Follow the conversation: keep the newest message in view.
  useEffect(() => {
    list.current?.scrollTo({ top: list.current.scrollHeight });
  }, [messages.at(-1)?.id]);
  if (messages.length == 0)
    return (
      <p className="messages empty muted" data-testid="messages">
        No messages yet. Say hello!
      </p>
    );
  return (
    <ol className="messages" data-testid="messages" ref={list}>
      {messages.map((m) => (
        <li key={m.id} data-testid="message" data-pending={m.pending ? "true" : "false"} className={m.user == user ? "mine" : undefined}>
          <span className="author">{m.user ?? "anonymous"}</span>
          <time className="muted">{new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}</time>
          <p className="text">{m.text}</p>
          {m.pending && <span className="pending">sending…</span>}
        </li>
      ))}
    </ol>
  );
}

function TypingLine({ typing }: { typing: string[] }) {
  const names = [...new Set(typing)];
  const text =
    names.length == 0 ? "" : names.length == 1 ? `${names[0]} is typing…` : `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`;
  return (
    <p className="typing muted" data-testid="typing" aria-live="polite">
      {text}
    </p>
  );
}

function Composer({ room, chat }: { room: string; chat: Chat }) {
  const [text, setText] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const message = text.trim();
    if (!message) return;
    // Offline, the message is queued and shown as pending until the server echoes it.
    chat.send(message);
    setText("");
  };
  return (
    <form className="composer" onSubmit={submit}>
      <input
        data-testid="composer"
        autoFocus
        autoComplete="off"
        placeholder={`Message #${room}`}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          chat.typed();
        }}
      />
      <button className="primary" disabled={!text.trim()}>
        Send
      </button>
    </form>
  );
}

/** Who is in the room: members are sessions, so a user with two tabs is listed once with a count. */
function Presence({ room, user }: { room: string; user: string }) {
  const { members } = usePresence(room);
  const sessions = new Map<string, number>();
  for (const m of members) sessions.set(m.user ?? "anonymous", (sessions.get(m.user ?? "anonymous") ?? 0) + 1);
  const names = [...sessions.keys()].sort();
  return (
    <aside className="presence panel">
      <h2>
        Here now <span className="count">{names.length}</span>
      </h2>
      <ul data-testid="presence">
        {names.map((name) => (
          <li key={name} data-testid="member" data-user={name}>
            <span className="online" aria-hidden="true" />
            {name}
            {name == user && <span className="muted"> (you)</span>}
            {(sessions.get(name) ?? 0) > 1 && <span className="muted"> · {sessions.get(name)} tabs</span>}
          </li>
        ))}
      </ul>
    </aside>
  );
}
