// Observer live dashboard: polls /status every second and renders it; draws the service's
// per-minute history (/history) with the vendored uPlot. Every value element carries
// data-field="<dotted path into /status>" and data-format; a missing value shows as an em dash.
// When /status stops answering the page dims every value and says since when. No build step,
// no external resources.
"use strict";

(function () {
  const DASH = "\u2014";
  const REFRESH_MS = 1000;
  const HISTORY_MS = 5000;
  const state = {
    status: null, renderedAt: null, renders: 0, errors: 0, history: null, historyDraws: 0,
    downSince: null, charts: {},
  };
  window.observerDashboard = state;

  function lookup(obj, path) {
    let cur = obj;
    for (const key of path.split(".")) {
      if (cur === null || cur === undefined || typeof cur !== "object") return undefined;
      cur = Array.isArray(cur) ? cur[Number(key)] : cur[key];
    }
    return cur;
  }

  function grouped(n, digits) {
    return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function format(value, kind) {
    if (value === null || value === undefined || value === "") return DASH;
    switch (kind) {
      case "int":
        return typeof value === "number" ? grouped(Math.round(value), 0) : String(value);
      case "float":
        return typeof value === "number" ? grouped(value, 1) : String(value);
      case "ratio":
        return typeof value === "number" ? grouped(value * 100, 1) + " %" : String(value);
      case "age":
        return typeof value === "number" ? grouped(value, 1) + " s" : String(value);
      case "bool":
        return value ? "yes" : "no";
      case "bytes": {
        if (typeof value !== "number") return String(value);
        const units = ["B", "KB", "MB", "GB", "TB"];
        let n = value;
        let i = 0;
        while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
        return i === 0 ? n + " B" : n.toFixed(1) + " " + units[i];
      }
      case "time":
        return String(value).replace("T", " ").slice(0, 19);
      case "clock":
        return String(value).slice(11, 19);
      case "score":
        return typeof value === "number" ? value.toFixed(2) : String(value);
      default:
        if (Array.isArray(value)) return value.length ? value.join(", ") : DASH;
        if (typeof value === "object") return JSON.stringify(value);
        return String(value);
    }
  }

  function renderFields(status) {
    for (const el of document.querySelectorAll("[data-field]")) {
      const value = lookup(status, el.dataset.field);
      const kind = el.dataset.format || "text";
      el.textContent = format(value, kind);
      el.classList.toggle("yes", kind === "bool" && value === true);
      el.classList.toggle("no", kind === "bool" && value === false);
    }
  }

  function cell(tag, field, kind, extra) {
    const el = document.createElement(tag);
    el.dataset.field = field;
    el.dataset.format = kind;
    el.textContent = DASH;
    if (extra) el.className = extra;
    return el;
  }

  function replaceRows(body, rows, emptyColumns) {
    body.replaceChildren(...rows);
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = emptyColumns;
      td.textContent = DASH;
      tr.append(td);
      body.append(tr);
    }
  }

  // One row per archive stream, built once: its cells fill like every other value.
  function buildStreamRows() {
    const fields = [
      ["stored", "int"], ["records_per_second", "float"], ["last_record_ts", "time"], ["current_file", "text"],
    ];
    const rows = ["scalp", "swing", "system"].map((stream) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.textContent = stream;
      tr.append(th, ...fields.map(([name, kind]) => cell("td", `streams.${stream}.${name}`, kind)));
      return tr;
    });
    document.getElementById("streams-body").replaceChildren(...rows);
  }

  function renderSources(status) {
    const list = Array.isArray(status.sources) ? status.sources : [];
    const fields = [
      ["name", "text"], ["kind", "text"], ["connected", "bool"], ["reconnects", "int"],
      ["registrations", "int"], ["last_message_age_seconds", "age"],
    ];
    const rows = list.map((_s, i) => {
      const tr = document.createElement("tr");
      for (const [name, kind] of fields) tr.append(cell("td", `sources.${i}.${name}`, kind));
      return tr;
    });
    replaceRows(document.getElementById("sources-body"), rows, fields.length);
  }

  function renderFiles(status) {
    const files = status.archive && Array.isArray(status.archive.files) ? status.archive.files : [];
    const rows = files.map((_f, i) => {
      const tr = document.createElement("tr");
      tr.append(cell("td", `archive.files.${i}.name`, "text"), cell("td", `archive.files.${i}.bytes`, "bytes"));
      return tr;
    });
    replaceRows(document.getElementById("files-body"), rows, 2);
  }

  function renderSlots(status) {
    const slots = Array.isArray(status.slots) ? status.slots : [];
    const fields = [
      ["code", "text"], ["name", "text"], ["market", "text"], ["reason", "text"],
      ["score", "score"], ["since", "clock"], ["trades_per_minute", "float"],
    ];
    const rows = [];
    const summary = [];
    slots.forEach((slot, i) => {
      const details = Array.isArray(slot.details) ? slot.details : [];
      const used = Array.isArray(slot.symbols) ? slot.symbols.length : details.length;
      summary.push(`${slot.session}: ${used} of ${slot.max} slots`);
      details.forEach((_d, j) => {
        const tr = document.createElement("tr");
        tr.append(cell("td", `slots.${i}.session`, "text"));
        for (const [name, kind] of fields) tr.append(cell("td", `slots.${i}.details.${j}.${name}`, kind));
        rows.push(tr);
      });
    });
    replaceRows(document.getElementById("slots-body"), rows, fields.length + 1);
    document.getElementById("slots-summary").textContent = summary.join(" \u00b7 ");
  }

  function renderGaps(status) {
    const gaps = Array.isArray(status.gaps) ? status.gaps : [];
    const fields = [
      ["start", "clock"], ["end", "clock"], ["reason", "text"], ["symbols", "int"], ["first", "list"],
      ["outcome", "text"], ["recovered", "int"],
    ];
    const rows = gaps.map((_g, i) => {
      const tr = document.createElement("tr");
      for (const [name, kind] of fields) tr.append(cell("td", `gaps.${i}.${name}`, kind, name === "outcome" ? "outcome" : ""));
      return tr;
    });
    replaceRows(document.getElementById("gaps-body"), rows, fields.length);
  }

  function renderWarnings(status) {
    const warnings = Array.isArray(status.warnings) ? status.warnings : [];
    const items = warnings.map((_w, i) => cell("li", `warnings.${i}`, "text"));
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = DASH;
      items.push(li);
    }
    document.getElementById("warnings-body").replaceChildren(...items);
  }

  function renderDisk(status) {
    const disk = status.disk || {};
    const bar = document.getElementById("disk-bar");
    const used = disk.total_bytes ? 1 - disk.free_bytes / disk.total_bytes : 0;
    bar.style.width = Math.max(0, Math.min(100, used * 100)).toFixed(1) + "%";
    bar.className = disk.state === "warn" || disk.state === "floor" ? disk.state : "";
  }

  const AXIS = { stroke: "#8a96a3", grid: { stroke: "#2a3540", width: 1 }, ticks: { stroke: "#2a3540", width: 1 } };
  const CHARTS = {
    "chart-records": [
      ["stored_scalp", "scalp", "#58a6ff"], ["stored_swing", "swing", "#3fb950"],
      ["stored_system", "system", "#d29922"],
    ],
    "chart-problems": [
      ["quarantined", "quarantined", "#f85149"], ["gaps_opened", "gaps opened", "#d29922"],
      ["gaps_repaired", "gaps repaired", "#3fb950"], ["ws_reconnects", "WS reconnects", "#bc8cff"],
    ],
    // A fifth element puts the series on its own scale, drawn as the right-hand axis.
    "chart-lag": [
      ["loader_lag_seconds", "loader lag s (left)", "#58a6ff"],
      ["sweep_seconds", "sweep s (right)", "#d29922", null, "right"],
    ],
    "chart-capacity": [
      ["sweep_coverage", "coverage % (left)", "#3fb950", (v) => v * 100],
      ["disk_free_bytes", "disk free GB (right)", "#58a6ff", (v) => v / 1024 ** 3, "right"],
    ],
  };

  // Series with a value only in minutes with a sweep: joined across the others, points shown.
  const SPARSE = new Set(["sweep_seconds", "sweep_coverage"]);
  const LEFT_SCALE = { "chart-capacity": { range: [0, 100] } };  // coverage is a percentage

  function chartData(doc, spec) {
    const columns = [doc.t || []];
    for (const [name, , , scale] of spec) {
      const values = (doc.series && doc.series[name]) || [];
      columns.push(values.map((v) => (v === null || v === undefined ? null : scale ? scale(v) : v)));
    }
    return columns;
  }

  const MINUTE_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

  function hhmm(ts) {
    const d = uPlot.tzDate(new Date(ts * 1e3), "Asia/Seoul");  // the service clock is KST
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function chartOptions(id, el, spec) {
    return {
      width: Math.max(280, el.clientWidth || 400),
      height: 170,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Asia/Seoul"),
      scales: { x: { time: true }, ...(LEFT_SCALE[id] ? { y: LEFT_SCALE[id] } : {}) },
      axes: [
        { ...AXIS, incrs: MINUTE_STEPS, values: (_u, splits) => splits.map(hhmm) },
        { ...AXIS, size: 60 },
      ].concat(spec.some((s) => s[4]) ? [{ ...AXIS, scale: "right", side: 1, size: 60, grid: { show: false } }] : []),
      legend: { live: false },
      series: [{}].concat(spec.map(([name, label, color, , scale]) => ({
        label, stroke: color, width: 1.5, scale: scale || "y",
        spanGaps: SPARSE.has(name), points: { show: SPARSE.has(name), size: 5, fill: color },
      }))),
    };
  }

  function drawHistory(doc) {
    const points = (doc.t || []).length;
    document.getElementById("history-empty").hidden = points > 0;
    for (const [id, spec] of Object.entries(CHARTS)) {
      const el = document.getElementById(id);
      const data = chartData(doc, spec);
      if (state.charts[id]) state.charts[id].setData(data);
      else state.charts[id] = new uPlot(chartOptions(id, el, spec), data, el);
    }
    state.historyDraws += 1;
  }

  async function refreshHistory() {
    try {
      const response = await fetch("/history", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const doc = await response.json();
      state.history = doc;
      drawHistory(doc);
    } catch (err) {
      // /status reports the outage; the charts keep what they drew and dim with the page.
    } finally {
      window.setTimeout(refreshHistory, HISTORY_MS);
    }
  }

  window.addEventListener("resize", () => {
    for (const [id, chart] of Object.entries(state.charts)) {
      const el = document.getElementById(id);
      chart.setSize({ width: Math.max(280, el.clientWidth || 400), height: 170 });
    }
  });

  function setConnection(ok, text) {
    const el = document.getElementById("connection");
    el.className = "pill " + (ok ? "good" : "bad");
    el.textContent = text;
  }

  function render(status) {
    renderSources(status);
    renderFiles(status);
    renderSlots(status);
    renderGaps(status);
    renderWarnings(status);
    renderFields(status);
    renderDisk(status);
    document.getElementById("sim-banner").hidden = !(status.service && status.service.source === "sim");
    // The general path loads trades at about half the speed: not an error, but not to be missed.
    const path = document.querySelector('[data-field="service.loader_path"]');
    path.classList.toggle("warn", Boolean(status.service && status.service.loader_path === "general"));
  }

  function clockOf(status) {
    const now = status && status.service && status.service.clock && status.service.clock.now;
    if (now) return String(now).slice(11, 19);
    return new Date().toTimeString().slice(0, 8);
  }

  function markDown(err) {
    if (state.downSince === null) state.downSince = clockOf(state.status);
    document.body.classList.add("down");
    setConnection(false, "unreachable since " + state.downSince);
    document.getElementById("connection").title = String(err.message || err);
  }

  async function refresh() {
    try {
      const response = await fetch("/status", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const status = await response.json();
      render(status);
      state.status = status;
      state.renderedAt = Date.now();
      state.renders += 1;
      state.downSince = null;
      document.body.classList.remove("down");
      setConnection(true, "live");
    } catch (err) {
      state.errors += 1;
      markDown(err);
    } finally {
      window.setTimeout(refresh, REFRESH_MS);
    }
  }

  buildStreamRows();
  refresh();
  refreshHistory();
})();
