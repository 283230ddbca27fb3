import "../common/base.css";
import "./board.css";
import { ResocketProvider } from "resocket/react";
import { demoOptions, tabUser, WS_URL } from "../common/connection";
import { mount } from "../common/ui";
import { BoardApp } from "./BoardApp";

// `?user=`, or a guest name kept for this tab, so claims say who made them.
const user = tabUser("board-user", "guest");
mount(
  <ResocketProvider url={WS_URL} options={demoOptions(user)}>
    <BoardApp user={user} />
  </ResocketProvider>,
);
