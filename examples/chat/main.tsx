import "../common/base.css";
import "./chat.css";
import { useState } from "react";
import { ResocketProvider } from "resocket/react";
import { demoOptions, userFromUrl, WS_URL } from "../common/connection";
import { mount } from "../common/ui";
import { ChatApp } from "./ChatApp";
import { NamePicker } from "./NamePicker";

function Root() {
  const [user, setUser] = useState(userFromUrl);
  if (!user) return <NamePicker onPick={setUser} />;
  // The user is part of the connection's hello, so another name means another connection.
  return (
    <ResocketProvider key={user} url={WS_URL} options={demoOptions(user)}>
      <ChatApp user={user} />
    </ResocketProvider>
  );
}

mount(<Root />);
