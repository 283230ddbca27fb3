import "../common/base.css";
import "./trading.css";
import { ResocketProvider } from "resocket/react";
import { demoOptions, tabUser, WS_URL } from "../common/connection";
import { mount } from "../common/ui";
import { TradingApp } from "./TradingApp";

// `?user=`, or a trader name kept for this tab. The app backend sends fills to the user, so
// they reach every tab of that user.
mount(
  <ResocketProvider url={WS_URL} options={demoOptions(tabUser("trading-user", "trader"))}>
    <TradingApp />
  </ResocketProvider>,
);
