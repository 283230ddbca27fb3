import "../common/base.css";
import "./board.css";
import * as docs from "resocket/docs";
import { ResocketProvider } from "resocket/react";
import { demoOptions, tabUser, WS_URL } from "../common/connection";
import { mount } from "../common/ui";
import { BoardApp } from "./BoardApp";

// `?user=`, or a guest name kept for this tab, so claims say who made them.
const user = tabUser("board-user", "guest");
mount(
  // Documents come with `resocket/docs`: the provider's client is made from it.
  <ResocketProvider url={WS_URL} options={demoOptions(user)} module={docs}>
    <BoardApp user={user} />
  </ResocketProvider>,
);
