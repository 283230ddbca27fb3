import "../common/base.css";
import "./board.css";
import { ResocketProvider } from "resocket/react";
import { demoOptions, userFromUrl, WS_URL } from "../common/connection";
import { mount } from "../common/ui";
import { BoardApp } from "./BoardApp";

/** `?user=`, or a guest name kept for this tab (sessionStorage), so claims say who made them. */
function tabUser(): string {
  const fromUrl = userFromUrl();
  if (fromUrl) return fromUrl;
  let guest = sessionStorage.getItem("board-user");
  if (!guest) sessionStorage.setItem("board-user", (guest = `guest-${Math.floor(1000 + Math.random() * 9000)}`));
  return guest;
}

const user = tabUser();
mount(
  <ResocketProvider url={WS_URL} options={demoOptions(user)}>
    <BoardApp user={user} />
  </ResocketProvider>,
);
