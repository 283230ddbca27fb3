import { useState, type FormEvent } from "react";

/** Asks for a name when the URL has no `?user=`; the name then goes into the URL so a reload
 * (or a copied link) keeps it. */
export function NamePicker({ onPick }: { onPick: (name: string) => void }) {
  const [name, setName] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const picked = name.trim();
    if (!picked) return;
    const url = new URL(location.href);
    url.searchParams.set("user", picked);
    history.replaceState(null, "", url);
    onPick(picked);
  };
  return (
    <main className="name-picker">
      <form className="panel" onSubmit={submit}>
        <h1>Join the chat</h1>
        <p className="muted">Open a second tab with another name to chat with yourself.</p>
        <input data-testid="name" autoFocus placeholder="Your name" maxLength={32} value={name} onChange={(e) => setName(e.target.value)} />
        <button className="primary" disabled={!name.trim()}>
          Join
        </button>
      </form>
    </main>
  );
}
