// The Node baseline of the server benchmarks (server/benches/idle_memory.rs and fanout.rs): a
// bare `ws` server speaking just enough of the resocket protocol for the same load generator.
// `hello` gets a `welcome`, `join` a `joined`, `ping` a `pong`, and a `publish` becomes a
// `{"kind":"msg","room","seq","user","payload"}` frame sent to every member of the room (the
// publisher included), serialised once. No history, presence, limits or sessions: this is the
// floor a plain WebSocket broadcast costs, not a like-for-like server.
// Prints "ws-baseline listening on 127.0.0.1:PORT" once it listens (port 0: a free one).
import { WebSocketServer } from "ws";

const port = Number(process.env.WS_BASELINE_PORT ?? 0);
const server = new WebSocketServer({ host: "127.0.0.1", port, path: "/ws", perMessageDeflate: false });
/** room name -> { seq, members: Set<WebSocket> } */
const rooms = new Map();

server.on("connection", (socket) => {
  let user = null;
  const joined = new Set();
  socket.on("message", (data, isBinary) => {
    if (isBinary) return;
    let frame;
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return;
    }
    switch (frame.kind) {
      case "hello":
        user = typeof frame.payload?.user === "string" ? frame.payload.user : null;
        socket.send(JSON.stringify({ kind: "welcome", payload: { version: 1, session: "s", token: "t", resumed: false } }));
        break;
      case "ping":
        socket.send(JSON.stringify({ kind: "pong", id: frame.id }));
        break;
      case "join": {
        const name = String(frame.room);
        let room = rooms.get(name);
        if (!room) rooms.set(name, (room = { seq: 0, members: new Set() }));
        room.members.add(socket);
        joined.add(room);
        socket.send(JSON.stringify({ kind: "joined", id: frame.id, room: name, seq: room.seq, payload: { recovered: false, members: [] } }));
        break;
      }
      case "publish": {
        const room = rooms.get(String(frame.room));
        if (!room || !room.members.has(socket)) return;
        room.seq += 1;
        const out = Buffer.from(JSON.stringify({ kind: "msg", room: frame.room, seq: room.seq, user, payload: frame.payload }));
        for (const member of room.members) member.send(out, { binary: false });
        break;
      }
    }
  });
  socket.on("close", () => {
    for (const room of joined) room.members.delete(socket);
  });
});

server.on("listening", () => {
  const { address, port } = server.address();
  console.log(`ws-baseline listening on ${address}:${port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
