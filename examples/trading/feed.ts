// The `prices` room's ticks folded into what the dashboard shows. Pure functions: the hook calls
// `foldTick` once per room message, in sequence order.

/** A tick as the test server's feed publishes it. */
export interface Tick {
  type: "tick";
  symbol: string;
  price: number;
  open: number;
  /** Unix time in ms. */
  at: number;
}

export interface Quote extends Tick {
  /** The price before this tick, if one was seen. */
  previous: number | null;
}

export interface Feed {
  quotes: Record<string, Quote>;
  /** Sequence number of the last room message received. */
  lastSeq: number | null;
  /** Breaks in sequence continuity: messages that never arrived. Stays 0 across drops while the
   * server's history covers the outage, because the client replays what it missed. */
  gaps: number;
  ticks: number;
}

export const SYMBOLS = [
  { symbol: "BTC", name: "Bitcoin", decimals: 2 },
  { symbol: "ETH", name: "Ether", decimals: 2 },
  { symbol: "AAPL", name: "Apple", decimals: 2 },
  { symbol: "MSFT", name: "Microsoft", decimals: 2 },
  { symbol: "EUR/USD", name: "Euro / Dollar", decimals: 5 },
] as const;

export const emptyFeed: Feed = { quotes: {}, lastSeq: null, gaps: 0, ticks: 0 };

export function isTick(data: unknown): data is Tick {
  if (typeof data != "object" || data === null) return false;
  const tick = data as Partial<Tick>;
  return tick.type == "tick" && typeof tick.symbol == "string" && typeof tick.price == "number" && typeof tick.open == "number";
}

export function foldTick(feed: Feed, data: unknown, seq: number): Feed {
  // Room messages are numbered 1, 2, 3, ...: any jump means something was lost.
  const gaps = feed.lastSeq !== null && seq != feed.lastSeq + 1 ? feed.gaps + 1 : feed.gaps;
  if (!isTick(data)) return { ...feed, lastSeq: seq, gaps };
  const previous = feed.quotes[data.symbol]?.price ?? null;
  return {
    quotes: { ...feed.quotes, [data.symbol]: { ...data, previous } },
    lastSeq: seq,
    gaps,
    ticks: feed.ticks + 1,
  };
}

export function formatPrice(value: number, decimals: number): string {
  return value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function decimalsOf(symbol: string): number {
  return SYMBOLS.find((s) => s.symbol == symbol)?.decimals ?? 2;
}
