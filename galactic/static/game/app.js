/* Galactic Conquest: the players' page. Plain JavaScript, no build step.
 *
 * Everything is read and changed through the JSON API (/api/, see CONTRACT.md) with the session
 * cookie; every POST carries the page's CSRF token (kept in the session, written into the page by
 * Django's {% csrf_token %}) in X-CSRFToken.
 *   - planets: resources tick client-side from `production` (per hour) since `as_of`;
 *   - fleets and probe missions: live countdowns to arrive_at / return_at; when one reaches zero
 *     the list is polled until the worker has moved the mission on;
 *   - reports: GET /api/reports lists the player's reports (unread ones marked); GET
 *     /api/reports/<id> opens one (which marks it read), drawn by kind (battle with both sides'
 *     starting forces, espionage, delivery);
 *   - dispatch: POST /api/fleets or /api/probes; each `fields` entry of an error answer is shown
 *     next to its input, the `detail` at the top of the form;
 *   - galaxy: GET /api/galaxy/<g>/<s>, with buttons that pick a target for the dispatch form.
 */
"use strict";

(() => {
  const body = document.body;
  const API = body.dataset.api.replace(/\/$/, "");
  const LOGIN_URL = body.dataset.loginUrl;
  const ME = body.dataset.username;
  const RESOURCES = ["metal", "crystal", "deuterium"];
  const POSITIONS = 15;

  const state = {
    clockOffset: null, // server clock minus browser clock, in ms (from the planets' `as_of`)
    planets: new Map(), // id -> planet detail, plus `asOfMs`
    names: new Map(), // planet id -> {name, coords}, for every planet the page has seen
    missions: new Map(), // "fleet-3" / "probes-7" -> last known status
    loadingFleets: null,
    fleetsSignature: "",
    lastMissions: null,
    lastPoll: 0,
    reportsSignature: "",
  };

  // ---- small helpers ------------------------------------------------------------------------

  /** Build an element: h("td", {class: "x"}, "text", childNode). Text is never parsed as HTML. */
  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const $ = (selector, root = document) => root.querySelector(selector);
  const numberFormat = new Intl.NumberFormat("en-US");
  const num = (n) => numberFormat.format(n);
  const words = (name) => name.replace(/_/g, " ");
  const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);
  const serverNow = () => Date.now() + (state.clockOffset || 0);
  const localTime = (iso) => new Date(Date.parse(iso) - (state.clockOffset || 0)).toLocaleTimeString();
  const planetName = (id) => (state.names.has(id) ? `${state.names.get(id).name} [${state.names.get(id).coords}]` : `planet #${id}`);
  const planetCoords = (id) => state.names.get(id)?.coords || `#${id}`;

  /** "0:07", "12:03", "1:02:03" */
  function clock(seconds) {
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const secs = String(seconds % 60).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
  }

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /** Call the API. Resolves to {ok, status, data}; an error's data is {error, detail, fields}. */
  async function api(method, path, payload) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = csrfToken();
      init.body = JSON.stringify(payload);
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch {
      return { ok: false, status: 0, data: { error: "network", detail: "The server cannot be reached. Try again.", fields: {} } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (response.status === 401) window.location.assign(LOGIN_URL); // the session has ended
    if (!response.ok && (!data || typeof data !== "object")) {
      data = { error: "error", detail: `The server answered ${response.status}.`, fields: {} };
    }
    return { ok: response.ok, status: response.status, data };
  }

  function amountList(amounts, { empty = "none", className = "amounts" } = {}) {
    const entries = Object.entries(amounts || {}).filter(([, n]) => n);
    if (!entries.length) return h("p", { class: "muted" }, empty);
    return h("ul", { class: className }, entries.map(([name, n]) => h("li", {}, h("span", {}, capital(words(name))), h("strong", {}, num(n)))));
  }

  function sectionError(container, message) {
    container.replaceChildren(h("p", { class: "form-status error", role: "alert" }, capital(message || "something went wrong.")));
    container.removeAttribute("aria-busy");
  }

  // ---- planets ------------------------------------------------------------------------------

  async function loadPlanets() {
    const container = $("#planet-list");
    const list = await api("GET", "/planets");
    if (!list.ok) return sectionError(container, list.data.detail);
    const details = await Promise.all(list.data.map((planet) => api("GET", `/planets/${planet.id}`)));
    state.planets.clear();
    for (const result of details) {
      if (!result.ok) continue;
      const planet = result.data;
      planet.asOfMs = Date.parse(planet.as_of);
      state.planets.set(planet.id, planet);
      state.names.set(planet.id, { name: planet.name, coords: planet.coords });
    }
    const first = details.find((result) => result.ok);
    if (first) {
      // Keep one offset (countdowns must not jitter by the request's latency); re-measure only
      // when the browser's clock has clearly jumped.
      const offset = Date.parse(first.data.as_of) - Date.now();
      if (state.clockOffset === null || Math.abs(offset - state.clockOffset) > 2000) state.clockOffset = offset;
    }
    renderPlanets(container);
    fillOrigins();
  }

  function renderPlanets(container) {
    container.removeAttribute("aria-busy");
    if (!state.planets.size) {
      container.replaceChildren(h("p", { class: "muted" }, "You have no planets."));
      return;
    }
    const cards = [...state.planets.values()].map((planet) =>
      h(
        "article",
        { class: "planet", dataset: { planetId: planet.id }, "aria-labelledby": `planet-${planet.id}-name` },
        h("h3", { id: `planet-${planet.id}-name` }, planet.name, " ", h("span", { class: "coords" }, `[${planet.coords}]`), h("span", { class: "muted small" }, ` id ${planet.id}`)),
        h(
          "dl",
          { class: "resources" },
          RESOURCES.map((name) =>
            h(
              "div",
              { class: `resource ${name}` },
              h("dt", {}, capital(name)),
              h("dd", {}, h("span", { class: "amount", dataset: { planet: planet.id, resource: name } }, num(planet.resources[name])), h("small", { class: "muted" }, ` +${num(planet.production[name])}/h`)),
            ),
          ),
        ),
        h("details", { open: true }, h("summary", {}, "Ships"), amountList(planet.ships, { empty: "No ships.", className: "amounts chips" })),
        h("details", {}, h("summary", {}, "Defences"), amountList(planet.defences, { empty: "No defences.", className: "amounts chips" })),
      ),
    );
    container.replaceChildren(...cards);
    tickResources();
  }

  /** Resources are settled by the server to `as_of`; add the production since then. */
  function tickResources() {
    const now = serverNow();
    for (const node of document.querySelectorAll(".amount[data-resource]")) {
      const planet = state.planets.get(Number(node.dataset.planet));
      if (!planet) continue;
      const name = node.dataset.resource;
      const hours = Math.max(0, now - planet.asOfMs) / 3_600_000;
      node.textContent = num(planet.resources[name] + Math.floor(planet.production[name] * hours));
    }
  }

  // ---- fleets and probe missions ------------------------------------------------------------

  async function loadFleets() {
    if (state.loadingFleets) return state.loadingFleets;
    state.loadingFleets = (async () => {
      const [fleets, probes] = await Promise.all([api("GET", "/fleets?limit=20"), api("GET", "/probes?limit=20")]);
      const container = $("#fleet-list");
      if (!fleets.ok) return sectionError(container, fleets.data.detail);
      const missions = [
        ...fleets.data.items.map((fleet) => ({ ...fleet, kind: "fleet" })),
        ...(probes.ok ? probes.data.items : []).map((mission) => ({ ...mission, kind: "probes" })),
      ].sort((a, b) => Date.parse(b.depart_at) - Date.parse(a.depart_at));
      let landed = false;
      for (const mission of missions) {
        const key = `${mission.kind}-${mission.id}`;
        const before = state.missions.get(key);
        if (before && before !== mission.status) landed = true; // arrived (stock changed) or home
        state.missions.set(key, mission.status);
      }
      state.lastMissions = missions;
      renderFleets(container, missions);
      if (landed) Promise.all([loadPlanets(), loadReports()]); // stock changed; maybe a new report
    })();
    try {
      await state.loadingFleets;
    } finally {
      state.loadingFleets = null;
      state.lastPoll = Date.now();
    }
  }

  function countdown(iso, active, doneText) {
    return h("time", { class: "countdown", datetime: iso, title: localTime(iso), dataset: { at: iso, active: String(active), done: doneText } }, "");
  }

  function renderFleets(container, missions) {
    container.removeAttribute("aria-busy");
    // Re-draw only when something changed: a focused "Read report" button keeps its focus.
    const signature = JSON.stringify(missions.map((m) => [m.kind, m.id, m.status, m.arrive_at, m.return_at, m.count, m.report?.id, planetName(m.origin), planetName(m.target)]));
    if (signature === state.fleetsSignature && container.querySelector("table")) return tickCountdowns();
    state.fleetsSignature = signature;
    if (!missions.length) {
      container.replaceChildren(h("p", { class: "muted" }, "Nothing in flight. Launch a fleet from the dispatch form."));
      return;
    }
    const rows = missions.map((mission) => {
      const isFleet = mission.kind === "fleet";
      const title = isFleet ? `${capital(mission.mission)} #${mission.id}` : `Espionage #${mission.id}`;
      const cargo = isFleet ? Object.values(mission.cargo).reduce((a, b) => a + b, 0) : 0;
      const what = isFleet ? Object.entries(mission.ships).map(([name, n]) => `${num(n)} ${words(name)}`).join(", ") || "no ships" : `${num(mission.count)} of ${num(mission.launched)} probes`;
      const finished = ["completed", "destroyed"].includes(mission.status);
      const arrive = mission.status === "outbound"
        ? countdown(mission.arrive_at, true, "arriving…")
        : h("span", { class: "done" }, mission.report ? "arrived" : "recalled");
      const back = finished
        ? h("span", { class: "done" }, mission.status === "destroyed" ? "lost" : "landed")
        : countdown(mission.return_at, mission.status === "returning", "landing…");
      const report = mission.report
        ? h("button", { type: "button", class: "link report-button", onclick: () => showReport(mission.report.id) }, "Read report")
        : h("span", { class: "muted" }, "—");
      return h(
        "tr",
        { dataset: { kind: mission.kind, id: mission.id, status: mission.status } },
        h("th", { scope: "row" }, title),
        h(
          "td",
          { class: "route" },
          h("span", { class: "coords" }, `${planetCoords(mission.origin)} → ${planetCoords(mission.target)}`),
          state.names.has(mission.target) ? h("div", { class: "muted small" }, state.names.get(mission.target).name) : null,
        ),
        h("td", {}, what, cargo ? h("div", { class: "muted small" }, `cargo ${num(cargo)}`) : null),
        h("td", { class: "status" }, h("span", { class: `badge ${mission.status}` }, mission.status)),
        h("td", { class: "arrive" }, arrive),
        h("td", { class: "return" }, back),
        h("td", { class: "report" }, report),
      );
    });
    const table = h(
      "table",
      { class: "fleets" },
      h("caption", { class: "visually-hidden" }, "Your fleets and probe missions, newest first"),
      h("thead", {}, h("tr", {}, ["Mission", "Route", "Ships", "Status", "Arrival", "Return", "Report"].map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, rows),
    );
    container.replaceChildren(h("div", { class: "table-wrap" }, table));
    tickCountdowns();
  }

  function tickCountdowns() {
    const now = serverNow();
    let overdue = -1; // ms since the oldest event that is due but not yet seen handled
    for (const node of document.querySelectorAll(".countdown")) {
      const ms = Date.parse(node.dataset.at) - now;
      const left = Math.max(0, Math.ceil(ms / 1000));
      node.dataset.remaining = String(left);
      node.textContent = left > 0 ? clock(left) : node.dataset.done;
      if (left === 0 && node.dataset.active === "true") overdue = Math.max(overdue, -ms);
    }
    // A countdown reached zero: a worker handles the event now, so poll until the status moves
    // (every second, then every 10 s if no worker seems to be running).
    const every = overdue > 30_000 ? 10_000 : 1000;
    if (overdue >= 0 && !state.loadingFleets && Date.now() - state.lastPoll > every) loadFleets();
  }

  // ---- reports ------------------------------------------------------------------------------

  async function showReport(id) {
    const view = $("#report-view");
    view.replaceChildren(h("p", { class: "muted" }, `Loading report #${id}…`));
    $("#report").scrollIntoView({ behavior: "smooth", block: "start" });
    const result = await api("GET", `/reports/${id}`);
    if (!result.ok) return sectionError(view, result.data.detail);
    const report = result.data;
    const draw = { battle: battleReport, espionage: espionageReport, delivery: deliveryReport }[report.kind] || rawReport;
    const heading = h("h3", { id: "report-heading", tabindex: "-1" }, `${capital(report.kind)} report #${report.id}`);
    const meta = h("p", { class: "muted" }, `${new Date(Date.parse(report.at)).toLocaleString()} · target ${planetName(report.target)}`);
    view.replaceChildren(h("article", { class: `report ${report.kind}`, dataset: { reportId: report.id, kind: report.kind } }, heading, meta, ...draw(report)));
    heading.focus({ preventScroll: true });
    if (report.unread) loadReports(); // opening it marked it read
  }

  const REPORT_TITLES = { battle: "Battle", espionage: "Espionage", delivery: "Delivery" };

  async function loadReports() {
    const result = await api("GET", "/reports?limit=20");
    const container = $("#report-list");
    if (!result.ok) return sectionError(container, result.data.detail);
    container.removeAttribute("aria-busy");
    const items = result.data.items;
    const signature = JSON.stringify(items.map((r) => [r.id, r.unread, planetName(r.target)]));
    if (signature === state.reportsSignature && container.firstChild) return;
    state.reportsSignature = signature;
    const unread = items.filter((r) => r.unread).length;
    const badge = $("#unread-count");
    badge.textContent = `${unread} unread`;
    badge.hidden = !unread;
    if (!items.length) {
      container.replaceChildren(h("p", { class: "muted" }, "No reports yet."));
      return;
    }
    container.replaceChildren(h("ul", { class: "report-list" }, items.map(reportItem)));
  }

  function reportItem(report) {
    const summary = {
      battle: () => OUTCOMES[report.outcome] || report.outcome,
      espionage: () => (report.discovered ? "spies discovered" : `accuracy ${Math.round((report.accuracy || 0) * 100)} %`),
      delivery: () => `${num(Object.values(report.delivered || {}).reduce((a, b) => a + b, 0))} delivered`,
    }[report.kind];
    return h(
      "li",
      { class: report.unread ? "unread" : "read", dataset: { reportId: report.id, kind: report.kind } },
      h(
        "button",
        { type: "button", class: "link", onclick: () => showReport(report.id) },
        report.unread ? h("span", { class: "dot", title: "unread" }, h("span", { class: "visually-hidden" }, "Unread: ")) : null,
        `${REPORT_TITLES[report.kind] || capital(report.kind)} #${report.id}`,
      ),
      h("span", { class: "muted small" }, ` ${planetCoords(report.target)} · ${localTime(report.at)}${summary ? " · " + summary() : ""}`),
    );
  }

  const OUTCOMES = { attacker: "Victory for the attacker", defender: "The defender holds", draw: "Draw" };

  function battleReport(report) {
    const losses = report.losses || { attacker: {}, defender: {} };
    const units = [...new Set([...Object.keys(losses.attacker || {}), ...Object.keys(losses.defender || {})])];
    return [
      h("p", { class: `outcome ${report.outcome}` }, h("strong", {}, OUTCOMES[report.outcome] || report.outcome), ` after ${report.rounds} round${report.rounds === 1 ? "" : "s"}`, h("span", { class: "muted small" }, ` (seed ${report.seed})`)),
      h("div", { class: "report-grid" },
        h("section", { class: "loot", "aria-label": "Loot" }, h("h4", {}, "Loot"), amountList(report.loot, { empty: "No loot." })),
        h("section", { class: "debris", "aria-label": "Debris" }, h("h4", {}, "Debris"), amountList(report.debris, { empty: "No debris." })),
        report.attacker_ships ? h("section", { "aria-label": "Fleet sent" }, h("h4", {}, "Fleet sent"), amountList(report.attacker_ships)) : null,
      ),
      h("h4", {}, "Losses"),
      units.length
        ? h("table", { class: "losses" },
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Unit"), h("th", { scope: "col" }, "Attacker lost"), h("th", { scope: "col" }, "Defender lost"))),
            h("tbody", {}, units.map((unit) => h("tr", {}, h("th", { scope: "row" }, capital(words(unit))), h("td", {}, num(losses.attacker?.[unit] || 0)), h("td", {}, num(losses.defender?.[unit] || 0))))))
        : h("p", { class: "muted" }, "No losses."),
      report.rebuilt && Object.keys(report.rebuilt).length ? h("div", {}, h("h4", {}, "Defences rebuilt"), amountList(report.rebuilt)) : null,
      report.forces ? startingForces(report.forces) : null,
    ];
  }

  /** Both sides as the battle began: what the seed replays (manage.py replay_battle). */
  function startingForces(forces) {
    const side = (name) => ({ ...(forces[name].ships || {}), ...(forces[name].defences || {}) });
    const attacker = side("attacker");
    const defender = side("defender");
    const units = [...new Set([...Object.keys(attacker), ...Object.keys(defender)])];
    const tech = (name) => ["weapons", "shielding", "armour"].map((t) => forces[name].technology?.[t] ?? 0).join(" / ");
    return h("section", { class: "forces", "aria-label": "Starting forces" },
      h("h4", {}, "Starting forces"),
      h("table", { class: "losses" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Unit"), h("th", { scope: "col" }, "Attacker"), h("th", { scope: "col" }, "Defender"))),
        h("tbody", {},
          units.map((unit) => h("tr", {}, h("th", { scope: "row" }, capital(words(unit))), h("td", {}, num(attacker[unit] || 0)), h("td", {}, num(defender[unit] || 0)))),
          h("tr", { class: "tech" }, h("th", { scope: "row" }, "Weapons / shielding / armour"), h("td", {}, tech("attacker")), h("td", {}, tech("defender"))),
        ),
      ),
    );
  }

  function espionageReport(report) {
    const section = (name, title) => h("section", { "aria-label": title }, h("h4", {}, title), name in report ? amountList(report[name], { empty: "None." }) : h("p", { class: "muted" }, "Not revealed."));
    const parts = [
      h("p", { class: "outcome" }, h("strong", {}, `Accuracy ${Math.round((report.accuracy || 0) * 100)} %`), ` · ${num(report.probes ?? 0)} probes · `, report.discovered ? `discovered (chance ${report.discovery_chance} %)` : `unseen (chance ${report.discovery_chance ?? 0} %)`),
      h("div", { class: "report-grid" }, section("resources", "Resources"), section("ships", "Ships"), section("defences", "Defences"), section("technology", "Technology")),
    ];
    if (report.battle) parts.push(h("h4", {}, "Skirmish"), ...battleReport({ ...report.battle, loot: {} }).slice(0, 1));
    if (report.battle && report.forces) parts.push(startingForces(report.forces));
    return parts;
  }

  function deliveryReport(report) {
    return [h("h4", {}, "Delivered"), amountList(report.delivered, { empty: "Nothing." })];
  }

  function rawReport(report) {
    return [h("pre", {}, JSON.stringify(report, null, 2))];
  }

  // ---- dispatch -----------------------------------------------------------------------------

  const form = $("#dispatch-form");
  const formStatus = $("#dispatch-status");

  function fillOrigins() {
    const select = form.elements.origin;
    const chosen = select.value;
    select.replaceChildren(...[...state.planets.values()].map((planet) => h("option", { value: planet.id }, `${planet.name} [${planet.coords}]`)));
    if (chosen && state.planets.has(Number(chosen))) select.value = chosen;
    showAvailable();
  }

  function showAvailable() {
    const planet = state.planets.get(Number(form.elements.origin.value));
    for (const node of form.querySelectorAll("[data-available]")) {
      node.textContent = planet ? `${num(planet.ships[node.dataset.available] || 0)} available` : "";
    }
  }

  function chooseKind(kind) {
    for (const radio of form.elements.kind) radio.checked = radio.value === kind;
    for (const group of form.querySelectorAll("fieldset[data-kind]")) {
      const on = group.dataset.kind === kind;
      group.hidden = !on;
      group.disabled = !on;
    }
    $("#d-submit").textContent = kind === "fleet" ? "Launch fleet" : "Launch probes";
    clearErrors(form, formStatus);
  }

  /** A whole number from an input; "" when empty, the raw text when not a number (the API says why). */
  function wholeNumber(input) {
    const text = input.value.trim();
    if (text === "") return "";
    const n = Number(text);
    return Number.isInteger(n) ? n : text;
  }

  function dispatchPayload(kind) {
    const payload = {};
    const origin = wholeNumber(form.elements.origin);
    const target = wholeNumber(form.elements.target);
    if (origin !== "") payload.origin = origin;
    if (target !== "") payload.target = target;
    payload.speed = Number(form.elements.speed.value);
    if (kind === "probes") {
      const count = wholeNumber(form.elements.count);
      if (count !== "") payload.count = count;
      return payload;
    }
    payload.mission = form.elements.mission.value;
    payload.ships = {};
    for (const input of form.querySelectorAll("[data-ship]")) {
      const n = wholeNumber(input);
      if (n !== "" && n !== 0) payload.ships[input.dataset.ship] = n;
    }
    payload.cargo = {};
    for (const input of form.querySelectorAll("[data-cargo]")) {
      const n = wholeNumber(input);
      if (n !== "" && n !== 0) payload.cargo[input.dataset.cargo] = n;
    }
    return payload;
  }

  function clearErrors(target, status) {
    for (const node of target.querySelectorAll("[data-error-for]")) {
      node.textContent = "";
      node.hidden = true;
    }
    for (const node of target.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    status.hidden = true;
    status.className = "form-status";
    status.replaceChildren();
  }

  /** Put each `fields` entry next to its input; the `detail` (and any field without a place) on top. */
  function showErrors(target, status, error) {
    const elsewhere = [];
    let firstInput = null;
    for (const [key, message] of Object.entries(error.fields || {})) {
      const slot = target.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
      if (!slot || slot.closest("fieldset[disabled]")) {
        elsewhere.push(`${key}: ${message}`);
        continue;
      }
      slot.textContent = message;
      slot.hidden = false;
      const input = target.querySelector(`[name="${CSS.escape(key)}"]`);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        firstInput ??= input;
      }
    }
    status.className = "form-status error";
    status.replaceChildren(h("p", {}, h("strong", {}, capital(error.detail || "the request was refused."))));
    if (elsewhere.length) status.append(h("ul", {}, elsewhere.map((line) => h("li", {}, line))));
    status.hidden = false;
    return firstInput;
  }

  function showSuccess(status, message) {
    status.className = "form-status ok";
    status.replaceChildren(h("p", {}, message));
    status.hidden = false;
  }

  async function submitDispatch(event) {
    event.preventDefault();
    const kind = form.elements.kind.value;
    clearErrors(form, formStatus);
    const button = $("#d-submit");
    button.disabled = true;
    const result = await api("POST", kind === "fleet" ? "/fleets" : "/probes", dispatchPayload(kind));
    button.disabled = false;
    if (!result.ok) {
      showErrors(form, formStatus, result.data);
      return;
    }
    const sent = result.data;
    const seconds = Math.max(0, Math.ceil((Date.parse(sent.arrive_at) - serverNow()) / 1000));
    showSuccess(formStatus, `${kind === "fleet" ? `Fleet #${sent.id} (${sent.mission})` : `Probe mission #${sent.id}`} launched to ${planetName(sent.target)}: arrives in ${clock(seconds)}, uses ${num(sent.fuel)} deuterium.`);
    for (const input of form.querySelectorAll("[data-ship], [data-cargo]")) input.value = "";
    await Promise.all([loadFleets(), loadPlanets()]);
  }

  /** From the galaxy view: fill the target (and the kind of mission) in the dispatch form. */
  function pickTarget(planetId, kind, mission) {
    chooseKind(kind);
    if (mission) form.elements.mission.value = mission;
    form.elements.target.value = planetId;
    $("#d-target-hint").textContent = `Target: ${planetName(planetId)}.`;
    $("#dispatch").scrollIntoView({ behavior: "smooth", block: "start" });
    form.elements.target.focus({ preventScroll: true });
  }

  // ---- galaxy -------------------------------------------------------------------------------

  const galaxyForm = $("#galaxy-form");
  const galaxyStatus = $("#galaxy-status");

  async function loadGalaxy() {
    clearErrors(galaxyForm, galaxyStatus);
    const galaxy = wholeNumber(galaxyForm.elements.galaxy);
    const system = wholeNumber(galaxyForm.elements.system);
    const view = $("#galaxy-view");
    const result = await api("GET", `/galaxy/${encodeURIComponent(galaxy)}/${encodeURIComponent(system)}`);
    if (!result.ok) {
      showErrors(galaxyForm, galaxyStatus, result.data);
      view.replaceChildren();
      return;
    }
    const byPosition = new Map();
    for (const planet of result.data.planets) {
      byPosition.set(Number(planet.coords.split(":")[2]), planet);
      state.names.set(planet.id, { name: planet.name, coords: planet.coords });
    }
    const rows = [];
    for (let position = 1; position <= POSITIONS; position += 1) {
      const planet = byPosition.get(position);
      if (!planet) {
        rows.push(h("tr", { class: "empty" }, h("th", { scope: "row" }, position), h("td", { colspan: 4, class: "muted" }, "empty space")));
        continue;
      }
      const mine = planet.owner === ME;
      const who = planet.npc
        ? h("span", { class: `badge npc ${planet.npc.state}` }, `NPC tier ${planet.npc.tier} · ${planet.npc.state}`)
        : mine ? h("span", { class: "badge mine" }, "you") : planet.owner;
      const actions = mine
        ? [h("button", { type: "button", class: "small", onclick: () => pickTarget(planet.id, "fleet", "transport") }, "Transport")]
        : [
            h("button", { type: "button", class: "small", onclick: () => pickTarget(planet.id, "fleet", "attack") }, "Attack"),
            h("button", { type: "button", class: "small", onclick: () => pickTarget(planet.id, "probes") }, "Spy"),
            planet.npc ? null : h("button", { type: "button", class: "small", onclick: () => pickTarget(planet.id, "fleet", "transport") }, "Transport"),
          ];
      rows.push(
        h(
          "tr",
          { dataset: { planetId: planet.id }, class: mine ? "mine" : planet.npc ? "npc" : "" },
          h("th", { scope: "row" }, position),
          h("td", {}, planet.name),
          h("td", {}, who),
          h("td", { class: "muted" }, planet.id),
          h("td", {}, h("div", { class: "actions" }, actions)),
        ),
      );
    }
    if (state.lastMissions) renderFleets($("#fleet-list"), state.lastMissions); // new names for routes
    view.replaceChildren(
      h("div", { class: "table-wrap" },
        h("table", { class: "galaxy" },
          h("caption", {}, `System ${result.data.galaxy}:${result.data.system}`),
          h("thead", {}, h("tr", {}, ["Pos.", "Planet", "Owner", "Id", ""].map((label) => h("th", { scope: "col" }, label)))),
          h("tbody", {}, rows),
        ),
      ),
    );
  }

  function stepSystem(delta) {
    const input = galaxyForm.elements.system;
    const next = Number(input.value) + delta;
    if (next >= Number(input.min) && next <= Number(input.max)) {
      input.value = next;
      loadGalaxy();
    }
  }

  // ---- start --------------------------------------------------------------------------------

  form.addEventListener("submit", submitDispatch);
  form.elements.origin.addEventListener("change", showAvailable);
  for (const radio of form.elements.kind) radio.addEventListener("change", () => chooseKind(radio.value));
  galaxyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    loadGalaxy();
  });
  $("#g-prev").addEventListener("click", () => stepSystem(-1));
  $("#g-next").addEventListener("click", () => stepSystem(1));

  chooseKind("fleet");
  loadPlanets().then(() => Promise.all([loadFleets(), loadReports(), loadGalaxy()]));
  setInterval(tickResources, 1000);
  setInterval(tickCountdowns, 250);
  setInterval(() => {
    if (!document.hidden) Promise.all([loadFleets(), loadReports()]);
  }, 15000);
})();
