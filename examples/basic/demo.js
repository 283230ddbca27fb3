// A minimal page using the resocket package from a plain <script type="module">.
import { connect, isResocketError } from "../pkg/index.js";

const $ = (id) => document.getElementById(id);
let client;
// Relative to the page: ws://host/ws, or wss:// on an https page.
const url = "/ws";

function log(text, kind = "message") {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  $("log").append(item);
  $("log").scrollTop = $("log").scrollHeight;
  if (client) showMetrics(client.metrics());
}

function showState(state) {
  $("status").textContent = state.status;
  $("status").dataset.status = state.status;
  $("detail").textContent =
    state.status === "reconnecting" ? `attempt ${state.attempt} in ${state.delayMs} ms` :
    state.status === "connecting" ? `attempt ${state.attempt}` : "";
  log(`state: ${state.status}`, "state");
}

function showMetrics(metrics) {
  $("metrics").replaceChildren(
    ...Object.entries(metrics).flatMap(([name, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value ?? "–";
      return [dt, dd];
    }),
  );
}

client = await connect(url, { heartbeat: { intervalMs: 2000, timeoutMs: 4000 } });
client.on("state", showState);
client.on("message", (data) => log(`← ${JSON.stringify(data)}`));
client.on("error", (error) => log(`error ${error.code}: ${error.message}`, "error"));
client.on("dropped", ({ count }) => log(`${count} queued message(s) dropped`, "error"));
setInterval(() => showMetrics(client.metrics()), 500);
showMetrics(client.metrics());

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  try {
    client.send({ text, at: new Date().toISOString() });
    log(`→ ${text}${client.state.status === "open" ? "" : " (queued)"}`, "state");
    $("text").value = "";
  } catch (error) {
    log(isResocketError(error) ? `not sent: ${error.code}` : String(error), "error");
  }
});
// The test server's control endpoints need its control secret, which the demo server hands to
// its own pages only (same origin, loopback; see docs/AUTH.md).
let controlSecret;
async function control(path) {
  controlSecret ??= fetch("/demo/control-secret").then((r) => r.json()).then((body) => body.secret);
  const response = await fetch(path, {
    method: "POST",
    headers: { "X-Resocket-Control-Secret": await controlSecret },
  });
  if (!response.ok) log(`${path}: ${response.status}`, "error");
}
$("drop").addEventListener("click", () => control("/control/drop?outage_ms=2000"));
$("reconnect").addEventListener("click", () => client.reconnect());
$("malformed").addEventListener("click", () => control("/control/malformed"));
window.resocketDemo = client;
