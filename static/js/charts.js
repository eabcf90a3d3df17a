// PnL, position and callback-latency charts of a deployment, from the page's metrics JSON
// (algo_studio.metrics.series, the same data as GET /v1/deployments/{id}/metrics). Chart.js comes
// from npm (package.json), served as /static/vendor/chart.js/dist/chart.umd.min.js.
(function () {
  const box = document.getElementById("charts");
  if (!box) return;
  const stateEl = document.getElementById("chart-state");
  const REFRESH_MS = 5000;
  const charts = {};

  function say(text) { if (stateEl) stateEl.textContent = text; }

  if (typeof Chart === "undefined") {
    say("charts unavailable: chart.js is not installed (run `make venv`)");
    return;
  }
  Chart.defaults.color = "#8b95a3";
  Chart.defaults.borderColor = "#262c35";
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', sans-serif";

  function make(id, datasets) {
    const canvas = document.getElementById(id);
    return new Chart(canvas, {
      type: "line",
      data: { labels: [], datasets: datasets.map((d) => Object.assign({
        data: [], borderWidth: 1.6, pointRadius: 0, tension: 0.2, fill: false,
      }, d)) },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: datasets.length > 1, labels: { boxWidth: 10 } } },
        scales: { x: { ticks: { maxTicksLimit: 6, maxRotation: 0 } }, y: { ticks: { maxTicksLimit: 5 } } },
      },
    });
  }

  charts.pnl = make("chart-pnl", [
    { label: "realized", borderColor: "#2fbf71" },
    { label: "unrealized", borderColor: "#f5a524" },
    { label: "total", borderColor: "#4f9cff", borderWidth: 2 },
  ]);
  charts.position = make("chart-position", [{ label: "position", borderColor: "#4f9cff", stepped: true }]);
  charts.latency = make("chart-latency", [{ label: "µs", borderColor: "#c084fc" }]);

  function label(ts) {
    const d = new Date(ts * 1000);
    return d.toTimeString().slice(0, 8);
  }

  function set(chart, labels, series) {
    chart.data.labels = labels;
    // Few points: show them as dots, or a single point would draw nothing.
    const radius = labels.length < 40 ? 2.5 : 0;
    series.forEach((values, i) => {
      chart.data.datasets[i].data = values;
      chart.data.datasets[i].pointRadius = radius;
    });
    chart.update();
  }

  async function refresh() {
    try {
      const response = await fetch(box.dataset.metricsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
      if (body.deleted) {
        // Deleted (the Delete form's navigation is on its way, or another tab): stop asking.
        clearInterval(timer);
        say("this algo has been deleted");
        return;
      }
      const points = body.series || [];
      const labels = points.map((p) => label(p.ts));
      const realized = points.map((p) => p.realized_pnl_1e9 / 1e9);
      const unrealized = points.map((p) => p.unrealized_pnl_1e9 / 1e9);
      set(charts.pnl, labels, [realized, unrealized, realized.map((r, i) => r + unrealized[i])]);
      set(charts.position, labels, [points.map((p) => p.position_1e8 / 1e8)]);
      set(charts.latency, labels, [points.map((p) => p.callback_latency_ns / 1000)]);
      say(points.length ? "last 15 min · " + body.interval + " buckets · " + points.length + " points" : "no samples in the last 15 min yet");
    } catch (err) {
      say("metrics: " + err.message);
    }
  }
  const timer = setInterval(refresh, REFRESH_MS);
  refresh();
})();
