// A page bundled by Vite that imports the package by name, as an app would.
import { connect } from "resocket";

// A relative url: resolved against the page (ws://host/ws).
const client = await connect("/ws");
client.on("state", (state) => (document.getElementById("status").textContent = state.status));
client.on("message", (data) => (document.getElementById("echo").textContent = JSON.stringify(data)));
client.send({ via: "vite" });
