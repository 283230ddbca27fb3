// Trades from an exchange-like public feed (examples/backend/exchange.mjs, Binance-style), read in
// raw mode: the component's own client (useWebSocket with a URL), subscriptions re-sent on every
// open (sendOnOpen), an app-level keepalive, and values picked from frames with useMessage.
import { useMessage, useWebSocket } from "resocket/react";
import type { Client, ClientOptions } from "resocket";
import { exchangeUrl } from "../common/connection";

interface Trade {
  e: "trade";
  s: string;
  t: number;
  p: string;
  q: string;
}
const isTrade = (data: unknown): data is Trade => (data as Trade | null)?.e === "trade";

const STREAMS = ["btcusdt@trade", "ethusdt@trade"];
const SYMBOLS = ["BTCUSDT", "ETHUSDT"];

const OPTIONS: ClientOptions = {
  mode: "raw",
  sendOnOpen: [{ method: "SUBSCRIBE", params: STREAMS, id: 1 }],
  heartbeat: { intervalMs: 5_000, timeoutMs: 3_000, ping: { op: "ping" }, pong: (data) => (data as { op?: string } | null)?.op === "pong" },
  reconnect: { initialDelayMs: 250, maxDelayMs: 2_000 },
};

export function ExchangeFeed() {
  const { readyState, state, client } = useWebSocket(exchangeUrl(), OPTIONS);
  return (
    <section className="panel exchange" data-testid="exchange-feed">
      <h2>Exchange feed (raw mode)</h2>
      <table>
        <thead>
          <tr>
            <th>Symbol</th>
            <th className="num">Last trade</th>
            <th className="num">Qty</th>
            <th className="num">Trade id</th>
          </tr>
        </thead>
        <tbody>
          {SYMBOLS.map((symbol) => (
            <TradeRow key={symbol} symbol={symbol} client={client} />
          ))}
        </tbody>
      </table>
      <dl className="stats feed-stats">
        <dt>Socket</dt>
        <dd data-testid="exchange-status" data-ready-state={readyState}>
          {state.status}
        </dd>
      </dl>
    </section>
  );
}

function TradeRow({ symbol, client }: { symbol: string; client: Client | null }) {
  // The latest trade of this symbol: re-renders on its trades only.
  const trade = useMessage((data) => (isTrade(data) && data.s === symbol ? data : undefined), client);
  return (
    <tr data-exchange-symbol={symbol}>
      <td>{symbol}</td>
      <td className="num" data-testid="exchange-price">
        {trade?.p ?? "–"}
      </td>
      <td className="num">{trade?.q ?? "–"}</td>
      <td className="num" data-testid="exchange-trade-id">
        {trade?.t ?? "–"}
      </td>
    </tr>
  );
}
