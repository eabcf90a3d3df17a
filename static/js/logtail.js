// Live log tail of one deployment over its websocket (algo_studio/consumers.py):
// {"type":"hello"} then {"type":"log", id, ts_ns, level, message, edge_id, symbol} lines.
// Keeps the last MAX_LINES, sticks to the bottom unless the user scrolled up, filters by edge
// (reconnecting with ?edge_id=), and on a dropped connection reconnects with ?after=<last id> so no
// line is lost or shown twice. Close code 4404: the deployment was deleted; 4401: not signed in.
(function () {
  const pane = document.getElementById("logtail");
  if (!pane) return;
  const state = document.getElementById("log-state");
  const edgeSelect = document.getElementById("log-edge");
  const MAX_LINES = 500;
  let socket = null;
  let lastId = 0;
  let retry = 500;
  let timer = null;

  function setState(text, cls) {
    if (!state) return;
    state.textContent = text;
    state.className = "conn " + cls;
  }

  function span(cls, text) {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function clock(tsNs) {
    const ms = Math.floor(Number(tsNs) / 1e6);
    const d = new Date(ms);
    const pad = (n, w) => String(n).padStart(w || 2, "0");
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }

  function render(line) {
    const row = document.createElement("div");
    row.className = "line";
    row.dataset.id = line.id;
    row.title = new Date(Math.floor(Number(line.ts_ns) / 1e6)).toISOString() + "  " + line.edge_id + "  " + line.symbol;
    row.appendChild(span("ts", clock(line.ts_ns)));
    row.appendChild(span("lvl " + line.level, line.level));
    row.appendChild(span("edge", line.edge_id.replace(/^venue-edge-/, "")));
    row.appendChild(span("msg", line.message));
    return row;
  }

  function append(line) {
    const placeholder = pane.querySelector(".empty");
    if (placeholder) placeholder.remove();
    const stick = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 24;
    pane.appendChild(render(line));
    while (pane.childElementCount > MAX_LINES) pane.removeChild(pane.firstElementChild);
    if (stick) pane.scrollTop = pane.scrollHeight;
  }

  function url() {
    const params = new URLSearchParams();
    const edge = edgeSelect ? edgeSelect.value : "";
    if (edge) params.set("edge_id", edge);
    if (lastId) params.set("after", String(lastId));
    else params.set("backlog", "200");
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + pane.dataset.wsPath + "?" + params.toString();
  }

  function connect() {
    clearTimeout(timer);
    setState("connecting…", "closed");
    const ws = new WebSocket(url());
    socket = ws;
    ws.onmessage = function (event) {
      const data = JSON.parse(event.data);
      if (data.type === "hello") {
        retry = 500;
        setState("● live", "open");
        if (!pane.childElementCount) pane.appendChild(span("empty", "Waiting for log lines…"));
      } else if (data.type === "log" && data.id > lastId) {
        lastId = data.id;
        append(data);
      }
    };
    ws.onclose = function (event) {
      if (ws !== socket) return; // replaced by a reconnect (edge filter change)
      if (event.code === 4404) return setState("deployment deleted: stream closed", "gone");
      if (event.code === 4401) return setState("not signed in", "gone");
      setState("disconnected: reconnecting…", "closed");
      timer = setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  if (edgeSelect) {
    edgeSelect.addEventListener("change", function () {
      // A new filter is a new view: start from that edge's recent backlog.
      lastId = 0;
      pane.replaceChildren();
      const old = socket;
      socket = null;
      if (old) old.close();
      connect();
    });
  }
  connect();
})();
