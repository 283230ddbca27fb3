import { useState, type FormEvent } from "react";
import { useSyncedDoc } from "resocket/react";
import { ConnectionBadge, DropButton, TopBar } from "../common/ui";
import { cardKey, cardsOf, claimKey, newCardId, type BoardDoc, type CardView } from "./board";

type Board = ReturnType<typeof useSyncedDoc<BoardDoc>>;

export function BoardApp({ user }: { user: string }) {
  // Every edit shows at once (optimistic) and is confirmed, or rolled back, by the server.
  const board = useSyncedDoc<BoardDoc>("board");
  const cards = cardsOf(board.view);
  return (
    <>
      <TopBar title="Shared board">
        <span className="muted">
          you are <strong data-testid="me">{user}</strong>
        </span>
        <DocStatus board={board} />
        <ConnectionBadge />
        {/* A longer outage than elsewhere: time to claim the same card in two tabs while both
            are offline, and watch one claim lose when they reconnect. */}
        <DropButton outageMs={5_000} />
      </TopBar>
      <main className="board">
        <AddCard onAdd={(title) => board.set(cardKey(newCardId()), { title, by: user, createdAt: Date.now() })} />
        <Rejection board={board} cards={cards} />
        {cards.length == 0 ? (
          <p className="muted empty">The board is empty. Add a card, then open this page in a second tab.</p>
        ) : (
          <ul className="cards" data-testid="cards">
            {cards.map((view) => (
              <CardItem key={view.id} view={view} user={user} board={board} />
            ))}
          </ul>
        )}
      </main>
    </>
  );
}

/** The document's revision and whether this tab's edits are confirmed yet. */
function DocStatus({ board }: { board: Board }) {
  return (
    <span className="doc-status">
      <span data-testid="doc-rev">rev {board.rev}</span>
      <span data-testid="doc-pending" data-pending={board.pending} className={board.pending ? "pending" : "confirmed"}>
        {board.pending ? `${board.pending} pending` : board.synced ? "all confirmed" : "syncing…"}
      </span>
    </span>
  );
}

function AddCard({ onAdd }: { onAdd: (title: string) => void }) {
  const [title, setTitle] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!title.trim()) return;
    onAdd(title.trim());
    setTitle("");
  };
  return (
    <form className="add-card panel" onSubmit={submit}>
      <input data-testid="new-card" placeholder="New card title" value={title} onChange={(e) => setTitle(e.target.value)} />
      <button className="primary" data-testid="add-card" disabled={!title.trim()}>
        Add card
      </button>
    </form>
  );
}

/** The last op the server refused (it has been rolled back), until dismissed. */
function Rejection({ board, cards }: { board: Board; cards: CardView[] }) {
  const [dismissed, setDismissed] = useState<Board["rejected"]>(null);
  const { rejected } = board;
  if (!rejected || rejected == dismissed) return null;
  const id = rejected.key.replace(/^(card|claim):/, "");
  const title = cards.find((c) => c.id == id)?.card.title ?? id;
  const what = rejected.key.startsWith("claim:") ? `Your claim of “${title}”` : `Your ${rejected.op} of “${title}”`;
  return (
    <div className="rejection" role="alert" data-testid="rejected" data-code={rejected.error.code}>
      <strong>{what} was rejected</strong> ({rejected.error.message}). It has been rolled back.
      <button type="button" className="link" onClick={() => setDismissed(rejected)}>
        Dismiss
      </button>
    </div>
  );
}

function CardItem({ view, user, board }: { view: CardView; user: string; board: Board }) {
  const { id, card, claimedBy } = view;
  const [draft, setDraft] = useState<string | null>(null);
  const save = (event: FormEvent) => {
    event.preventDefault();
    if (draft?.trim()) board.merge(cardKey(id), { title: draft.trim() });
    setDraft(null);
  };
  const remove = () => {
    board.remove(cardKey(id));
    if (claimedBy !== null) board.remove(claimKey(id));
  };
  return (
    <li className="card panel" data-testid="card" data-card={id} data-title={card.title}>
      {draft === null ? (
        <h3 data-testid="card-title">{card.title}</h3>
      ) : (
        <form className="edit" onSubmit={save}>
          <input data-testid="edit-title" autoFocus value={draft} onChange={(e) => setDraft(e.target.value)} />
          <button className="primary" data-testid="save">
            Save
          </button>
          <button type="button" onClick={() => setDraft(null)}>
            Cancel
          </button>
        </form>
      )}
      <p className="muted meta">added by {card.by}</p>
      <p className="claim" data-testid="claim" data-claimed-by={claimedBy ?? ""}>
        {claimedBy === null ? "Unclaimed" : claimedBy == user ? "Claimed by you" : `Claimed by ${claimedBy}`}
      </p>
      <div className="card-actions">
        {draft === null && (
          <button type="button" data-testid="edit" onClick={() => setDraft(card.title)}>
            Edit
          </button>
        )}
        {claimedBy === null && (
          // Compare-and-set against "absent": if someone else's claim lands first, this one is rejected.
          <button type="button" data-testid="claim-button" onClick={() => board.set(claimKey(id), user, { ifRev: 0 })}>
            Claim
          </button>
        )}
        {claimedBy == user && (
          <button type="button" data-testid="release" onClick={() => board.remove(claimKey(id))}>
            Release
          </button>
        )}
        <button type="button" className="danger" data-testid="delete" onClick={remove}>
          Delete
        </button>
      </div>
    </li>
  );
}
