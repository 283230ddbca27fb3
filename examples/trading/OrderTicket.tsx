// Places simulated orders with the `order` method, which the server forwards to the demo's app
// backend (examples/backend/orders.mjs); the fill arrives later, through the server API, as a
// notification (see Notifications.tsx).
import { useState, type FormEvent } from "react";
import { useRequest } from "resocket/react";
import { SYMBOLS } from "./feed";

type Side = "buy" | "sell";

interface OrderAccepted {
  orderId: string;
  status: "accepted";
}

export function OrderTicket() {
  const order = useRequest<OrderAccepted>();
  const [symbol, setSymbol] = useState<string>(SYMBOLS[0].symbol);
  const [qty, setQty] = useState("1");

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    // The button that submitted the form says which side.
    const side = ((event.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null)?.value as Side;
    // Validation is the backend's job: a bad quantity comes back as a BadRequest error.
    void order.call("order", { symbol, side, qty: Number(qty) }, { timeoutMs: 10_000 });
  };

  return (
    <section className="panel ticket">
      <h2>Order ticket</h2>
      <form onSubmit={submit}>
        <label>
          Symbol
          <select data-testid="order-symbol" value={symbol} onChange={(e) => setSymbol(e.target.value)}>
            {SYMBOLS.map((s) => (
              <option key={s.symbol}>{s.symbol}</option>
            ))}
          </select>
        </label>
        <label>
          Quantity
          <input data-testid="order-qty" type="number" step="any" value={qty} onChange={(e) => setQty(e.target.value)} />
        </label>
        <div className="sides">
          <button type="submit" className="buy" data-testid="buy" value="buy" disabled={order.loading}>
            Buy
          </button>
          <button type="submit" className="sell" data-testid="sell" value="sell" disabled={order.loading}>
            Sell
          </button>
        </div>
      </form>
      <p className="order-result" data-testid="order-result" aria-live="polite">
        {order.loading
          ? "Placing order…"
          : order.error
            ? <span className="error-text" data-code={order.error.code}>Order refused: {order.error.message}</span>
            : order.data
              ? `Order ${order.data.orderId} accepted; the fill follows as a notification.`
              : "Orders are simulated and filled at the live price."}
      </p>
    </section>
  );
}
