// pymk operator console: reads /console/api/* and renders it. No framework, no build step.
// Everything from the server goes into the DOM as text nodes (el() below) or SVG text: user ids are
// untrusted, so nothing here parses markup from strings.
"use strict";

const API = "/console/api/";
const SVG = "http://www.w3.org/2000/svg";
const REASON_LABELS = {
  mutual_connections: "mutual",
  close_in_graph: "close in graph",
  similar_network: "similar network",
  recently_active: "recently active",
  popular: "popular",
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, seconds);
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(0)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC") : "—";
}

function badge(text, kind) {
  return el("span", { class: `badge ${kind || ""}` }, text);
}

function num(value, digits) {
  return typeof value === "number" ? value.toFixed(digits) : String(value);
}

async function getJSON(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  let body;
  try {
    body = await response.json();
  } catch (_) {
    body = { error: "BadResponse", message: `HTTP ${response.status} without a JSON body` };
  }
  return { ok: response.ok, status: response.status, body };
}

function replace(container, state, ...children) {
  container.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
  container.dataset.state = state;
}

function errorBox(title, body) {
  return el("div", { class: "error", role: "alert", id: "user-error" },
    el("strong", {}, title), " ", body && body.message ? body.message : "request failed");
}

// ---------------------------------------------------------------- user lookup

function userButton(userId, extraClass) {
  const button = el("button", { type: "button", class: `link ${extraClass || ""}`, title: `Look up ${userId}` }, userId);
  button.addEventListener("click", () => lookup(userId));
  return button;
}

function reasonChips(reasons) {
  return Object.entries(reasons || {}).map(([name, value]) => {
    const label = REASON_LABELS[name] || name;
    const text = name === "mutual_connections" ? `${value} ${label}` : `${label} · ${Math.round(value * 100)}%`;
    return el("span", { class: `chip reason-${name.replace(/[^a-z_]/g, "")}`, title: `${name}: ${value}` }, text);
  });
}

function recommendationsTable(recs) {
  const rows = recs.items.map((item, i) => {
    const bar = el("span", { class: "bar" });
    bar.style.width = `${Math.max(0, Math.min(1, item.score)) * 100}%`;
    return el("tr", { "data-user-id": item.user_id },
      el("td", { class: "rank" }, i + 1),
      el("td", { class: "uid" }, userButton(item.user_id), item.source ? badge("fresh", "fresh") : null),
      el("td", { class: "score" }, el("span", { class: "barwrap" }, bar), num(item.score, 3)),
      el("td", { class: "reasons" }, reasonChips(item.reasons)));
  });
  return el("table", { id: "recs", class: "table" },
    el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "user"), el("th", {}, "score"), el("th", {}, "reasons"))),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 4, class: "hint" }, "empty list"))));
}

function listMeta(view) {
  const recs = view.recommendations;
  return el("div", { class: "meta", id: "list-meta" },
    badge(recs.source, recs.source === "realtime" ? "realtime" : "precomputed"),
    el("span", {}, "model ", el("code", { id: "list-model" }, recs.model_version)),
    el("span", {}, "computed ", el("time", { datetime: recs.generated_at }, when(recs.generated_at)),
      ` (${age(recs.age_s)} ago)`),
    view.routed_to && view.routed_to !== recs.model_version
      ? el("span", { class: "warn" }, "routed to ", el("code", {}, view.routed_to)) : null);
}

function egoGraph(userId, hood, recommended) {
  const width = 460, height = 330, cx = width / 2, cy = height / 2;
  const friends = hood.friends.slice(0, 16);
  const fof = hood.friends_of_friends;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "ego", role: "img",
    "aria-label": `neighbourhood of ${userId}` });
  const pos = new Map();
  friends.forEach((f, i) => {
    const a = (2 * Math.PI * i) / Math.max(friends.length, 1) - Math.PI / 2;
    pos.set(f.user_id, [cx + 95 * Math.cos(a), cy + 95 * Math.sin(a)]);
  });
  fof.forEach((f, i) => {
    const a = (2 * Math.PI * (i + 0.5)) / Math.max(fof.length, 1) - Math.PI / 2;
    pos.set(`fof:${f.user_id}`, [cx + 150 * Math.cos(a), cy + 140 * Math.sin(a)]);
  });
  const edges = svg("g", { class: "edges" });
  friends.forEach((f) => {
    const [x, y] = pos.get(f.user_id);
    edges.append(svg("line", { x1: cx, y1: cy, x2: x, y2: y, class: f.fresh ? "edge fresh" : "edge" }));
  });
  fof.forEach((f) => {
    const [x, y] = pos.get(`fof:${f.user_id}`);
    f.via.filter((v) => pos.has(v)).forEach((v) => {
      const [vx, vy] = pos.get(v);
      edges.append(svg("line", { x1: x, y1: y, x2: vx, y2: vy, class: "edge weak" }));
    });
  });
  root.append(edges);
  const node = (x, y, r, cls, label, tip) => {
    const g = svg("g", { class: `node ${cls}` });
    g.append(svg("title", {}, tip));
    g.append(svg("circle", { cx: x, cy: y, r }));
    const short = label.length > 12 ? `${label.slice(0, 11)}…` : label;
    g.append(svg("text", { x, y: y + r + 11, "text-anchor": "middle" }, short));
    return g;
  };
  friends.forEach((f) => {
    const [x, y] = pos.get(f.user_id);
    const r = 5 + Math.min(6, Math.sqrt(f.degree));
    root.append(node(x, y, r, f.fresh ? "friend fresh" : "friend", f.user_id, `${f.user_id}: degree ${f.degree}${f.fresh ? " (fresh connect)" : ""}`));
  });
  fof.forEach((f) => {
    const [x, y] = pos.get(`fof:${f.user_id}`);
    const cls = recommended.has(f.user_id) ? "fof recommended" : "fof";
    root.append(node(x, y, 5 + Math.min(6, f.mutual), cls, f.user_id, `${f.user_id}: ${f.mutual} mutual`));
  });
  root.append(node(cx, cy, 13, "me", userId, userId));
  return root;
}

function neighbourhoodView(userId, hood, recommended) {
  if (!hood) return el("p", { class: "hint" }, "No model graph loaded (lists only): no neighbourhood to show.");
  const legend = el("div", { class: "legend" },
    el("span", { class: "key me" }, "user"), el("span", { class: "key friend" }, "friend"),
    el("span", { class: "key fresh" }, "fresh connect"), el("span", { class: "key fof" }, "friend of friend"),
    el("span", { class: "key recommended" }, "also recommended"));
  const friendRows = hood.friends.map((f) => el("tr", {},
    el("td", {}, userButton(f.user_id), f.fresh ? badge("fresh", "fresh") : null), el("td", { class: "n" }, f.degree)));
  const fofRows = hood.friends_of_friends.map((f) => el("tr", {},
    el("td", {}, userButton(f.user_id), recommended.has(f.user_id) ? badge("recommended", "ok") : null),
    el("td", { class: "n" }, f.mutual)));
  const more = hood.friends_total > hood.friends.length ? ` (top ${hood.friends.length} of ${hood.friends_total} by degree)` : "";
  return el("div", { class: "hood" },
    el("div", { class: "graphbox" }, egoGraph(userId, hood, recommended), legend),
    el("div", { class: "hoodtables" },
      el("h4", {}, `Friends: ${hood.friends_total}${more}`),
      el("div", { class: "scroll" }, el("table", { class: "table compact", id: "friends" }, el("thead", {}, el("tr", {}, el("th", {}, "user"), el("th", { class: "n" }, "degree"))),
        el("tbody", {}, friendRows.length ? friendRows : el("tr", {}, el("td", { colspan: 2, class: "hint" }, "no connections"))))),
      el("h4", {}, "Friends of friends"),
      el("table", { class: "table compact", id: "fof" }, el("thead", {}, el("tr", {}, el("th", {}, "user"), el("th", { class: "n" }, "mutual"))),
        el("tbody", {}, fofRows.length ? fofRows : el("tr", {}, el("td", { colspan: 2, class: "hint" }, "none")))),
      el("p", { class: "hint" }, `Graph of model ${hood.graph} (training snapshot) plus connects seen since; exclusions read ${when(hood.as_of)}.`)));
}

async function lookup(userId, k) {
  const box = document.getElementById("user-result");
  const input = document.getElementById("user-id");
  const select = document.getElementById("k");
  userId = (userId === undefined ? input.value : userId).trim();
  if (k !== undefined) select.value = String(k);
  input.value = userId;
  if (!userId) {
    replace(box, "error", errorBox("Enter a user id.", null));
    return;
  }
  const kValue = select.value;
  history.replaceState(null, "", `#user=${encodeURIComponent(userId)}&k=${encodeURIComponent(kValue)}`);
  replace(box, "loading", el("p", { class: "hint" }, "Loading…"));
  let answer;
  try {
    answer = await getJSON(`${API}users/${encodeURIComponent(userId)}?k=${encodeURIComponent(kValue)}`);
  } catch (err) {
    replace(box, "error", errorBox("Server unreachable:", { message: String(err) }));
    return;
  }
  if (!answer.ok) {
    const title = answer.status === 404 ? "No such user:" : `Error ${answer.status}:`;
    replace(box, "error", errorBox(title, answer.body));
    box.dataset.for = userId;
    return;
  }
  const view = answer.body;
  const recommended = new Set(view.recommendations.items.map((i) => i.user_id));
  replace(box, "loaded",
    el("h3", {}, "Recommendations for ", el("code", { id: "shown-user" }, view.user_id)),
    listMeta(view),
    recommendationsTable(view.recommendations),
    el("h3", {}, "Neighbourhood"),
    neighbourhoodView(view.user_id, view.neighbourhood, recommended));
  box.dataset.for = view.user_id;
}

// ---------------------------------------------------------------- models

function metricsText(metrics) {
  const keys = Object.keys(metrics || {}).sort();
  if (!keys.length) return el("span", { class: "hint" }, "no holdout metrics");
  return keys.slice(0, 8).map((key) => el("span", { class: "metric" }, `${key} `, el("b", {}, num(metrics[key], 4))));
}

function renderModels(data) {
  const box = document.getElementById("models");
  const cards = data.versions.map((v) => el("li", { "data-version": v.version, class: `version${v.active ? " active" : ""}` },
    el("div", { class: "vhead" }, el("code", { class: "vname" }, v.version),
      v.active ? badge("active", "ok") : null, v.loaded ? badge("loaded here", "info") : null),
    el("div", { class: "vmeta" }, `${v.model_kind} · registered ${when(v.created_at)} · data `,
      el("code", { title: v.data_fingerprint }, (v.data_fingerprint || "").slice(0, 8)), " · code ", el("code", {}, v.code)),
    el("div", { class: "vmetrics" }, metricsText(v.metrics))));
  const ab = data.ab
    ? el("p", {}, "A/B: challenger ", el("code", {}, data.ab.challenger), ` gets ${Math.round(data.ab.share * 100)}% of users`,
      data.ab.control ? [" against ", el("code", {}, data.ab.control)] : null,
      data.ab.loaded ? null : [" ", badge("not loaded", "bad")])
    : el("p", { class: "hint" }, "No A/B split: every user gets the active version.");
  const changes = data.history.length
    ? el("ul", { class: "history" }, data.history.slice().reverse().map((h) => el("li", {},
      when(h.at), " ", badge(h.action, h.action === "rollback" ? "warn" : "info"), " ", el("code", {}, h.version),
      h.previous ? [" (was ", el("code", {}, h.previous), ")"] : null, h.forced ? " forced" : null)))
    : null;
  replace(box, "loaded",
    el("dl", { class: "facts" },
      el("dt", {}, "Active"), el("dd", {}, data.active ? el("code", { id: "active-version" }, data.active) : el("span", { id: "active-version", class: "hint" }, "none (lists only)")),
      el("dt", {}, "Loaded here"), el("dd", { id: "loaded-versions" }, data.loaded.length ? data.loaded.map((v, i) => [i ? ", " : "", el("code", {}, v)]) : "none")),
    ab,
    el("h4", {}, `Registered versions (${data.versions.length}), newest first`),
    el("ul", { class: "versions", id: "versions" }, cards.length ? cards : el("li", { class: "hint" }, "no registered versions")),
    changes ? [el("h4", {}, "Recent changes"), changes] : null);
  renderPills(data, null);
}

// ---------------------------------------------------------------- health

function driftView(drift) {
  if (!drift) return el("p", { class: "hint", id: "drift-status" }, "No drift report yet (pymk monitor writes one).");
  if (drift.error) return el("p", { class: "error", id: "drift-status" }, drift.error);
  const features = (drift.features || []).slice().sort((a, b) => (b.drifted - a.drifted) || a.name.localeCompare(b.name));
  const window = drift.window || {};
  return el("div", {},
    el("p", { id: "drift-status" }, drift.drifted ? badge("drift", "bad") : badge("no drift", "ok"),
      ` ${Math.round((drift.share_drifted || 0) * 100)}% of features drifted · model `, el("code", {}, drift.model_version || "—")),
    el("p", { class: "hint" }, `Window ${when(window.start)} → ${when(window.end)}, ${window.events ?? "?"} events; report ${when(drift.generated_at)}`,
      drift.age_s !== undefined ? ` (${age(drift.age_s)} ago)` : ""),
    el("table", { class: "table compact", id: "drift-features" },
      el("thead", {}, el("tr", {}, ["feature", "stat", "value", "threshold", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, features.map((f) => el("tr", { class: f.drifted ? "drifted" : "" },
        el("td", {}, f.name, " ", el("span", { class: "hint" }, f.kind || "")), el("td", {}, f.stat),
        el("td", { class: "n" }, num(f.value, 3)), el("td", { class: "n" }, num(f.threshold, 3)),
        el("td", {}, f.drifted ? badge("drifted", "bad") : badge("ok", "ok")))))));
}

function freshnessView(health) {
  const f = health.freshness;
  const lists = f.lists
    ? [el("code", {}, f.lists.model_version), ` · ${f.lists.users} users, k ≤ ${f.lists.k} · committed ${when(f.lists.committed_at)} (`,
      el("b", { id: "lists-age" }, age(f.lists.age_s)), " ago)"]
    : el("span", { class: "warn" }, "no precomputed lists");
  const models = f.models.length
    ? f.models.map((m) => el("div", {}, el("code", {}, m.version), ` ${m.role} · graph read ${age(m.age_s)} ago`))
    : "none loaded";
  const fo = f.follower;
  const follower = fo
    ? [fo.head === null ? badge("store unreachable", "bad") : fo.behind > 0 ? badge(`${fo.behind} behind`, "warn") : badge("caught up", "ok"),
      ` applied seq ${fo.seq}${fo.head === null ? "" : ` of ${fo.head}`} · last event ${when(fo.last_event_at)}`,
      fo.since_applied_s === null ? "" : ` · applied ${age(fo.since_applied_s)} ago`]
    : el("span", { class: "hint" }, "not following a shared online store (memory://): fresh changes come with the next batch");
  return el("dl", { class: "facts", id: "freshness" },
    el("dt", {}, "Mode"), el("dd", {}, health.mode),
    el("dt", {}, "Lists"), el("dd", {}, lists),
    el("dt", {}, "Models"), el("dd", {}, models),
    el("dt", {}, "Delta follower"), el("dd", {}, follower),
    el("dt", {}, "Late real time"), el("dd", {}, `${f.late_realtime} answers fell back to the list (budget exceeded)`));
}

function renderHealth(data) {
  replace(document.getElementById("health"), "loaded",
    el("h3", {}, "Drift"), driftView(data.drift),
    el("h3", {}, "Freshness"), freshnessView(data),
    el("p", { class: "hint" }, `As of ${when(data.now)}`));
  renderPills(null, data);
}

// ---------------------------------------------------------------- header pills

const pillState = { models: null, health: null };

function renderPills(models, health) {
  if (models) pillState.models = models;
  if (health) pillState.health = health;
  const pills = [];
  const m = pillState.models, h = pillState.health;
  if (m) pills.push(badge(m.active ? `active ${m.active}` : "no active model", m.active ? "info" : "warn"));
  if (h) {
    pills.push(badge(`mode ${h.mode}`, "info"));
    if (h.freshness.lists) pills.push(badge(`lists ${age(h.freshness.lists.age_s)} old`, "info"));
    if (h.drift && !h.drift.error) pills.push(badge(h.drift.drifted ? "drift" : "no drift", h.drift.drifted ? "bad" : "ok"));
  }
  document.getElementById("pills").replaceChildren(...pills);
}

async function refreshPanels() {
  for (const [name, render] of [["models", renderModels], ["health", renderHealth]]) {
    try {
      const answer = await getJSON(API + name);
      if (answer.ok) render(answer.body);
      else replace(document.getElementById(name), "error", el("p", { class: "error" }, answer.body.message || `HTTP ${answer.status}`));
    } catch (err) {
      replace(document.getElementById(name), "error", el("p", { class: "error" }, `server unreachable: ${err}`));
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("lookup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    lookup();
  });
  document.getElementById("refresh").addEventListener("click", refreshPanels);
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("user")) lookup(params.get("user"), params.get("k") || undefined);
  refreshPanels();
  setInterval(refreshPanels, 15000);
});
