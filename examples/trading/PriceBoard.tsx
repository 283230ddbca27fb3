// Live prices from the `prices` room, with the room's sequence bookkeeping underneath so a drop
// visibly recovers without losing a tick.
import { useRoom } from "resocket/react";
import { emptyFeed, foldTick, formatPrice, SYMBOLS, type Feed, type Quote } from "./feed";

export function PriceBoard() {
  // limit 0: keep no message list, only the folded state.
  const { state: feed, status, recovered } = useRoom<unknown, Feed>("prices", { limit: 0, initial: emptyFeed, reduce: foldTick });
  return (
    <section className="panel prices">
      <h2>Prices</h2>
      <table>
        <thead>
          <tr>
            <th>Symbol</th>
            <th className="num">Price</th>
            <th className="num">Change</th>
            <th className="num">%</th>
            <th className="num">Updated</th>
          </tr>
        </thead>
        <tbody>
          {SYMBOLS.map(({ symbol, name, decimals }) => (
            <QuoteRow key={symbol} symbol={symbol} name={name} decimals={decimals} quote={feed.quotes[symbol]} />
          ))}
        </tbody>
      </table>
      <dl className="stats feed-stats">
        <dt>Room</dt>
        <dd data-testid="room-status">{status.status}</dd>
        <dt>Last seq</dt>
        <dd data-testid="last-seq">{feed.lastSeq ?? "–"}</dd>
        <dt>Gaps</dt>
        <dd data-testid="gaps" className={feed.gaps ? "error-text" : undefined}>
          {feed.gaps}
        </dd>
        <dt>Recovered</dt>
        <dd data-testid="recovered">{recovered ? "yes" : "no: history did not cover the outage"}</dd>
        <dt>Ticks</dt>
        <dd data-testid="tick-count">{feed.ticks}</dd>
      </dl>
    </section>
  );
}

interface QuoteRowProps {
  symbol: string;
  name: string;
  decimals: number;
  quote: Quote | undefined;
}

function QuoteRow({ symbol, name, decimals, quote }: QuoteRowProps) {
  if (!quote)
    return (
      <tr data-testid="quote" data-symbol={symbol}>
        <td>
          <strong>{symbol}</strong> <span className="muted">{name}</span>
        </td>
        <td className="num muted" data-testid="price" colSpan={4}>
          waiting for the first tick…
        </td>
      </tr>
    );
  const change = quote.price - quote.open;
  const trend = change > 0 ? "up" : change < 0 ? "down" : "flat";
  const tick = quote.previous === null || quote.price == quote.previous ? "" : quote.price > quote.previous ? "▲" : "▼";
  return (
    <tr data-testid="quote" data-symbol={symbol} className={trend}>
      <td>
        <strong>{symbol}</strong> <span className="muted">{name}</span>
      </td>
      <td className="num price" data-testid="price">
        <span className="tick">{tick}</span> {formatPrice(quote.price, decimals)}
      </td>
      <td className="num change" data-testid="change">
        {change > 0 ? "+" : ""}
        {formatPrice(change, decimals)}
      </td>
      <td className="num change" data-testid="change-pct">
        {change > 0 ? "+" : ""}
        {((change / quote.open) * 100).toFixed(2)}%
      </td>
      <td className="num muted" data-testid="updated">
        {new Date(quote.at).toLocaleTimeString()}
      </td>
    </tr>
  );
}
