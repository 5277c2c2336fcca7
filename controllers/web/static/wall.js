// charmix wall: the full-screen display page. Framework-free; reads /wall/ws of `charmix web`.
//
// Why it is shaped like this:
// - A venue configures each screen by its URL alone (parse() below). A parameter that makes no
//   sense (size=0, size=1e9, text for a number, a voice the daemon does not run, a font the
//   machine lacks) is ignored, the default is used and the page says so in a small corner note:
//   a wrong URL must still give a working wall.
// - The text is DOM text (runs of one writer are one <span>), so a screen reader, the browser's
//   find and a test can read it. Only what fits on the screen (with a margin) is kept: the
//   budget is computed from the font's measured size, so memory is bounded for weeks.
// - Messages only update state; drawing happens once per display frame (requestAnimationFrame).
// - Frames carry `rx` (when the bridge received them, ms since the epoch): the page records
//   frame → painted latency for the benchmark, like the phone page.
"use strict";
(() => {
  const HARD_MAX = 40000;          // characters kept whatever the screen (a 4K wall at 8 px)
  const LAT_SAMPLES = 4096;
  const NOTE_FOR = 30000;          // ms the note about ignored parameters stays visible
  // A connection can die without a close (a bridge machine frozen or gone from the network):
  // the bridge says something at least every 5 s, so silence this long means start again.
  const STALE = 15000;             // ms without a message on an open socket
  const OPEN_WITHIN = 10000;       // ms a new socket may take to open
  const DRIFT_PERIODS = [3600e3, 5400e3];  // ms: x and y of the burn-in drift, slow and unsynced
  const UNKNOWN = "#808080";
  const $ = (id) => document.getElementById(id);
  const el = { screen: $("screen"), block: $("block"), title: $("title"), wbar: $("wbar"),
    text: $("text"), runs: $("runs"), caret: $("caret"), fig: $("fig"), waiting: $("waiting"),
    conn: $("conn"), note: $("note") };

  // -- the URL -----------------------------------------------------------------------------
  const DEFAULTS = { voice: null, size: null, lines: 14, font: null, theme: "dark",
    colour: "attribution", weights: false, title: false, fig: "none", caret: true, fade: true,
    drift: 0 };
  const FLAGS = { 1: true, true: true, yes: true, on: true, 0: false, false: false, no: false, off: false };

  function parse(search) {
    const cfg = Object.assign({}, DEFAULTS), ignored = [];
    const q = new URLSearchParams(search);
    const num = (key, raw, lo, hi, integer) => {
      const v = raw.trim() === "" ? NaN : Number(raw);
      if (!Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
        ignored.push(`${key}=${raw.slice(0, 40)} (wants ${integer ? "a whole number" : "a number"} ${lo}–${hi})`);
        return null;
      }
      return v;
    };
    const pick = (key, raw, allowed) => {
      const v = raw.trim().toLowerCase();
      if (allowed.includes(v)) return v;
      ignored.push(`${key}=${raw.slice(0, 40)} (wants ${allowed.join(", ")})`);
      return null;
    };
    const flag = (key, raw) => {
      const v = FLAGS[raw.trim().toLowerCase()];
      if (v === undefined) { ignored.push(`${key}=${raw.slice(0, 40)} (wants 1 or 0)`); return null; }
      return v;
    };
    let n = 0;
    for (const [key, raw] of q) {
      if (++n > 40) { ignored.push("parameters past the 40th"); break; }
      let v = null;
      switch (key) {
        case "voice": v = num(key, raw, 0, 63, true); if (v !== null) cfg.voice = v; break;
        case "size": v = num(key, raw, 6, 1000, false); if (v !== null) { cfg.size = v; cfg.lines = null; } break;
        case "lines": v = num(key, raw, 1, 200, false); if (v !== null) { cfg.lines = v; cfg.size = null; } break;
        case "font":
          if (/^[\w .,'"-]{1,80}$/u.test(raw)) cfg.font = raw.trim();
          else ignored.push(`font=${raw.slice(0, 40)} (not a font name)`);
          break;
        case "theme": v = pick(key, raw, ["dark", "light"]); if (v) cfg.theme = v; break;
        case "colour": case "color":
          v = pick(key, raw, ["attribution", "plain"]); if (v) cfg.colour = v; break;
        case "weights": case "title": case "caret": case "fade":
          v = flag(key, raw); if (v !== null) cfg[key] = v; break;
        case "fig":
          v = raw.trim().toLowerCase();
          if (v === "1" || v === "on") v = "bottom";
          if (v === "0" || v === "off") v = "none";
          v = pick(key, v, ["none", "bottom", "top", "left", "right"]); if (v) cfg.fig = v; break;
        case "drift": v = num(key, raw, 0, 100, false); if (v !== null) cfg.drift = v; break;
        default: ignored.push(`${key.slice(0, 40)} (not a parameter of the wall)`);
      }
    }
    return [cfg, ignored];
  }

  const [cfg, ignored] = parse(location.search);
  let noteTimer = null;
  function note(text) {
    if (text) ignored.push(text);
    if (!ignored.length) return;
    el.note.textContent = "ignored: " + ignored.join("\n");
    el.note.classList.add("show");
    clearTimeout(noteTimer);
    noteTimer = setTimeout(() => el.note.classList.remove("show"), NOTE_FOR);
    console.info("charmix wall: ignored " + ignored.join("; "));
  }

  // A font the machine lacks falls back silently in CSS; measure to tell, then say so.
  function fontAvailable(name) {
    const g = document.createElement("canvas").getContext("2d"), probe = "mmmmmmmmmmlli10OQ@#";
    for (const base of ["monospace", "serif", "sans-serif"]) {
      g.font = `72px ${base}`; const w0 = g.measureText(probe).width;
      g.font = `72px "${name.replace(/"/g, "")}", ${base}`;
      if (g.measureText(probe).width !== w0) return true;
    }
    return ["monospace", "serif", "sans-serif", "system-ui", "cursive", "fantasy"].includes(name.toLowerCase());
  }
  if (cfg.font && !fontAvailable(cfg.font)) { note(`font=${cfg.font} (not on this machine)`); cfg.font = null; }

  function apply() {
    const b = document.body;
    b.className = "";
    b.classList.add(cfg.theme, `fig-${cfg.fig}`);
    if (cfg.fade) b.classList.add("fade");
    if (!cfg.caret) b.classList.add("nocaret");
    if (!live) b.classList.add("offline");
    if (cfg.font) document.documentElement.style.setProperty("--font", `"${cfg.font.replace(/"/g, "")}", monospace`);
    el.title.hidden = !cfg.title || !S.title;
    el.wbar.hidden = !cfg.weights;
    el.fig.hidden = cfg.fig === "none";
    fitFont();
  }

  // -- state -------------------------------------------------------------------------------
  const S = { voice: cfg.voice, models: [], colours: [], vocab: "", mix: null, p: [], w: [],
    title: null, up: null, received: 0, lastIndex: -1, hellos: 0, lastStep: null, gaps: 0 };
  const pending = [];              // [char, writer] not drawn yet
  const pendingRx = [];
  const lat = new Float64Array(LAT_SAMPLES);
  let latCount = 0, dirtyFig = true, dirtyBar = true, ws = null, retry = 500, everOpen = false;
  let live = false, budget = 2000, connState = "connecting", heard = 0, dialled = 0;

  // -- connection --------------------------------------------------------------------------
  function setConn(state, text) {
    connState = state; el.conn.dataset.state = state; el.conn.textContent = text;
    el.conn.classList.toggle("show", state !== "live");
    live = state === "live";
    document.body.classList.toggle("offline", !live);
    const empty = shown === 0 && !pending.length;
    el.waiting.hidden = !(empty && state !== "live");
    if (empty) el.waiting.textContent = state === "waiting" ? "waiting for the charmix daemon…"
      : state === "connecting" ? "connecting to charmix…" : "charmix web is not reachable — retrying…";
  }

  function connect() {
    setConn(everOpen ? "reconnecting" : "connecting", everOpen ? "reconnecting…" : "connecting…");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const voice = S.voice === null ? "" : `?voice=${S.voice}`;
    dialled = performance.now();
    try { ws = new WebSocket(`${proto}//${location.host}/wall/ws${voice}`); } catch (e) { return later(); }
    ws.onopen = () => { everOpen = true; retry = 500; heard = performance.now(); };
    ws.onmessage = (ev) => { heard = performance.now(); let m; try { m = JSON.parse(ev.data); } catch (e) { return; } if (m && typeof m === "object") handle(m); };
    ws.onclose = () => { ws = null; later(); };
    ws.onerror = () => {};
  }
  function watchdog() {
    if (!ws) return;
    const now = performance.now();
    if ((ws.readyState === 1 && now - heard > STALE) || (ws.readyState === 0 && now - dialled > OPEN_WITHIN)) {
      const dead = ws; ws = null;
      dead.onclose = dead.onmessage = null;
      try { dead.close(); } catch (e) { /* already closing */ }
      later();
    }
  }
  setInterval(watchdog, 1000);
  function later() {
    const wait = retry; retry = Math.min(Math.max(retry * 2, 500), 2000);
    setConn("reconnecting", "reconnecting…");
    setTimeout(connect, wait);
  }

  // -- messages ----------------------------------------------------------------------------
  function handle(m) {
    if (m.t === "f") return frame(m);
    if (m.t === "hello") return hello(m);
    if (m.t === "daemon") return daemon(m.up, m.voices);
    if (m.t === "title") { S.title = typeof m.v === "string" ? m.v : null; return showTitle(); }
  }

  function hello(m) {
    S.hellos++;
    S.voice = Number.isInteger(m.voice) ? m.voice : S.voice;
    S.models = Array.isArray(m.models) ? m.models : [];
    S.colours = Array.isArray(m.colours) ? m.colours : [];
    S.vocab = typeof m.vocab === "string" ? m.vocab : "";
    if (Array.isArray(m.weights) && m.weights.length) S.w = m.weights;
    S.title = typeof m.title === "string" ? m.title : null;
    showTitle();
    daemon(m.up, m.seen);
    dirtyFig = dirtyBar = true;
    schedule();
  }

  function daemon(up, voices) {
    S.up = !!up;
    if (up) setConn("live", "");
    else setConn("waiting", "waiting for the daemon…");
    // A voice the daemon does not run: go back to the bridge's default and say so.
    if (up && cfg.voice !== null && Array.isArray(voices) && voices.length && !voices.includes(S.voice)) {
      note(`voice=${cfg.voice} (the daemon runs voice${voices.length > 1 ? "s" : ""} ${voices.join(", ")})`);
      cfg.voice = null; S.voice = null;
      if (ws) ws.close();      // reconnects at once to the default voice
      retry = 0;
    }
  }

  function frame(m) {
    if (Array.isArray(m.chars) && Array.isArray(m.who)) {
      // steps that never reached this page (the bridge drops a slow page's oldest frames)
      if (S.lastStep !== null && Number.isInteger(m.s0) && m.s0 > S.lastStep + 1) S.gaps += m.s0 - S.lastStep - 1;
      for (let i = 0; i < m.chars.length; i++) {
        const c = typeof m.chars[i] === "string" ? m.chars[i] : "\ufffd";
        pending.push([c, Number.isInteger(m.who[i]) ? m.who[i] : -1]);
      }
      if (pending.length > budget) pending.splice(0, pending.length - budget);
      S.received += m.chars.length;
      S.lastIndex = S.vocab.indexOf(m.chars[m.chars.length - 1]);
      if (Array.isArray(m.rx)) for (const t of m.rx) if (pendingRx.length < 1024) pendingRx.push(t);
      if (!live && S.up !== false) setConn("live", "");
    }
    if (Number.isInteger(m.step)) S.lastStep = m.step;
    if (Array.isArray(m.mix)) S.mix = m.mix;
    if (Array.isArray(m.p)) S.p = m.p;
    if (Array.isArray(m.w)) { S.w = m.w; dirtyBar = true; }
    dirtyFig = true;
    schedule();
  }

  function showTitle() {
    el.title.textContent = S.title || "";
    el.title.hidden = !cfg.title || !S.title;
  }

  // -- layout ------------------------------------------------------------------------------
  function fitFont() {
    const h = el.screen.clientHeight || window.innerHeight;
    const size = cfg.size !== null ? cfg.size : Math.max(6, h * 0.94 / (cfg.lines * 1.25));
    document.documentElement.style.setProperty("--size", `${size.toFixed(2)}px`);
    // the budget: the characters the screen holds, with room for short lines and the fade
    const probe = document.createElement("span");
    probe.textContent = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789";
    probe.style.visibility = "hidden"; probe.style.position = "absolute";
    el.text.appendChild(probe);
    const r = probe.getBoundingClientRect();
    el.text.removeChild(probe);
    const cw = Math.max(1, r.width / probe.textContent.length), lh = size * 1.25;
    const cols = Math.ceil(el.text.clientWidth / cw), rows = Math.ceil(h / lh) + 1;
    budget = Math.max(200, Math.min(HARD_MAX, Math.ceil(cols * rows * 1.5)));
    S.cols = cols; S.rows = rows;
    dirtyFig = dirtyBar = true;
    schedule();
  }

  // -- drawing -----------------------------------------------------------------------------
  let lastRun = null, shown = 0;
  function colourOf(who) {
    if (cfg.colour === "plain") return "";
    return who >= 0 ? S.colours[who] || UNKNOWN : UNKNOWN;
  }
  function drawText() {
    if (!pending.length) return false;
    for (const [ch, who] of pending) {
      if (!lastRun || lastRun._who !== who) {
        lastRun = document.createElement("span"); lastRun._who = who; lastRun.dataset.who = String(who);
        const c = colourOf(who); if (c) lastRun.style.color = c;
        lastRun.appendChild(document.createTextNode("")); el.runs.appendChild(lastRun);
      }
      lastRun.firstChild.appendData(ch);
    }
    shown += pending.length; pending.length = 0;
    while (shown > budget) {
      const first = el.runs.firstChild, n = first.firstChild.length, cut = shown - budget;
      if (n <= cut) { el.runs.removeChild(first); shown -= n; if (first === lastRun) lastRun = null; }
      else { first.firstChild.deleteData(0, cut); shown -= cut; }
    }
    if (!el.waiting.hidden) el.waiting.hidden = true;
    return true;
  }

  function drawBar() {
    const n = S.models.length;
    if (el.wbar.children.length !== n) {
      el.wbar.textContent = "";
      for (let i = 0; i < n; i++) { const seg = document.createElement("i"); el.wbar.appendChild(seg); }
    }
    const total = S.w.reduce((a, b) => a + (Number.isFinite(b) && b > 0 ? b : 0), 0) || 1;
    [...el.wbar.children].forEach((seg, i) => {
      const w = Number.isFinite(S.w[i]) && S.w[i] > 0 ? S.w[i] / total : 0;
      seg.style.flexGrow = String(w); seg.style.background = S.colours[i] || UNKNOWN;
    });
  }

  function fit(canvas) {
    const dpr = window.devicePixelRatio || 1, r = canvas.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const g = canvas.getContext("2d"); g.setTransform(dpr, 0, 0, dpr, 0, 0);
    return [g, r.width, r.height];
  }

  function bars(g, values, x, y, w, h, colour, mark, markColour) {
    const n = values.length; if (!n) return;
    const step = w / n;
    g.fillStyle = colour;
    for (let k = 0; k < n; k++) {
      const v = values[k] / 1000; if (!(v > 0)) continue;
      const bh = Math.max(1, Math.min(1, v) * h); g.fillRect(x + k * step, y + h - bh, Math.max(1, step - 0.5), bh);
    }
    if (mark >= 0 && mark < n) { g.fillStyle = markColour; g.fillRect(x + mark * step, y, 1, h); }
  }

  function drawFig() {   // Figure 1 as a strip: p_mix on top, then each model's p_i
    const [g, W, H] = fit(el.fig);
    g.clearRect(0, 0, W, H);
    const fg = getComputedStyle(document.body).color, rows = S.models.length + 1, gap = 2;
    const rowH = (H - gap * rows) / rows, label = Math.max(50, Math.min(120, W * 0.25));
    g.font = `${Math.max(9, Math.min(16, rowH * 0.45))}px system-ui, sans-serif`; g.textBaseline = "middle";
    for (let r = 0; r < rows; r++) {
      const y = r * (rowH + gap), c = r === 0 ? fg : S.colours[r - 1] || UNKNOWN;
      const values = r === 0 ? S.mix : S.p[r - 1];
      g.fillStyle = c; g.globalAlpha = 0.8;
      g.fillText(r === 0 ? "p_mix" : S.models[r - 1], 4, y + rowH / 2);
      g.globalAlpha = 1;
      if (values) bars(g, values, label, y, W - label - 4, rowH, c, S.lastIndex, fg);
    }
  }

  function drift(now) {
    if (!cfg.drift) return;
    const t = performance.timeOrigin + now;
    const x = cfg.drift * Math.sin(2 * Math.PI * t / DRIFT_PERIODS[0]);
    const y = cfg.drift * Math.sin(2 * Math.PI * t / DRIFT_PERIODS[1]);
    el.block.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
  }

  // An animation frame is asked for only when something changed: an idle wall costs nothing
  // between characters (a loop at the display's rate cost ~2% of a core per wall, unrendered).
  let paints = 0, asked = false;
  function schedule() { if (!asked) { asked = true; requestAnimationFrame(paint); } }
  function paint() {
    asked = false;
    paints++;
    const drew = drawText();
    if (dirtyBar && cfg.weights) { drawBar(); dirtyBar = false; }
    if (dirtyFig && cfg.fig !== "none") { drawFig(); dirtyFig = false; }
    if (drew || pendingRx.length) {
      const t = performance.timeOrigin + performance.now();
      for (const rx of pendingRx) { lat[latCount % LAT_SAMPLES] = t - rx; latCount++; }
      pendingRx.length = 0;
    }
  }
  window.addEventListener("resize", () => { fitFont(); dirtyBar = true; schedule(); });
  // nothing to click: a kiosk's stray touch or key does nothing (no context menu, no drag)
  for (const ev of ["contextmenu", "dragstart", "selectstart"]) window.addEventListener(ev, (e) => e.preventDefault());

  // For tests and benchmarks: what is on screen, and the latencies measured so far.
  window.charmix = {
    text: () => el.runs.textContent,
    writers: () => [...el.runs.children].flatMap((s) => Array(s.firstChild.length).fill(s._who)),
    latencies: () => Array.from(lat.subarray(0, Math.min(latCount, LAT_SAMPLES))),
    state: () => ({ voice: S.voice, received: S.received, shown, budget, conn: connState,
      up: S.up, gaps: S.gaps, models: S.models, weights: S.w, title: S.title, ignored: ignored.slice(),
      config: Object.assign({}, cfg), cols: S.cols, rows: S.rows, hellos: S.hellos,
      waiting: el.waiting.hidden ? "" : el.waiting.textContent }),
    frames: () => ({ paints }),
    resetStats: () => { latCount = paints = 0; },
    feed: (m) => handle(m),
  };

  apply();
  if (ignored.length) note("");
  document.fonts && document.fonts.ready.then(fitFont);
  connect();
  schedule();
  if (cfg.drift) { drift(performance.now()); setInterval(() => drift(performance.now()), 1000); }
})();
