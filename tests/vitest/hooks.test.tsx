// Components using the hooks, rendered by Vitest in jsdom against the real server and the real
// WASM client: the path the README's "Testing components with Vitest" documents.
import { useEffect, type ReactNode } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, expect, test, vi } from "vitest";
import { ResocketProvider, useConnection, useRequest, useRoom } from "resocket/react";

function Sum() {
  const { call, data, error } = useRequest<number>();
  useEffect(() => void call("sum", [1, 2, 3]), [call]);
  return <p>{error ? error.code : data === undefined ? "…" : `sum: ${data}`}</p>;
}

function Chat({ room }: { room: string }) {
  const { state } = useConnection();
  const { messages, members, publish } = useRoom<{ text: string }>(room);
  return (
    <div>
      <p data-testid="status">{state.status}</p>
      <p data-testid="members">{members.length}</p>
      <button onClick={() => void publish({ text: "hi from jsdom" })}>send</button>
      <ul>
        {messages.map((m) => (
          <li key={m.seq}>{m.data.text}</li>
        ))}
      </ul>
    </div>
  );
}

// No act(): the updates come from the socket, outside any act scope, so the test waits for
// them (vi.waitFor) in a React that is not told it runs under act (IS_REACT_ACT_ENVIRONMENT).
let root: Root | undefined;
function mount(element: ReactNode) {
  const container = document.body.appendChild(document.createElement("div"));
  root = createRoot(container);
  root.render(element);
  return container;
}
afterEach(() => {
  root?.unmount();
  document.body.replaceChildren();
});

test("useRequest renders the server's answer", async () => {
  const page = mount(
    <ResocketProvider url="/ws">
      <Sum />
    </ResocketProvider>,
  );
  await vi.waitFor(() => expect(page.textContent).toBe("sum: 6"));
});

test("useRoom: a publish comes back as a room message", async () => {
  const room = `vitest-${Date.now().toString(36)}`;
  const page = mount(
    <ResocketProvider url="/ws" options={{ user: "ann" }}>
      <Chat room={room} />
    </ResocketProvider>,
  );
  await vi.waitFor(() => expect(page.querySelector("[data-testid=members]")?.textContent).toBe("1"));
  expect(page.querySelector("[data-testid=status]")?.textContent).toBe("open");
  page.querySelector("button")!.click();
  await vi.waitFor(() => expect(page.querySelector("li")?.textContent).toBe("hi from jsdom"));
});
