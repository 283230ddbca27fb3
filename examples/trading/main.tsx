import "../common/base.css";
import "./trading.css";
import { ResocketProvider } from "resocket/react";
import { demoOptions, userFromUrl, WS_URL } from "../common/connection";
import { mount } from "../common/ui";
import { TradingApp } from "./TradingApp";

// With ?user=, fills reach every tab of that user; without, the tab that placed the order.
mount(
  <ResocketProvider url={WS_URL} options={demoOptions(userFromUrl())}>
    <TradingApp />
  </ResocketProvider>,
);
