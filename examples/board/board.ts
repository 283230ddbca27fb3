// The board document: one key per card and one per claim. A claim is its own key so that
// "claim only if nobody has" is a compare-and-set against revision 0 (absent).

export interface Card {
  title: string;
  by: string;
  /** `Date.now()` at creation; the board's order. */
  createdAt: number;
}

export type BoardDoc = {
  [key: `card:${string}`]: Card;
  [key: `claim:${string}`]: string;
};

export const cardKey = (id: string) => `card:${id}` as const;
export const claimKey = (id: string) => `claim:${id}` as const;

export interface CardView {
  id: string;
  card: Card;
  claimedBy: string | null;
}

/** The cards of a document view, oldest first, with their claims. */
export function cardsOf(view: Partial<BoardDoc>): CardView[] {
  const cards: CardView[] = [];
  for (const [key, value] of Object.entries(view)) {
    if (!key.startsWith("card:") || !isCard(value)) continue;
    const id = key.slice("card:".length);
    cards.push({ id, card: value, claimedBy: view[claimKey(id)] ?? null });
  }
  return cards.sort((a, b) => a.card.createdAt - b.card.createdAt || a.id.localeCompare(b.id));
}

function isCard(value: unknown): value is Card {
  return typeof value == "object" && value !== null && typeof (value as Partial<Card>).title == "string";
}

export function newCardId(): string {
  return crypto.randomUUID().slice(0, 8);
}
