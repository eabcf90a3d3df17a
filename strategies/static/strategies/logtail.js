// Live log tail of one strategy: a websocket that sends a catch-up and then live lines (see
// strategies/consumers.py). JSON lines are shown as "event key=value ..."; the raw line is the tooltip.
(function () {
  const pane = document.getElementById("logs");
  if (!pane) return;
  const state = document.getElementById("log-state");
  const MAX_LINES = 5000;
  let retry = 500;

  function text(tag, cls, value) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = value;
    return el;
  }

  // The line's time as the algo logs show it: local HH:MM:SS.mmm, the full UTC time on hover.
  function clock(ts) {
    const d = new Date(ts);
    if (Number.isNaN(d.getTime())) return "";
    const pad = (n, w) => String(n).padStart(w || 2, "0");
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }

  function render(line) {
    const row = text("span", "l " + line.stream, "");
    row.title = line.ts + "  " + line.line;
    row.appendChild(text("span", "seq", String(line.seq)));
    const when = text("time", "ts", clock(line.ts));
    when.dateTime = line.ts;
    when.title = line.ts;  // ISO 8601 UTC with microseconds, as stored
    row.appendChild(when);
    let record = null;
    if (line.line.startsWith("{")) {
      try { record = JSON.parse(line.line); } catch (e) { record = null; }
    }
    if (record && typeof record === "object" && !Array.isArray(record)) {
      if (record.event !== undefined) row.appendChild(text("span", "ev", String(record.event)));
      for (const [key, value] of Object.entries(record)) {
        if (key === "event") continue;
        row.appendChild(text("span", "k", key + "="));
        row.appendChild(document.createTextNode((typeof value === "string" ? value : JSON.stringify(value)) + "  "));
      }
    } else {
      row.appendChild(document.createTextNode(line.line));
    }
    return row;
  }

  function append(nodes) {
    const stick = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 20;
    const fragment = document.createDocumentFragment();
    nodes.forEach((node) => fragment.appendChild(node));
    pane.appendChild(fragment);
    while (pane.childNodes.length > MAX_LINES) pane.removeChild(pane.firstChild);
    if (stick) pane.scrollTop = pane.scrollHeight;
  }

  let runId = null;
  let cursor = 0;
  const pinned = pane.dataset.wsPath.includes("run_id=");

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let path = pane.dataset.wsPath;
    if (runId !== null) {
      // Reconnecting: resume after the last line seen, and keep following new runs unless pinned.
      path = path.split("?")[0] + "?run_id=" + runId + "&after=" + cursor + "&follow=" + (pinned ? "run" : "latest");
    }
    const socket = new WebSocket(scheme + location.host + path);
    socket.onopen = () => { state.textContent = "live"; retry = 500; };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "lines") {
        runId = data.run_id;
        cursor = data.lines[data.lines.length - 1].seq;
        append(data.lines.map(render));
      } else if (data.type === "run") {
        runId = data.run_id;
        cursor = 0;
        append([text("span", "run", "── run " + data.run_id + " ──")]);
      } else if (data.type === "strategy") {
        state.textContent = "live · " + data.status;
      } else if (data.type === "error") {
        state.textContent = data.message;
      }
    };
    socket.onclose = (event) => {
      if (event.code >= 4400 && event.code < 4500) return; // refused or deleted: don't retry
      state.textContent = "reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  connect();
})();
