// Observer live dashboard: polls /status every second and renders it.
// Every value element carries data-field="<dotted path into /status>" and data-format; a
// missing value shows as an em dash. No build step, no external resources.
"use strict";

(function () {
  const DASH = "\u2014";
  const REFRESH_MS = 1000;
  const HISTORY = 120;
  const STREAMS = ["scalp", "swing", "system"];
  const COLORS = { scalp: "#58a6ff", swing: "#3fb950", system: "#d29922" };
  const state = { status: null, renderedAt: null, renders: 0, errors: 0, history: {}, prev: null };
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
    const body = document.getElementById("slots-body");
    const blocks = slots.map((slot, i) => {
      const div = document.createElement("div");
      div.className = "slot";
      const head = document.createElement("div");
      const used = Array.isArray(slot.symbols) ? slot.symbols.length : 0;
      head.append(cell("b", `slots.${i}.session`, "text"), ` ${used} of `, cell("span", `slots.${i}.max`, "int"), " slots");
      const chips = document.createElement("div");
      chips.className = "symbols";
      (Array.isArray(slot.symbols) ? slot.symbols : []).forEach((_sym, j) => {
        chips.append(cell("span", `slots.${i}.symbols.${j}`, "text"));
      });
      div.append(head, chips);
      return div;
    });
    if (!blocks.length) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = DASH;
      blocks.push(p);
    }
    body.replaceChildren(...blocks);
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

  function updateRates(status, now) {
    const streams = status.streams || {};
    if (state.prev) {
      const dt = (now - state.prev.at) / 1000;
      for (const name of STREAMS) {
        const cur = streams[name] && streams[name].stored;
        const before = state.prev.stored[name];
        if (dt > 0 && typeof cur === "number" && typeof before === "number") {
          const series = (state.history[name] = state.history[name] || []);
          series.push(Math.max(0, (cur - before) / dt));
          if (series.length > HISTORY) series.shift();
        }
      }
    }
    const stored = {};
    for (const name of STREAMS) stored[name] = streams[name] ? streams[name].stored : undefined;
    state.prev = { at: now, stored };
  }

  function drawChart() {
    const canvas = document.getElementById("rate-chart");
    const ctx = canvas.getContext("2d");
    const width = (canvas.width = canvas.clientWidth || canvas.width);
    const height = canvas.height;
    ctx.clearRect(0, 0, width, height);
    let max = 1;
    for (const name of STREAMS) for (const v of state.history[name] || []) max = Math.max(max, v);
    ctx.strokeStyle = "#2a3540";
    ctx.fillStyle = "#8a96a3";
    ctx.font = "11px sans-serif";
    ctx.beginPath();
    ctx.moveTo(40, 8); ctx.lineTo(40, height - 16); ctx.lineTo(width - 4, height - 16);
    ctx.stroke();
    ctx.fillText(grouped(max, 0), 2, 14);
    ctx.fillText("0", 28, height - 16);
    const plotW = width - 48;
    const plotH = height - 28;
    for (const name of STREAMS) {
      const series = state.history[name] || [];
      if (series.length < 2) continue;
      ctx.strokeStyle = COLORS[name];
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      series.forEach((v, i) => {
        const x = 42 + (plotW * (i + HISTORY - series.length)) / (HISTORY - 1);
        const y = height - 16 - (plotH * v) / max;
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    }
    const legend = document.getElementById("rate-legend");
    legend.replaceChildren(...STREAMS.map((name) => {
      const span = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = COLORS[name];
      const series = state.history[name] || [];
      const last = series.length ? series[series.length - 1] : null;
      span.append(swatch, `${name} ${last === null ? DASH : grouped(last, 1)} rec/s`);
      return span;
    }));
  }

  function setConnection(ok, text) {
    const el = document.getElementById("connection");
    el.className = "pill " + (ok ? "good" : "bad");
    el.textContent = text;
  }

  function render(status) {
    renderSources(status);
    renderFiles(status);
    renderSlots(status);
    renderWarnings(status);
    renderFields(status);
    renderDisk(status);
    document.getElementById("sim-banner").hidden = !(status.service && status.service.source === "sim");
  }

  async function refresh() {
    try {
      const response = await fetch("/status", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const status = await response.json();
      const now = Date.now();
      updateRates(status, now);
      render(status);
      drawChart();
      state.status = status;
      state.renderedAt = now;
      state.renders += 1;
      setConnection(true, "live");
    } catch (err) {
      state.errors += 1;
      setConnection(false, "service unreachable (" + err.message + ")");
    } finally {
      window.setTimeout(refresh, REFRESH_MS);
    }
  }

  refresh();
})();
