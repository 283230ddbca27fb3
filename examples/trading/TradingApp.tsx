import { useConnection, useConnectionQuality } from "resocket/react";
import { ConnectionBadge, DropButton, TopBar } from "../common/ui";
import { ExchangeFeed } from "./ExchangeFeed";
import { Notifications } from "./Notifications";
import { OrderTicket } from "./OrderTicket";
import { PriceBoard } from "./PriceBoard";

export function TradingApp() {
  const { reconnect } = useConnection();
  return (
    <>
      <TopBar title="Trading dashboard">
        <ConnectionBadge />
        <QualityMeter />
        <button type="button" data-testid="reconnect" onClick={reconnect}>
          Reconnect
        </button>
        <DropButton />
      </TopBar>
      <main className="trading">
        <div>
          <PriceBoard />
          <ExchangeFeed />
        </div>
        <div className="side">
          <OrderTicket />
          <Notifications />
        </div>
      </main>
    </>
  );
}

/** Round trip and the client's quality score (0 offline, else 1..100). */
function QualityMeter() {
  const { quality, qualityScore, smoothedRttMs, reconnects } = useConnectionQuality();
  return (
    <span className="quality" data-testid="quality" data-quality={quality} title={`quality score ${qualityScore}/100`}>
      <span className="bars" aria-hidden="true" data-score={qualityScore}>
        <i /> <i /> <i />
      </span>
      {quality}
      <span className="muted" data-testid="rtt">
        {smoothedRttMs === null ? "rtt –" : `rtt ${Math.round(smoothedRttMs)} ms`}
      </span>
      <span className="muted" data-testid="reconnects">
        {reconnects} reconnect{reconnects == 1 ? "" : "s"}
      </span>
    </span>
  );
}
