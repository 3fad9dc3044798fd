// The live view's page: keeps the server's snapshot, applies its deltas, draws the map.
// No library and no network beyond this server: the map is SVG drawn from coordinates.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 1000, H = 700, MARGIN = 60;
  const TABLES = ["sites", "hosts", "instances", "devices", "apps", "handovers"];
  const ARROW_SHOWN_MS = 6000, ARROW_FADE_MS = 2000;
  const MAX_LINKS = 400;
  const MAX_SITE_LABELS = 30;  // beyond, access points are named in their tooltips only

  const view = {
    seq: null, lastId: null,
    tables: Object.fromEntries(TABLES.map((t) => [t, new Map()])),
    snapshots: 0, batches: 0,
    received: {},  // handover id -> Date.now() when its end (or start) arrived
  };
  window.liveView = view;  // read by tests and by anyone curious in the console

  const $ = (id) => document.getElementById(id);
  const layers = {
    links: $("layer-links"), sites: $("layer-sites"), devices: $("layer-devices"),
    hosts: $("layer-hosts"), handovers: $("layer-handovers"),
  };
  const arrows = new Map();  // handover id -> {el, state, timer}

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function hash(text) {
    let h = 2166136261;
    for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 16777619); }
    return h >>> 0;
  }
  // Instances get hues a golden angle apart, in the order of their keys: distinct colours.
  let hues = new Map();
  const colour = (key) => `hsl(${hues.has(key) ? hues.get(key) : hash(key) % 360}, 70%, 58%)`;
  const instanceKey = (ns, app, host) => `${ns}/${app}@${host}`;

  // -- the model --------------------------------------------------------------------------

  function loadSnapshot(body) {
    for (const t of TABLES) {
      const table = new Map();
      for (const item of body[t]) table.set(keyOf(t, item), item);
      view.tables[t] = table;
    }
    view.seq = body.seq;
    view.snapshots += 1;
    for (const mark of Object.keys(view.received)) {
      if (!view.tables.handovers.has(mark.split(":")[0])) delete view.received[mark];
    }
    for (const item of view.tables.handovers.values()) noteHandover(item);
  }

  function keyOf(table, item) {
    switch (table) {
      case "sites": return item.id;
      case "hosts": return item.name;
      case "instances": return instanceKey(item.namespace, item.app, item.host);
      case "devices": return item.context_id;
      case "apps": return `${item.namespace}/${item.name}`;
      default: return item.id;
    }
  }

  function applyBatch(batch) {
    if (view.seq === null) return;
    for (const delta of batch.deltas) {
      const table = view.tables[delta.table];
      if (!table) continue;
      if (delta.op === "put") {
        table.set(delta.key, delta.item);
        if (delta.table === "handovers") noteHandover(delta.item);
      } else {
        table.delete(delta.key);
        if (delta.table === "handovers") forgetHandover(delta.key);
      }
    }
    view.seq = batch.seq;
    view.batches += 1;
  }

  function forgetHandover(id) {  // the page's memory stays bounded by the server's table
    for (const state of ["started", "completed", "failed"]) delete view.received[`${id}:${state}`];
  }

  function noteHandover(item) {
    const mark = `${item.id}:${item.state}`;
    if (!(mark in view.received)) view.received[mark] = Date.now();
  }

  // -- drawing ----------------------------------------------------------------------------

  let scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; draw(); });
  }

  function projection() {
    const points = [];
    for (const s of view.tables.sites.values()) if (s.lat != null) points.push([s.lat, s.lon]);
    for (const h of view.tables.hosts.values()) if (h.lat != null) points.push([h.lat, h.lon]);
    if (!points.length) return () => null;
    const lats = points.map((p) => p[0]), lons = points.map((p) => p[1]);
    const lat0 = Math.min(...lats), lat1 = Math.max(...lats);
    const lon0 = Math.min(...lons), lon1 = Math.max(...lons);
    const k = Math.cos(((lat0 + lat1) / 2) * Math.PI / 180);
    const spanX = Math.max((lon1 - lon0) * k, 1e-6), spanY = Math.max(lat1 - lat0, 1e-6);
    const scale = Math.min((W - 2 * MARGIN) / spanX, (H - 2 * MARGIN) / spanY);
    const offX = (W - spanX * scale) / 2, offY = (H - spanY * scale) / 2;
    return (lat, lon) => lat == null ? null
      : [offX + (lon - lon0) * k * scale, H - (offY + (lat - lat0) * scale)];
  }

  function clear(layer) { while (layer.firstChild) layer.removeChild(layer.firstChild); }

  function draw() {
    const keys = [...view.tables.instances.keys()].sort();
    hues = new Map(keys.map((k, n) => [k, Math.round((n * 137.508 + 200) % 360)]));
    const project = projection();
    const hostAt = new Map(), siteAt = new Map();
    for (const h of view.tables.hosts.values()) hostAt.set(h.name, project(h.lat, h.lon));
    for (const s of view.tables.sites.values()) siteAt.set(s.id, project(s.lat, s.lon));

    clear(layers.sites);
    const labelled = view.tables.sites.size <= MAX_SITE_LABELS;
    for (const s of view.tables.sites.values()) {
      const p = siteAt.get(s.id);
      if (!p) continue;
      const g = el("g", { class: "site-mark", "data-site": s.id }, layers.sites);
      el("path", { class: "site", d: `M${p[0]},${p[1] - 7} l6,11 h-12 z` }, g);
      el("title", {}, g).textContent = `access point ${s.id} (zone ${s.zone})`;
      if (labelled) el("text", { class: "site-label", x: p[0] + 8, y: p[1] + 4 }, g).textContent = s.id;
    }

    clear(layers.hosts);
    const instancesOf = new Map();
    for (const i of view.tables.instances.values()) {
      if (!instancesOf.has(i.host)) instancesOf.set(i.host, []);
      instancesOf.get(i.host).push(i);
    }
    for (const h of view.tables.hosts.values()) {
      const p = hostAt.get(h.name);
      if (!p) continue;
      const cls = ["host", h.available ? "available" : "unavailable", h.cordoned ? "cordoned" : ""];
      const g = el("g", { class: cls.join(" ").trim(), "data-host": h.name }, layers.hosts);
      el("rect", { class: "body", x: p[0] - 9, y: p[1] - 9, width: 18, height: 18, rx: 3 }, g);
      const right = p[0] > W - 160;  // near the right edge: the name goes to the left
      el("text", {
        class: "host-label", x: right ? p[0] - 13 : p[0] + 13, y: p[1] + 5,
        "text-anchor": right ? "end" : "start",
      }, g).textContent = h.name;
      const mine = (instancesOf.get(h.name) || []).sort((a, b) =>
        instanceKey(a.namespace, a.app, a.host) < instanceKey(b.namespace, b.app, b.host) ? -1 : 1);
      mine.forEach((i, n) => {
        const key = instanceKey(i.namespace, i.app, i.host);
        const c = colour(key);
        const badge = el("rect", {
          class: "instance" + (i.ready ? "" : " pending"), "data-instance": key,
          x: p[0] - 9 + n * 11, y: p[1] - 22, width: 9, height: 9, rx: 2, fill: c, stroke: c,
        }, g);
        el("title", {}, badge).textContent = `${i.namespace}/${i.app} on ${i.host}` +
          (i.ready ? " (ready)" : " (not ready)");
      });
    }

    clear(layers.devices);
    clear(layers.links);
    const devices = [...view.tables.devices.values()];
    for (const d of devices) {
      const h = hash(d.context_id);
      const anchor = siteAt.get(d.access_point) || hostAt.get(d.host);
      if (!anchor) continue;
      const angle = (h % 360) * Math.PI / 180, radius = 12 + (h >>> 9) % 16;
      const x = anchor[0] + radius * Math.cos(angle), y = anchor[1] + radius * Math.sin(angle);
      const c = colour(instanceKey(d.namespace, d.app, d.host));
      const dot = el("circle", {
        class: "device", cx: x, cy: y, r: 4, fill: c, "data-device": d.context_id,
        "data-host": d.host,
      }, layers.devices);
      el("title", {}, dot).textContent =
        `${d.namespace}/${d.app} user ${d.context_id.slice(0, 8)} at ${d.access_point} on ${d.host}`;
      const served = hostAt.get(d.host);
      if (served && devices.length <= MAX_LINKS) {
        el("line", { class: "link", x1: x, y1: y, x2: served[0], y2: served[1], stroke: c },
          layers.links);
      }
    }

    drawArrows(hostAt);
    drawPanel();
  }

  function drawArrows(hostAt) {
    for (const [id, arrow] of arrows) {
      if (!view.tables.handovers.has(id)) { arrow.el.remove(); clearTimeout(arrow.timer); arrows.delete(id); }
    }
    for (const m of view.tables.handovers.values()) {
      const known = arrows.get(m.id);
      if (known && known.state === m.state) continue;
      if (known) { known.el.remove(); clearTimeout(known.timer); arrows.delete(m.id); }
      const ended = m.state !== "started";
      if (ended && m.ended_s != null && Date.now() - m.ended_s * 1000 > ARROW_SHOWN_MS) continue;
      const a = hostAt.get(m.source), b = hostAt.get(m.target);
      if (!a || !b) continue;
      const mx = (a[0] + b[0]) / 2, my = (a[1] + b[1]) / 2;
      const dx = b[0] - a[0], dy = b[1] - a[1], len = Math.hypot(dx, dy) || 1;
      const cx = mx - (dy / len) * len * 0.25, cy = my + (dx / len) * len * 0.25;
      const g = el("g", { class: "handover", "data-handover-id": m.id, "data-state": m.state },
        layers.handovers);
      el("path", { d: `M${a[0]},${a[1]} Q${cx},${cy} ${b[0]},${b[1]}`, "marker-end": "url(#arrow-head)" }, g);
      el("text", { x: (mx + cx) / 2, y: (my + cy) / 2, "text-anchor": "middle" }, g).textContent =
        label(m);
      const arrow = { el: g, state: m.state, timer: null };
      if (ended) {
        arrow.timer = setTimeout(() => {
          g.classList.add("fading");
          arrow.timer = setTimeout(() => g.remove(), ARROW_FADE_MS);
        }, ARROW_SHOWN_MS);
      }
      arrows.set(m.id, arrow);
    }
  }

  function label(m) {
    if (m.state === "failed") return "failed";
    if (m.state === "started") return "…";
    return m.interruption_ms != null ? `${m.interruption_ms.toFixed(1)} ms` : "moved";
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function drawPanel() {
    const body = document.querySelector("#apps tbody");
    body.replaceChildren();
    const apps = [...view.tables.apps.values()].sort((a, b) =>
      `${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1);
    for (const a of apps) {
      const row = document.createElement("tr");
      row.dataset.app = `${a.namespace}/${a.name}`;
      cell(row, `${a.namespace}/${a.name}` + (a.moving ? ` (${a.moving} moving)` : ""));
      cell(row, `${a.slo_ms} ms` + (a.slo_met === null ? "" : a.slo_met ? " ✓" : " ✗"),
        a.slo_met === null ? "" : a.slo_met ? "slo-met" : "slo-missed");
      cell(row, String(a.users));
      cell(row, `${a.ready_instances}/${a.instances}`);
      cell(row, String(a.handovers)).dataset.counter = "handovers";
      cell(row, String(a.failures)).dataset.counter = "failures";
      body.appendChild(row);
    }
    const list = $("handovers");
    list.replaceChildren();
    const marks = [...view.tables.handovers.values()].sort((a, b) => b.started_s - a.started_s);
    for (const m of marks) {
      const li = document.createElement("li");
      li.dataset.handoverId = m.id;
      li.dataset.state = m.state;
      const when = new Date((m.ended_s || m.started_s) * 1000).toLocaleTimeString();
      li.textContent = `${when} ${m.namespace}/${m.app} user ${m.user.slice(0, 8)}: ` +
        `${m.source} → ${m.target} `;
      const ms = document.createElement("span");
      ms.className = "ms";
      ms.textContent = m.state === "failed" ? `failed: ${m.reason}` : label(m);
      li.appendChild(ms);
      list.appendChild(li);
    }
    const t = view.tables;
    $("totals").textContent = `${t.sites.size} access points · ${t.hosts.size} hosts · ` +
      `${t.instances.size} instances · ${t.devices.size} devices · #${view.seq}`;
  }

  // -- the stream -------------------------------------------------------------------------

  function setStatus(state, text) {
    const s = $("status");
    s.className = `status ${state}`;
    s.dataset.status = state;
    s.textContent = text;
  }

  let source = null;
  function connect() {
    const url = view.lastId ? `events?after=${encodeURIComponent(view.lastId)}` : "events";
    source = new EventSource(url);
    source.addEventListener("open", () => setStatus("live", "live"));
    source.addEventListener("snapshot", (e) => {
      view.lastId = e.lastEventId;
      loadSnapshot(JSON.parse(e.data));
      schedule();
    });
    source.addEventListener("delta", (e) => {
      view.lastId = e.lastEventId;
      applyBatch(JSON.parse(e.data));
      schedule();
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {  // refused (e.g. 503): try again later
        setStatus("reconnecting", "reconnecting…");
        setTimeout(connect, 3000);
      } else {
        setStatus("reconnecting", "reconnecting…");  // the browser retries with Last-Event-ID
      }
    });
  }
  connect();
})();
