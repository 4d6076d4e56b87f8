// The ace-supervisor dashboard: plain JavaScript, no library, no build step.
//
// It shows GET /dashboard/state (one snapshot of everything) and fetches it again whenever the live feed
// (GET /events/stream, server-sent events read through fetch so the key travels in a header) says the
// state moved or an event was logged, and every "Refresh every" seconds whatever the feed does (the
// polling fallback, and the streams' speeds, which change without a state change). The API key is asked
// once and kept in sessionStorage only (this tab, until it closes).
"use strict";

(() => {
  const KEY_STORE = "ace-supervisor.api-key";
  const INTERVAL_STORE = "ace-supervisor.refresh-seconds";
  const FEED_RETRY_MS = 2000;
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const readOnly = body.dataset.readOnly === "true";
  const keyNeeded = body.dataset.keyNeeded === "true";

  let key = sessionStorage.getItem(KEY_STORE);
  let snapshot = null;
  let timer = null;
  let feed = null; // the AbortController of the open feed
  let feedLive = false;
  let lastEventId = null;
  let fetching = null; // the snapshot request under way
  let again = false; // the state moved while it was under way
  let afterKey = null; // what to do once a key is entered

  // ---- formatting -------------------------------------------------------------------------------------
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else if (name.startsWith("data-") || name.startsWith("aria-") || name === "role" || name === "title") node.setAttribute(name, value);
      else node[name] = value;
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  };
  const seconds = (iso) => (Date.now() - Date.parse(iso)) / 1000;
  const span = (s) => {
    if (s < 0) s = 0;
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${Math.round(s / 86400)} d`;
  };
  const ago = (iso) => (iso ? `${span(seconds(iso))} ago` : "never");
  const bytes = (n) => {
    if (n === null || n === undefined) return "–";
    const units = ["B", "kB", "MB", "GB", "TB"];
    let value = n, unit = 0;
    while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
    return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
  };
  const kbps = (n) => (n === null || n === undefined ? "–" : `${n} KB/s`);
  const badge = (text, kind) => el("span", { class: `badge ${kind || text}`, text });
  const short = (text, n = 24) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
  const detailOf = (answer) => {
    const detail = answer && answer.body ? answer.body.detail : null;
    if (typeof detail === "string") return detail;
    if (detail && detail.message) return detail.message;
    return detail ? JSON.stringify(detail) : `HTTP ${answer ? answer.status : "?"}`;
  };

  // ---- messages ---------------------------------------------------------------------------------------
  const notice = (text) => {
    const box = $("notice");
    box.textContent = text || "";
    box.hidden = !text;
  };
  const outcome = (text, ok) => {
    const box = $("outcome");
    box.textContent = text;
    box.className = `outcome ${ok ? "ok" : "failed"}`;
    box.hidden = false;
  };
  const setLive = (text, kind) => {
    const live = $("live");
    live.textContent = text;
    live.className = `live ${kind}`;
  };

  // ---- the key ----------------------------------------------------------------------------------------
  const authHeaders = () => (key ? { Authorization: `Bearer ${key}` } : {});
  const keyButton = () => { $("key-button").textContent = key ? "Forget API key" : "Enter API key"; };
  const askKey = (why, then) => {
    afterKey = then || null;
    $("key-error").textContent = why || "";
    const dialog = $("key-dialog");
    if (!dialog.open) {
      $("key-input").value = "";
      dialog.showModal();
    }
    $("key-input").focus();
  };
  const refusedMessage = (status) =>
    status === 401
      ? "This needs the supervisor's API key: enter it to go on."
      : "The API key was refused (403): it is not this supervisor's key. Enter the right one.";
  // A 401 or 403: the key is missing or wrong. Forget it and ask again, saying which.
  const refused = (status, then) => {
    key = null;
    sessionStorage.removeItem(KEY_STORE);
    keyButton();
    const message = refusedMessage(status);
    notice(message);
    askKey(message, then);
  };

  // ---- talking to the supervisor -----------------------------------------------------------------------
  const api = async (method, path) => {
    const answer = await fetch(path, {
      method,
      headers: { Accept: "application/json", ...authHeaders() },
      cache: "no-store",
    });
    let parsed = null;
    try { parsed = await answer.json(); } catch (_) { parsed = null; }
    return { status: answer.status, ok: answer.ok, body: parsed };
  };

  const statePath = () => {
    const query = new URLSearchParams();
    if ($("event-type").value) query.set("event_type", $("event-type").value);
    if ($("event-engine").value) query.set("event_engine", $("event-engine").value);
    const text = query.toString();
    return text ? `/dashboard/state?${text}` : "/dashboard/state";
  };

  const refresh = async () => {
    if (keyNeeded && !readOnly && !key) return; // nothing is shown before the key is entered
    if (fetching) { again = true; return fetching; }
    fetching = (async () => {
      try {
        const answer = await api("GET", statePath());
        if (answer.status === 401 || answer.status === 403) { refused(answer.status, start); return; }
        if (!answer.ok) { notice(`The supervisor answered ${answer.status}: ${detailOf(answer)}`); return; }
        notice("");
        snapshot = answer.body;
        render(snapshot);
        if (!feed) openFeed();
      } catch (error) {
        notice(`The supervisor does not answer (${error.message}); trying again every ${interval()} s.`);
        setLive("unreachable", "down");
      }
    })();
    try { await fetching; } finally { fetching = null; }
    if (again) { again = false; await refresh(); }
  };

  // The live feed: server-sent events over fetch (EventSource cannot send the key in a header).
  const openFeed = () => {
    const controller = new AbortController();
    feed = controller;
    const headers = { Accept: "text/event-stream", ...authHeaders() };
    if (lastEventId !== null) headers["Last-Event-ID"] = String(lastEventId);
    (async () => {
      try {
        const answer = await fetch("/events/stream", { headers, signal: controller.signal, cache: "no-store" });
        if (answer.status === 401 || answer.status === 403) { feed = null; refused(answer.status, start); return; }
        if (!answer.ok || !answer.body) throw new Error(`HTTP ${answer.status}`);
        const reader = answer.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "", held = ""; // a CR at a chunk's end may be the first half of a CRLF
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const text = held + decoder.decode(value, { stream: true });
          held = text.endsWith("\r") ? "\r" : "";
          buffer += (held ? text.slice(0, -1) : text).replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            received(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
        throw new Error("the feed ended");
      } catch (error) {
        if (controller.signal.aborted) return;
        feedLive = false;
        setLive(`polling every ${interval()} s`, "polling");
        setTimeout(() => { if (feed === controller) { feed = null; openFeed(); } }, FEED_RETRY_MS);
      }
    })();
  };

  const received = (block) => {
    let type = "message", data = "", id = null;
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
      else if (field === "id") id = value;
    }
    if (id !== null && /^\d+$/.test(id)) lastEventId = Number(id);
    if (!feedLive) { feedLive = true; setLive("live", "live"); }
    if (type === "hello") { if (lastEventId === null) lastEventId = JSON.parse(data).event_id; refresh(); }
    else if (type === "log" || type === "state") refresh();
  };

  const closeFeed = () => {
    if (feed) feed.abort();
    feed = null;
    feedLive = false;
  };

  const interval = () => Number($("interval").value);
  const schedule = () => {
    if (timer) clearInterval(timer);
    timer = setInterval(refresh, interval() * 1000);
  };

  // ---- rendering --------------------------------------------------------------------------------------
  const setText = (id, text) => { $(id).textContent = text; };

  const render = (state) => {
    const status = state.status;
    const rows = state.engines;
    const engines = rows.map((row) => row.engine);
    const offered = engines.filter((engine) => engine.withdrawn === null);
    const perEngine = state.scale.max_streams_per_engine;
    const carried = offered.reduce((sum, engine) => sum + engine.streams.length, 0);
    const slots = offered.length * perEngine;

    setText("kpi-engines-total", status.engines.total);
    setText("kpi-engines-ready", engines.filter((engine) => engine.phase === "ready").length);
    setText("kpi-engines-unhealthy", status.engines.unhealthy);
    setText("kpi-engines-withdrawn", state.health.engines.withdrawn);
    setText("kpi-streams-active", status.streams.active);
    setText("kpi-capacity-used", `${Math.min(carried, slots)} of ${slots} streams`);
    setText("kpi-capacity-free", `${Math.max(0, slots - carried)} streams`);
    setText("kpi-standby", `${status.standby.ready} of ${status.standby.wanted}`);
    const provisioning = status.provisioning;
    const blocked = provisioning.blocked_reason_details;
    $("kpi-provisioning").replaceChildren(
      provisioning.can_provision
        ? badge("possible", "ok")
        : el("span", {},
          badge(`blocked: ${provisioning.blocked_reason}`, "bad"),
          el("span", { class: "why", text: ` ${blocked ? blocked.message : ""}${blocked && blocked.recovery_eta_seconds ? ` (expected in ${span(blocked.recovery_eta_seconds)})` : ""}` })),
    );
    $("kpi-provisioning").dataset.canProvision = String(provisioning.can_provision);
    $("kpi-vpn").replaceChildren(
      ...(state.vpn.vpns.length
        ? state.vpn.vpns.map((vpn) => el("span", { class: "vpn-state" }, `${vpn.name} `, badge(vpn.connected ? vpn.status : vpn.status || "down", vpn.connected ? "ok" : "bad")))
        : [el("span", { text: "none (standalone: engines publish on the host)" })]),
    );

    const breaker = state.health.circuit_breaker;
    $("breaker").replaceChildren("Circuit breaker: ", badge(breaker.state, breaker.state === "closed" ? "ok" : "bad"),
      ` ${breaker.failures} of ${breaker.threshold} failures`,
      breaker.last_failure ? ` · last: ${breaker.last_failure}` : "",
      breaker.recovery_eta_seconds ? ` · trial in ${span(breaker.recovery_eta_seconds)}` : "");
    $("docker").replaceChildren("Docker daemon: ", state.health.docker_reachable ? badge("answers", "ok") : badge("unreachable", "bad"),
      state.health.docker_failure ? ` ${state.health.docker_failure}` : "");
    const image = state.image;
    $("image").replaceChildren("Engine image: ", el("code", { text: image.reference }), " ",
      image.missing ? badge("missing", "bad") : badge(image.current_id ? image.current_id.replace("sha256:", "").slice(0, 12) : "unknown", "neutral"),
      image.missing ? ` ${image.missing}` : image.checked_at ? ` · checked ${ago(image.checked_at)}` : "");
    const scale = $("scale-n");
    if (document.activeElement !== scale && !scale.value) scale.value = state.scale.desired ?? state.health.engines.minimum_required ?? state.scale.min_replicas;

    renderEngines(rows, perEngine);
    renderStreams(state.streams);
    renderVpns(state.vpn, engines);
    renderEvents(state.events, engines);
  };

  const renderEngines = (rows, perEngine) => {
    const body = $("engines").tBodies[0];
    body.replaceChildren(...rows.map(({ engine, image }) => {
      const phase = el("td", {}, badge(engine.phase));
      if (engine.withdrawn) phase.append(" ", badge(`withdrawn: ${engine.withdrawn}`, "bad"));
      const remove = el("button", { type: "button", class: "danger", text: "Remove", "aria-label": `Remove engine ${engine.container_name}` });
      remove.addEventListener("click", () => removeEngine(engine));
      return el("tr", { "data-engine-id": engine.container_id, "data-phase": engine.phase, "data-withdrawn": engine.withdrawn || "" },
        el("th", { scope: "row", text: engine.container_name, title: engine.container_id }),
        el("td", { text: engine.vpn || "host" }),
        el("td", { text: engine.port }),
        el("td", {}, engine.forwarded ? badge("forwarded", "ok") : "–"),
        phase,
        el("td", {}, badge(engine.health_status), el("span", { class: "when", text: ` ${engine.last_health_check ? `checked ${ago(engine.last_health_check)}` : "not checked yet"}` })),
        el("td", { text: `${engine.streams.length} / ${perEngine}` }),
        el("td", { text: bytes(engine.cache_size_bytes) }),
        el("td", { "data-image-built": image.built || "" },
          image.outdated ? badge("outdated", "bad") : badge("current", "neutral"),
          el("span", { text: image.built ? ` ${span(seconds(image.built))} old` : " age unknown" }),
          image.id ? el("code", { class: "when", text: ` ${image.id.replace("sha256:", "").slice(0, 12)}` }) : ""),
        el("td", { text: span(seconds(engine.first_seen)) }),
        el("td", {}, remove));
    }));
    $("engines-empty").hidden = rows.length > 0;
  };

  const chart = (stats) => {
    const width = 120, height = 32;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("role", "img");
    const downs = stats.map((s) => s.speed_down || 0), ups = stats.map((s) => s.speed_up || 0);
    const top = Math.max(1, ...downs, ...ups);
    const minutes = stats.length > 1 ? span(seconds(stats[0].at)) : "no time yet";
    const label = `Speeds over the last ${minutes}: down ${downs.length ? downs[downs.length - 1] : 0} KB/s, up ${ups.length ? ups[ups.length - 1] : 0} KB/s, peak ${top} KB/s`;
    const title = document.createElementNS(ns, "title");
    title.textContent = label;
    svg.append(title);
    svg.setAttribute("aria-label", label);
    for (const [values, kind] of [[downs, "down"], [ups, "up"]]) {
      if (values.length < 2) continue;
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("class", `line ${kind}`);
      line.setAttribute("points", values.map((v, i) => `${(i * width) / (values.length - 1)},${height - 1 - (v * (height - 2)) / top}`).join(" "));
      svg.append(line);
    }
    return svg;
  };

  const renderStreams = (rows) => {
    const body = $("streams").tBodies[0];
    body.replaceChildren(...rows.map(({ stream, engine_name: engineName, stats }) => {
      const last = stats.length ? stats[stats.length - 1] : null;
      const stop = el("button", { type: "button", class: "danger", text: "Stop", "aria-label": `Stop stream ${stream.id}` });
      stop.addEventListener("click", () => stopStream(stream));
      return el("tr", { "data-stream-id": stream.id, "data-peers": last && last.peers !== null ? String(last.peers) : "" },
        el("th", { scope: "row", title: stream.id }, el("span", { class: "when", text: `${stream.key_type} ` }), short(stream.key)),
        el("td", { text: engineName || stream.container_id.slice(0, 12) }),
        el("td", { text: ago(stream.started_at) }),
        el("td", { text: last && last.peers !== null ? last.peers : "–" }),
        el("td", { text: kbps(last ? last.speed_down : null) }),
        el("td", { text: kbps(last ? last.speed_up : null) }),
        el("td", {}, chart(stats)),
        el("td", {}, stop));
    }));
    $("streams-empty").hidden = rows.length > 0;
  };

  const renderVpns = (vpn, engines) => {
    const box = $("vpns");
    if (!vpn.vpns.length) {
      box.replaceChildren(el("p", { class: "empty", text: `No VPN: ${vpn.mode} mode, engines publish their ports on the host.` }));
      return;
    }
    box.replaceChildren(...vpn.vpns.map((one) => {
      const behind = engines.filter((engine) => engine.vpn === one.name);
      const id = `vpn-${one.name}`;
      return el("article", { class: "card", "aria-labelledby": id, "data-vpn": one.name },
        el("h3", { id }, `${one.name} `, badge(one.connected ? one.status : one.status || "down", one.connected ? "ok" : "bad")),
        el("dl", {},
          el("dt", { text: "Container" }), el("dd", { text: one.container || "missing" }),
          el("dt", { text: "Public IP" }), el("dd", { text: one.public_ip || "–" }),
          el("dt", { text: "Forwarded ports" }), el("dd", { text: one.forwarded_ports.length ? one.forwarded_ports.join(", ") : "none" }),
          el("dt", { text: "Last check" }), el("dd", { text: ago(one.last_check) }),
          el("dt", { text: `Engines (${behind.length})` }), el("dd", { text: behind.length ? behind.map((engine) => engine.container_name).join(", ") : "none" })));
    }));
  };

  const renderEvents = (events, engines) => {
    const select = $("event-engine");
    const chosen = select.value;
    const names = [...new Set(engines.map((engine) => engine.container_name).concat(chosen ? [chosen] : []))].sort();
    const current = [...select.options].slice(1).map((option) => option.value);
    if (names.join("\n") !== current.join("\n")) {
      select.replaceChildren(el("option", { value: "", text: "every engine" }), ...names.map((name) => el("option", { value: name, text: name })));
      select.value = chosen;
    }
    $("events").tBodies[0].replaceChildren(...events.map((event) =>
      el("tr", { "data-event-id": event.id, "data-type": event.type },
        el("td", { text: new Date(event.at).toLocaleTimeString(), title: event.at }),
        el("td", {}, badge(event.type, "neutral")),
        el("td", { text: event.engine_name || "–" }),
        el("td", { text: event.message }))));
    $("events-empty").hidden = events.length > 0;
  };

  // ---- actions ----------------------------------------------------------------------------------------
  const confirmed = (text) => new Promise((resolve) => {
    const dialog = $("confirm-dialog");
    $("confirm-text").textContent = text;
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
    $("confirm-no").focus();
  });

  // Confirm, make sure a key is there, send, and say what came of it.
  const act = async (question, method, path, success) => {
    if (!(await confirmed(question))) return;
    if (keyNeeded && !key) { askKey("This action needs the API key.", () => send(method, path, success)); return; }
    await send(method, path, success);
  };
  const send = async (method, path, success) => {
    let answer;
    try {
      answer = await api(method, path);
    } catch (error) {
      outcome(`Not done: the supervisor does not answer (${error.message}).`, false);
      return;
    }
    if (answer.status === 401 || answer.status === 403) {
      outcome(`Not done: ${refusedMessage(answer.status)}`, false);
      refused(answer.status, () => send(method, path, success));
      return;
    }
    if (!answer.ok) { outcome(`Not done (${answer.status}): ${detailOf(answer)}`, false); return; }
    outcome(success(answer.body), true);
    refresh();
  };

  const removeEngine = (engine) => act(
    `Remove engine ${engine.container_name}? Its ${engine.streams.length} stream(s) end.`,
    "DELETE", `/engines/${encodeURIComponent(engine.container_id)}`,
    (removed) => `Engine ${removed.container_name} removed.`);
  const stopStream = (stream) => act(
    `Stop stream ${stream.id}? Its viewers lose it.`,
    "POST", `/streams/${encodeURIComponent(stream.id)}/stop`,
    (stopped) => `Stream ${stopped.stream.id} stopped${stopped.engine_confirmed ? " (the engine confirmed)" : " (the engine did not answer; ended all the same)"}.`);
  const resetBreaker = () => act(
    "Reset the circuit breaker? Provisioning resumes at once.",
    "POST", "/health/circuit-breaker/reset",
    (breaker) => `Circuit breaker reset: it is ${breaker.state} now.`);
  const scaleTo = (n) => act(
    `Scale to ${n} engine(s)?`,
    "POST", `/scale/${n}`,
    (scaled) => `Scaling to ${scaled.desired} engine(s) (${scaled.engines} now; the stack allows ${scaled.min_replicas} to ${scaled.max_replicas}).`);

  // ---- wiring -----------------------------------------------------------------------------------------
  // Start (or start again with a new key): the snapshot, then the feed.
  const start = () => {
    closeFeed();
    keyButton();
    if (keyNeeded && !readOnly && !key) {
      setLive("waiting for the key", "polling");
      askKey("Enter the API key to see this stack.", start);
      return;
    }
    refresh();
  };

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("key-input").value.trim();
    if (!value) { $("key-error").textContent = "Enter the key (it cannot be empty)."; return; }
    key = value;
    sessionStorage.setItem(KEY_STORE, key);
    keyButton();
    $("key-dialog").close();
    notice("");
    const then = afterKey || start;
    afterKey = null;
    if (then !== start) start();
    then();
  });
  $("key-cancel").addEventListener("click", () => { afterKey = null; $("key-dialog").close(); });
  $("key-button").addEventListener("click", () => {
    if (key) {
      key = null;
      sessionStorage.removeItem(KEY_STORE);
      keyButton();
      outcome("The API key is forgotten in this tab.", true);
      start();
    } else {
      askKey("", start);
    }
  });
  $("reset-breaker").addEventListener("click", resetBreaker);
  $("scale-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const n = Number($("scale-n").value);
    if (!Number.isInteger(n)) { outcome("Not done: the engine count must be a whole number.", false); return; }
    scaleTo(n);
  });
  $("interval").addEventListener("change", () => {
    localStorage.setItem(INTERVAL_STORE, $("interval").value);
    schedule();
    if (!feedLive) setLive(`polling every ${interval()} s`, "polling");
  });
  for (const id of ["event-type", "event-engine"]) $(id).addEventListener("change", refresh);

  const saved = localStorage.getItem(INTERVAL_STORE);
  if (saved && [...$("interval").options].some((option) => option.value === saved)) $("interval").value = saved;
  schedule();
  start();
})();
