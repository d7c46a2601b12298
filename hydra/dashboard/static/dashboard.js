/* Hespérides production dashboard: the completeness of the requested tiles on a Leaflet map, the progress of the
 * requests, the jobs, the recent failures and the products of a selected tile.
 *
 * Plain JavaScript, no build step. Everything comes from this server (/dashboard/api/...): no CDN, no basemap.
 * The selected collection and request live in the URL query (?collection=maja-l2a&request=x). For the tests,
 * window.hesp = {map, tilesLayer, ready} where `ready` resolves once the tiles are drawn with their colours.
 */
"use strict";

(function () {
  // Completeness classes, c = (done + invalid) / units of a tile, first match wins.
  const CLASSES = [
    { key: "complete", color: "#1a9850", label: "complete (100 %)", test: (c) => c >= 1 },
    { key: "most", color: "#a6d96a", label: "50 % or more", test: (c) => c >= 0.5 },
    { key: "started", color: "#fdae61", label: "started, under 50 %", test: (c) => c > 0 },
    { key: "none", color: "#d73027", label: "nothing done (0 %)", test: () => true },
  ];
  const NO_UNIT = { key: "no-unit", color: "#bdbdbd", label: "no unit of this collection" };
  const COUNTRY_STYLE = { color: "#c8c8c8", weight: 0.6, fillColor: "#e6e6e6", fillOpacity: 1, interactive: false };
  const SELECTED_STYLE = { color: "#0d47a1", weight: 3, fill: false, interactive: false };
  // Unit states (hymotep.work_units.State), finished ones first; an unknown state is listed after them.
  const STATE_ORDER = [
    "done", "invalid", "outdated", "running", "queued", "failed", "blocked", "runnable", "not-accepted",
  ];
  const REFRESH_MS = 60 * 1000;
  const API = new URL("../api/", document.currentScript.src).pathname; // /dashboard/api/

  const state = {
    overview: null, // GET overview
    completeness: {}, // tile id -> {units, done, invalid, completeness, states}
    collection: null,
    request: null, // null: all requests
    selectedTile: null,
    generation: 0, // bumped by every change of selection: answers to older fetches are dropped
  };

  const map = L.map("map", { preferCanvas: true, zoomSnap: 0.25, worldCopyJump: false });
  map.createPane("countries").style.zIndex = 350; // under the tiles (overlayPane, 400)
  const countriesLayer = L.geoJSON(null, {
    pane: "countries",
    renderer: L.canvas({ pane: "countries" }),
    style: () => COUNTRY_STYLE,
    attribution: "Countries: Natural Earth",
  }).addTo(map);
  const tilesLayer = L.geoJSON(null, { renderer: L.canvas(), style: tileStyle }).addTo(map);
  const selectedLayer = L.geoJSON(null, { renderer: L.canvas(), style: () => SELECTED_STYLE }).addTo(map);
  map.setView([20, 0], 2);

  let resolveReady;
  let rejectReady;
  const ready = new Promise((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {}); // a failure is shown in the page; the tests see the rejection
  window.hesp = { map, tilesLayer, ready };

  // ---------------------------------------------------------------------------------------------- helpers

  /** An element with attributes (`class`, `href`, any other) and children (nodes or text). */
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "style") Object.assign(node.style, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function replaceContent(id, ...children) {
    const nodes = children.flat(Infinity).filter((child) => child !== null && child !== undefined);
    document.getElementById(id).replaceChildren(...nodes);
  }

  class ApiError extends Error {}

  /** GET a JSON document of the API; an ApiError says what failed (HTTP status and the server's detail). */
  async function fetchJson(path, params) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined) query.set(name, value);
    }
    const search = query.toString();
    const url = API + path + (search ? "?" + search : "");
    let response;
    try {
      response = await fetch(url, { headers: authorised({ Accept: "application/json" }) });
    } catch (error) {
      throw new ApiError(`cannot reach the server (${url}): ${error.message}`);
    }
    if (!response.ok) {
      let detail = response.statusText;
      try {
        const body = await response.json();
        if (body && body.description) detail = body.description;
      } catch (ignored) {
        // not JSON: keep the status text
      }
      throw new ApiError(`${url}: HTTP ${response.status} ${detail}`);
    }
    return response.json();
  }

  // Log tails need the API token unless the site made them public (HESP_DASHBOARD): the operator gives it once
  // per browser tab; it is sent as a bearer token, never put in the URL.
  const TOKEN_KEY = "hesp-api-token";

  function authorised(headers) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
  }

  async function askToken() {
    const token = window.prompt("API token (HESP_API_TOKEN) to show the log tails");
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    state.overview = await fetchJson("overview");
    renderOverview();
  }

  function showMessage(text) {
    const box = document.getElementById("message");
    box.textContent = text;
    box.hidden = !text;
  }

  /** Completeness of a tile or of a request's collection, from its counts: null when nothing is asked. */
  function completenessOf(counts) {
    if (!counts || !counts.units) return null;
    return Math.min(1, ((counts.done || 0) + (counts.invalid || 0)) / counts.units);
  }

  function classOf(counts) {
    const c = completenessOf(counts);
    return c === null ? NO_UNIT : CLASSES.find((cls) => cls.test(c));
  }

  /** A percentage that says 100 % only when complete and 0 % only when nothing is done. */
  function percent(c) {
    if (c === null) return "–";
    if (c > 0 && c < 0.01) return "< 1 %";
    return `${Math.floor(c * 100)} %`;
  }

  function plural(n, noun) {
    return `${n} ${noun}${n === 1 ? "" : "s"}`;
  }

  /** A darker shade of a #rrggbb colour, for outlines. */
  function darker(hex, factor = 0.6) {
    const channels = [1, 3, 5].map((i) => Math.round(parseInt(hex.slice(i, i + 2), 16) * factor));
    return "#" + channels.map((v) => v.toString(16).padStart(2, "0")).join("");
  }

  /** An ISO time as "2026-11-25 19:00 UTC". */
  function formatTime(iso) {
    if (!iso) return "–";
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return iso;
    return when.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  /** How long before the snapshot: "5 min ago", "3 h ago", "2 d ago". */
  function ago(iso, now) {
    const seconds = (new Date(now) - new Date(iso)) / 1000;
    if (!Number.isFinite(seconds)) return "";
    if (seconds < 90) return "just now";
    if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} d ago`;
  }

  function nextFrames() {
    return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  }

  // ---------------------------------------------------------------------------------------------- the map

  function tileStyle(feature) {
    const cls = classOf(state.completeness[feature.id]);
    return { color: darker(cls.color), weight: 0.8, fillColor: cls.color, fillOpacity: 1 };
  }

  function tileTooltip(layer) {
    const tile = layer.feature.id;
    const counts = state.completeness[tile];
    const c = completenessOf(counts);
    const text = c === null ? "no unit" : `${percent(c)} (${counts.done + counts.invalid}/${counts.units})`;
    return el("span", {}, el("b", {}, tile), ` · ${state.collection}: ${text}`);
  }

  async function loadCountries() {
    try {
      countriesLayer.addData(await fetchJson("countries"));
    } catch (error) {
      showMessage(`Countries not shown: ${error.message}`);
    }
  }

  async function loadTiles() {
    const tiles = await fetchJson("tiles");
    for (const feature of tiles.features) {
      if (feature.id === undefined) feature.id = feature.properties.tile;
    }
    tilesLayer.addData(tiles);
    tilesLayer.bindTooltip(tileTooltip, { sticky: true, className: "tile-tooltip" });
    tilesLayer.on("click", (event) => selectTile(event.layer.feature.id));
    if (tiles.features.length) map.fitBounds(tilesLayer.getBounds(), { padding: [20, 20], maxZoom: 9 });
    else showMessage("No tile is requested: add a production request (hesp request add).");
  }

  function restyleTiles() {
    tilesLayer.setStyle(tileStyle);
    renderLegend();
  }

  function highlight(tile) {
    selectedLayer.clearLayers();
    tilesLayer.eachLayer((layer) => {
      if (layer.feature.id === tile) selectedLayer.addData(layer.feature);
    });
  }

  // ---------------------------------------------------------------------------------------------- selection

  function requestedCollections(overview) {
    const units = new Map();
    for (const request of overview.requests) {
      for (const row of request.collections) units.set(row.collection, (units.get(row.collection) || 0) + row.units);
    }
    return units;
  }

  /** The collection and request of the URL when they exist; else the first collection with units, all requests. */
  function chooseSelection(overview) {
    const query = new URLSearchParams(location.search);
    const wantedCollection = query.get("collection");
    const wantedRequest = query.get("request");
    const problems = [];
    let collection = wantedCollection;
    if (!overview.collections.includes(collection)) {
      if (collection) problems.push(`no collection "${collection}"`);
      const units = requestedCollections(overview);
      collection = overview.collections.find((c) => units.get(c) > 0) || overview.collections[0] || null;
    }
    let request = wantedRequest || null;
    if (request && !overview.requests.some((r) => r.name === request)) {
      problems.push(`no request "${request}"`);
      request = null;
    }
    if (problems.length) showMessage(`The link asks for ${problems.join(" and ")}: showing the default view.`);
    return { collection, request };
  }

  function writeQuery() {
    const query = new URLSearchParams(location.search);
    if (state.collection) query.set("collection", state.collection);
    else query.delete("collection");
    if (state.request) query.set("request", state.request);
    else query.delete("request");
    const search = query.toString();
    history.replaceState(null, "", location.pathname + (search ? "?" + search : "") + location.hash);
  }

  function fillSelect(id, options, selected) {
    const select = document.getElementById(id);
    select.replaceChildren(
      ...options.map(([value, label]) => el("option", { value, selected: value === selected }, label)),
    );
    select.value = selected;
    select.disabled = false;
  }

  function renderSelectors(overview) {
    const units = requestedCollections(overview);
    fillSelect(
      "collection",
      overview.collections.map((c) => [c, units.get(c) ? c : `${c} (not requested)`]),
      state.collection || "",
    );
    const requests = overview.requests.map((r) => [r.name, r.title ? `${r.name}: ${r.title}` : r.name]);
    fillSelect("request", [["", "all requests"], ...requests], state.request || "");
  }

  async function changeSelection(change) {
    Object.assign(state, change);
    state.generation += 1;
    writeQuery();
    renderOverview();
    try {
      await refreshCompleteness();
      showMessage("");
    } catch (error) {
      showMessage(error.message);
    }
    if (state.selectedTile) await showTile(state.selectedTile);
  }

  // ---------------------------------------------------------------------------------------------- data

  async function refreshCompleteness() {
    const generation = state.generation;
    if (!state.collection) {
      state.completeness = {};
    } else {
      const answer = await fetchJson("completeness", { collection: state.collection, request: state.request });
      if (generation !== state.generation) return; // the selection changed meanwhile
      state.completeness = answer.tiles || {};
    }
    restyleTiles();
  }

  async function refreshOverview() {
    state.overview = await fetchJson("overview");
    renderOverview();
  }

  /** Every minute: the overview, the completeness and the selected tile (never the tile geometries). */
  async function refresh() {
    try {
      await refreshOverview();
      await refreshCompleteness();
      if (state.selectedTile) await showTile(state.selectedTile);
      showMessage("");
    } catch (error) {
      showMessage(`Refresh failed: ${error.message}`);
    }
  }

  // ---------------------------------------------------------------------------------------------- side panel

  function renderOverview() {
    const overview = state.overview;
    if (!overview) return;
    document.getElementById("snapshot").textContent = `snapshot ${formatTime(overview.at)}`;
    renderSelectors(overview);
    renderProgress(overview);
    renderJobs(overview);
    renderLatency(overview);
    renderCampaigns(overview);
    renderFailures(overview);
  }

  function renderLegend() {
    const counts = new Map();
    tilesLayer.eachLayer((layer) => {
      const key = classOf(state.completeness[layer.feature.id]).key;
      counts.set(key, (counts.get(key) || 0) + 1);
    });
    replaceContent(
      "legend",
      [...CLASSES, NO_UNIT].map((cls) =>
        el(
          "li",
          { "data-class": cls.key },
          el("span", { class: "swatch", style: { background: cls.color } }),
          cls.label,
          el("span", { class: "count" }, plural(counts.get(cls.key) || 0, "tile")),
        ),
      ),
    );
  }

  function progressRow(row) {
    const c = completenessOf(row);
    const cls = c === null ? NO_UNIT : classOf(row);
    const width = c === null ? 0 : c * 100;
    const invalid = row.invalid ? ` + ${row.invalid} invalid` : "";
    const counts = row.units ? `${row.done}${invalid} / ${row.units} units · ${percent(c)}` : "no unit asked";
    return el(
      "div",
      { class: "progress-row", "data-collection": row.collection },
      el("span", {}, row.collection),
      el(
        "div",
        { class: "bar", title: stateSummary(row.states) },
        el("span", { style: { width: `${width}%`, background: cls.color } }),
      ),
      el("span", { class: "counts" }, counts),
    );
  }

  function renderProgress(overview) {
    if (!overview.requests.length) {
      replaceContent("progress", el("p", { class: "muted" }, "No production request."));
      return;
    }
    replaceContent(
      "progress",
      overview.requests.map((request) => {
        const period = `${request.start} → ${request.end || "ongoing"}`;
        const decision = request.decision === "left-out" ? " · left out" : "";
        const about = `${plural(request.tiles, "tile")} · ${period} · priority ${request.priority}${decision}`;
        return el(
          "div",
          { class: request.name === state.request ? "request selected" : "request", "data-request": request.name },
          el("h3", {}, request.name),
          el("div", { class: "muted" }, about),
          request.collections.map(progressRow),
        );
      }),
    );
  }

  function renderJobs(overview) {
    const columns = ["queued", "retrying", "running", "succeeded", "failed"];
    renderTable("jobs", overview.jobs, "collection", columns, "No job yet.");
  }

  function renderCampaigns(overview) {
    const columns = ["collection", "chain_version", "state", "priority", "queued", "running", "succeeded", "failed"];
    renderTable("campaigns", overview.campaigns, "campaign", columns, "No campaign.");
  }

  // A table of `rows` in the element `id`, one row per `key` (its first column, and the row's data-<key>).
  function renderTable(id, rows, key, columns, empty) {
    if (!rows.length) {
      replaceContent(id, el("p", { class: "muted" }, empty));
      return;
    }
    replaceContent(
      id,
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, el("th", {}, key), columns.map((c) => el("th", {}, c)))),
        el(
          "tbody",
          {},
          rows.map((row) =>
            el(
              "tr",
              { [`data-${key}`]: row[key] },
              el("td", {}, row[key]),
              columns.map((c) => el("td", {}, row[c] ?? 0)),
            ),
          ),
        ),
      ),
    );
  }

  /** "42 s", "12 min", "3.5 h", "2.1 d", as `hesp status` prints durations. */
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
    if (seconds < 36 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
    return `${(seconds / 86400).toFixed(1)} d`;
  }

  /** Acquisition to registered product per collection (median, 95th percentile), and the watched sources. */
  function renderLatency(overview) {
    const latency = overview.latency || { collections: [], sources: [] };
    const table = (headers, rows) =>
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
        el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))),
      );
    const products = latency.collections.length
      ? table(
          ["collection", "products", "median", "95 %"],
          latency.collections.map((c) => [c.collection, c.products, duration(c.median_s), duration(c.p95_s)]),
        )
      : el("p", { class: "muted" }, "No product registered by a job in the last 24 h.");
    const sources = latency.sources.length
      ? table(
          ["source", "newest acquisition", "age"],
          latency.sources.map((s) => [s.source, formatTime(s.newest_acquired), duration(s.age_s)]),
        )
      : null;
    replaceContent("latency", products, sources);
  }

  function failureItem(failure, now) {
    const retry = failure.state === "failed" ? "failed" : `will retry (${failure.state})`;
    let log = el("div", { class: "muted" }, "no log");
    if (failure.log_tail) {
      log = el("details", {}, el("summary", {}, "log tail"), el("pre", {}, failure.log_tail));
    } else if (failure.log_hidden) {
      const button = el("button", { type: "button", class: "token" }, "show log tails (API token)");
      button.addEventListener("click", () => askToken().catch((error) => showMessage(error.message)));
      log = el("div", { class: "muted" }, "log tail hidden: ", button);
    }
    return el(
      "div",
      { class: "failure", "data-job": failure.job },
      el(
        "div",
        {},
        el("span", { class: "kind" }, failure.kind),
        el("div", { class: "muted" }, `${failure.collection} · ${failure.tile} · job ${failure.job} · ${retry}`),
        el(
          "div",
          { class: "muted" },
          `attempt ${failure.attempts} · ${formatTime(failure.at)} (${ago(failure.at, now)})`,
        ),
      ),
      failure.error && failure.error !== failure.kind ? el("div", { class: "error" }, failure.error) : null,
      log,
    );
  }

  function renderFailures(overview) {
    const failures = overview.failures.filter((f) => !state.collection || f.collection === state.collection);
    const others = overview.failures.length - failures.length;
    const note = others ? el("p", { class: "muted" }, `${others} more in other collections.`) : null;
    if (!failures.length) {
      replaceContent("failures", el("p", { class: "muted" }, `No recent failure in ${state.collection}.`), note);
      return;
    }
    replaceContent("failures", failures.map((f) => failureItem(f, overview.at)), note);
  }

  // ---------------------------------------------------------------------------------------------- a tile

  async function selectTile(tile) {
    state.selectedTile = tile;
    highlight(tile);
    await showTile(tile);
  }

  async function showTile(tile) {
    const generation = state.generation;
    const collection = state.collection;
    let detail;
    try {
      detail = await fetchJson(`tiles/${encodeURIComponent(tile)}`, { collection });
    } catch (error) {
      replaceContent("tile-panel", el("h2", {}, `Tile ${tile}`), el("p", { class: "message" }, error.message));
      return;
    }
    if (generation !== state.generation || tile !== state.selectedTile) return;
    replaceContent("tile-panel", renderTile(detail));
  }

  /** The tile's units: of the selected request as on the map, else those the tile's answer counts (all requests). */
  function tileCounts(detail) {
    const counts = state.completeness[detail.tile];
    if (counts) return { counts, scope: state.request ? ` (request ${state.request})` : "" };
    if (detail.units) return { counts: detail, scope: " (all requests)" };
    return { counts: null, scope: "" };
  }

  function sortedStates(states) {
    const rank = (name) => (STATE_ORDER.includes(name) ? STATE_ORDER.indexOf(name) : STATE_ORDER.length);
    return Object.entries(states).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
  }

  function stateSummary(states) {
    return sortedStates(states || {})
      .map(([name, n]) => `${name}: ${n}`)
      .join(", ");
  }

  function renderTile(detail) {
    const { counts, scope } = tileCounts(detail);
    const c = completenessOf(counts);
    const summary = counts
      ? `${percent(c)} complete: ${counts.done} done + ${counts.invalid} invalid of ${counts.units} units${scope}`
      : `no unit of ${detail.collection} is asked on this tile`;
    const states = counts
      ? el(
          "ul",
          { class: "states" },
          sortedStates(counts.states || {}).map(([name, n]) => el("li", { "data-state": name }, `${name}: ${n}`)),
        )
      : null;
    return [
      el("h2", {}, `Tile ${detail.tile} · ${detail.collection}`),
      el("p", {}, summary),
      states,
      el("h3", {}, `Products (${detail.total}${detail.total > detail.products.length ? ", newest shown" : ""})`),
      detail.products.length
        ? el("ol", { class: "products" }, detail.products.map(productItem))
        : el("p", { class: "muted" }, "none"),
      el("h3", {}, `Open gaps (${detail.gaps.length})`),
      detail.gaps.length ? gapTable(detail.gaps) : el("p", { class: "muted" }, "none"),
    ];
  }

  function productItem(product) {
    return el(
      "li",
      {},
      el("a", { href: product.href }, product.id),
      el("div", { class: "muted" }, [
        formatTime(product.datetime),
        product.version ? ` · ${product.version}` : "",
        product.valid === false ? el("span", { class: "invalid-mark" }, " · invalid") : "",
      ]),
    );
  }

  function gapTable(gaps) {
    return el(
      "table",
      { class: "gaps" },
      el("thead", {}, el("tr", {}, el("th", {}, "acquired"), el("th", {}, "state"), el("th", {}, "reason"))),
      el(
        "tbody",
        {},
        gaps.map((gap) =>
          el(
            "tr",
            {},
            el("td", { class: "text" }, formatTime(gap.acquired)),
            el("td", { class: "text" }, gap.state),
            el("td", { class: "text" }, gap.reason || ""),
          ),
        ),
      ),
    );
  }

  // ---------------------------------------------------------------------------------------------- start

  async function start() {
    renderLegend();
    const countries = loadCountries();
    try {
      const [overview] = await Promise.all([fetchJson("overview"), loadTiles()]);
      state.overview = overview;
      Object.assign(state, chooseSelection(overview));
      writeQuery();
      renderOverview();
      await refreshCompleteness();
      await countries;
      await nextFrames(); // the canvas redraws on the next animation frame
      resolveReady(true);
    } catch (error) {
      showMessage(error.message);
      rejectReady(error);
      return;
    }
    document.getElementById("collection").addEventListener("change", (event) => {
      changeSelection({ collection: event.target.value });
    });
    document.getElementById("request").addEventListener("change", (event) => {
      changeSelection({ request: event.target.value || null });
    });
    setInterval(refresh, REFRESH_MS);
  }

  start();
})();
