// charmix web: the page. Framework-free; talks JSON over one WebSocket to `charmix web`.
//
// Why it is shaped like this:
// - Messages only update state; drawing happens in requestAnimationFrame and draws the latest
//   state once per display frame, so 100 frames/s from the daemon never queue up paint work.
// - The text is a bounded buffer: MAX_CHARS characters stay in the DOM (runs of one writer are
//   one <span>), older ones are cut from the front; characters not yet drawn are bounded too.
// - The page never computes weights: it sends pad positions and the bridge maps them through
//   the same PadMapping as `charmix mouse` (one copy of the mapping, in Python).
// - Latency: every frame carries `rx`, when its datagram reached the bridge (ms since the
//   epoch); after drawing it, the page records performance.timeOrigin + now() − rx.
// - Anti-experts (geometric mode): the weight sliders are bipolar (−1 … 1, centre 0) and a
//   negative weight is drawn as a bar growing the other way (leftward from the track's right
//   end), outlined, not filled; in linear mode the sliders run 0 … 1 as before.
"use strict";
(() => {
  const MAX_CHARS = 3000;          // characters kept on screen
  const SEND_EVERY = 25;           // ms between pad / slider messages (40/s, under the limit)
  const LAT_SAMPLES = 4096;        // latency samples kept (a ring)
  const SILENT_AFTER = 3000;       // ms without a frame before the bar says so
  const UNKNOWN = "#808080";
  const $ = (id) => document.getElementById(id);
  const el = { conn: $("conn"), role: $("role"), pinbtn: $("pinbtn"), fig: $("fig"), text: $("text"),
    pad: $("pad"), sliders: $("sliders"), temp: $("temp"), tempv: $("tempv"), mode: $("mode"),
    pause: $("pause"), note: $("note"), dlg: $("pindlg"), pin: $("pin"), scenes: $("scenes") };

  const S = { id: 0, role: "view", pinNeeded: false, control: "last", models: [], colours: [],
    anchors: [], vocab: "", mix: null, p: [], w: [], a: [], settings: {}, lastIndex: -1,
    peers: { touches: [], holder: null, clients: 0, viewers: 0 }, tRange: [0.05, 5],
    lastFrame: 0, received: 0, dropped: 0, lastStep: null, gaps: 0 };
  const pendingText = [];          // [char, writer] not drawn yet
  const pendingRx = [];            // arrival times of the frames not drawn yet
  const lat = new Float64Array(LAT_SAMPLES);    // frame at the bridge → drawn
  const latRx = new Float64Array(LAT_SAMPLES);  // frame at the bridge → in this page's onmessage
  let latCount = 0, rxCount = 0, dirtyFig = true, dirtyPad = true, ws = null, retry = 500, everOpen = false;

  // -- connection --------------------------------------------------------------------------
  function setConn(state, text) { el.conn.dataset.state = state; el.conn.textContent = text; }

  function storedPin() {
    const m = location.hash.match(/pin=([^&]+)/);
    if (m) { sessionStorage.setItem("charmix-pin", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname); }
    return sessionStorage.getItem("charmix-pin");
  }

  function connect() {
    setConn("connecting", everOpen ? "reconnecting…" : "connecting…");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    try { ws = new WebSocket(`${proto}//${location.host}/ws`); } catch (e) { return later(); }
    ws.onopen = () => { everOpen = true; retry = 500; setConn("live", "live"); };
    ws.onmessage = (ev) => { let m; try { m = JSON.parse(ev.data); } catch (e) { return; } handle(m); };
    ws.onclose = () => { ws = null; later(); };
    ws.onerror = () => {};
  }
  function later() {
    const wait = retry; retry = Math.min(retry * 2, 2000);
    setConn("offline", `offline — retrying in ${(wait / 1000).toFixed(1)} s`);
    setTimeout(connect, wait);
  }
  function send(obj) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj)); }

  // -- messages ----------------------------------------------------------------------------
  function handle(m) {
    if (m.t === "f") return frame(m);
    if (m.t === "hello") return hello(m);
    if (m.t === "peers") { S.peers = m; dirtyPad = true; return showRole(); }
    if (m.t === "role") {
      S.role = m.role;
      if (m.pin === "wrong" || m.pin === "locked") { sessionStorage.removeItem("charmix-pin"); note(m.pin === "locked" ? "too many wrong PINs: wait 30 s" : "wrong PIN"); }
      else if (m.pin === "ok") note("");
      return showRole();
    }
    if (m.t === "refused") return note(m.why);
  }

  function hello(m) {
    S.id = m.id; S.role = m.role; S.pinNeeded = m.pin; S.control = m.control;
    S.models = m.models || []; S.colours = m.colours || []; S.anchors = m.anchors || [];
    S.vocab = m.vocab || ""; S.tRange = m.temperature_range || S.tRange;
    if (m.weights && m.weights.length) S.w = m.weights;
    if (m.settings) settings(m.settings);
    if (m.scene) scene(m.scene);
    buildSliders(); showRole();
    const pin = storedPin();
    if (S.pinNeeded && S.role !== "control" && pin) send({ t: "pin", code: pin });
    dirtyFig = dirtyPad = true;
  }

  function frame(m) {
    S.lastFrame = performance.now();
    if (m.chars) {
      if (S.lastStep !== null && m.s0 !== null && m.s0 > S.lastStep + 1) S.gaps += m.s0 - S.lastStep - 1;
      for (let i = 0; i < m.chars.length; i++) pendingText.push([m.chars[i], m.who[i]]);
      if (pendingText.length > MAX_CHARS) { S.dropped += pendingText.length - MAX_CHARS; pendingText.splice(0, pendingText.length - MAX_CHARS); }
      S.received += m.chars.length;
      const last = m.chars[m.chars.length - 1];
      S.lastIndex = S.vocab.indexOf(last);
      const now = performance.timeOrigin + performance.now();
      for (const t of m.rx || []) {
        latRx[rxCount % LAT_SAMPLES] = now - t; rxCount++;
        if (pendingRx.length < 1024) pendingRx.push(t);
      }
    }
    if (m.step !== undefined && m.step !== null) S.lastStep = m.step;
    if (m.mix) S.mix = m.mix;
    if (m.p) S.p = m.p;
    if (m.w) { S.w = m.w; dirtyPad = true; }
    if (m.a) S.a = m.a;
    if (m.settings) settings(m.settings);
    if (m.scene) scene(m.scene);
    dirtyFig = true;
  }

  // The daemon's scenes as a row of buttons (rebuilt only when the names change); the running
  // scene or cue is marked, with its progress. A tap morphs there (the bridge: 2 s).
  let sceneNames = "";
  function scene(sc) {
    const names = sc.names || [];
    if (names.join("\n") !== sceneNames) {
      sceneNames = names.join("\n");
      el.scenes.replaceChildren(...names.map((name) => {
        const b = document.createElement("button");
        b.type = "button"; b.textContent = name; b.dataset.scene = name;
        b.addEventListener("click", () => send({ t: "scene", v: name }));
        return b;
      }));
    }
    for (const b of el.scenes.children) {
      const on = b.dataset.scene === sc.current;
      b.classList.toggle("on", on);
      b.textContent = on ? `${b.dataset.scene} ${Math.round(100 * (sc.progress || 0))}%` : b.dataset.scene;
    }
  }

  function settings(s) {
    S.settings = s;
    if (s.temperature !== null && s.temperature !== undefined && !held.has(el.temp)) {
      el.temp.value = String(tToSlider(s.temperature)); el.tempv.textContent = s.temperature.toFixed(2);
    }
    if (s.mode) { el.mode.textContent = s.mode; bipolar(s.mode === "geometric"); }
    el.pause.classList.toggle("on", !!s.paused);
    el.pause.textContent = s.paused ? "resume" : "pause";
  }

  function note(text) { el.note.textContent = text || ""; }

  function showRole() {
    const steer = S.role === "control";
    const who = S.peers.clients > 1 ? ` · ${S.peers.clients} pages` : "";
    let how = steer ? `steering (${S.control})` : S.pinNeeded ? "watching — PIN to steer" : "watching";
    if (steer && S.control === "first" && S.peers.holder && S.peers.holder !== S.id) how = "watching — another page holds the controls";
    el.role.textContent = how + who;
    el.pinbtn.hidden = !(S.pinNeeded && !steer);
    el.pad.classList.toggle("locked", !steer);
    for (const input of el.sliders.querySelectorAll("input")) input.disabled = !steer;
    el.temp.disabled = el.mode.disabled = el.pause.disabled = !steer;
  }

  // -- controls ----------------------------------------------------------------------------
  const held = new Set();          // inputs being dragged: the daemon's values don't move them
  const queued = new Map();        // key -> message, sent at most every SEND_EVERY ms
  let sendTimer = null;
  function queue(key, msg) {
    queued.set(key, msg);
    if (!sendTimer) sendTimer = setTimeout(flushQueue, 0);
  }
  function flushQueue() {
    for (const msg of queued.values()) send(msg);
    queued.clear();
    sendTimer = setTimeout(() => { sendTimer = null; if (queued.size) flushQueue(); }, SEND_EVERY);
  }

  function tToSlider(t) { const [a, b] = S.tRange; return Math.round(1000 * Math.log(t / a) / Math.log(b / a)); }
  function sliderToT(v) { const [a, b] = S.tRange; return a * Math.pow(b / a, v / 1000); }

  function grip(input, onMove) {
    input.addEventListener("pointerdown", () => held.add(input));
    for (const ev of ["pointerup", "pointercancel", "change"]) input.addEventListener(ev, () => held.delete(input));
    input.addEventListener("input", onMove);
  }

  function buildSliders() {
    el.sliders.textContent = "";
    S.models.forEach((name, i) => {
      const row = document.createElement("div"); row.className = "row";
      const label = document.createElement("label"); label.textContent = name; label.style.color = S.colours[i] || UNKNOWN;
      const input = document.createElement("input"); input.type = "range"; input.min = S.settings.mode === "geometric" ? "-1000" : "0"; input.max = "1000";
      input.id = label.htmlFor = `w${i}`; input.style.accentColor = S.colours[i] || UNKNOWN;
      const out = document.createElement("output");
      grip(input, () => queue(`w${i}`, { t: "weight", i, v: Number(input.value) / 1000 }));
      row.append(label, input, out); el.sliders.append(row);
    });
  }
  function bipolar(on) {           // geometric mode: sliders reach −1 (anti-experts)
    for (const input of el.sliders.querySelectorAll("input")) input.min = on ? "-1000" : "0";
    el.sliders.classList.toggle("bipolar", on); dirtyPad = true;
  }
  grip(el.temp, () => { const t = sliderToT(Number(el.temp.value)); el.tempv.textContent = t.toFixed(2); queue("t", { t: "temperature", v: Math.round(t * 1000) / 1000 }); });
  el.mode.addEventListener("click", () => send({ t: "mode", v: el.mode.textContent === "linear" ? "geometric" : "linear" }));
  el.pause.addEventListener("click", () => send({ t: "pause", v: !S.settings.paused }));
  el.pinbtn.addEventListener("click", () => { el.pin.value = ""; el.dlg.showModal(); });
  el.dlg.addEventListener("close", () => {
    if (el.dlg.returnValue === "ok" && el.pin.value) { sessionStorage.setItem("charmix-pin", el.pin.value); send({ t: "pin", code: el.pin.value }); }
  });

  // -- the pad: pointer events, every finger, pen and mouse -------------------------------
  const fingers = new Map();       // pointerId -> [x, y] in pad units
  function padXY(ev) {
    const r = el.pad.getBoundingClientRect();
    const x = ((ev.clientX - r.left) / r.width) * 2 - 1, y = 1 - ((ev.clientY - r.top) / r.height) * 2;
    return [Math.max(-1, Math.min(1, x)), Math.max(-1, Math.min(1, y))];
  }
  function sendPad() { queue("pad", { t: "pad", touches: [...fingers.values()].slice(0, 10).map(([x, y]) => [+x.toFixed(4), +y.toFixed(4)]) }); dirtyPad = true; }
  el.pad.addEventListener("pointerdown", (ev) => {
    if (S.role !== "control") return note(S.pinNeeded ? "enter the PIN to steer" : "this page only watches");
    el.pad.setPointerCapture(ev.pointerId); fingers.set(ev.pointerId, padXY(ev)); sendPad(); ev.preventDefault();
  });
  el.pad.addEventListener("pointermove", (ev) => { if (fingers.has(ev.pointerId)) { fingers.set(ev.pointerId, padXY(ev)); sendPad(); } });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
    el.pad.addEventListener(type, (ev) => { if (fingers.delete(ev.pointerId)) sendPad(); });
  }

  // -- drawing -----------------------------------------------------------------------------
  function fit(canvas) {
    const dpr = window.devicePixelRatio || 1, r = canvas.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const g = canvas.getContext("2d"); g.setTransform(dpr, 0, 0, dpr, 0, 0);
    return [g, r.width, r.height];
  }

  function bars(g, values, x, y, w, h, colour, mark) {
    const n = values.length; if (!n) return;
    const step = w / n;
    g.fillStyle = colour;
    for (let k = 0; k < n; k++) {
      const v = values[k] / 1000; if (v <= 0) continue;
      const bh = Math.max(1, v * h); g.fillRect(x + k * step, y + h - bh, Math.max(1, step - 0.5), bh);
    }
    if (mark >= 0 && mark < n) { g.fillStyle = "#ffffff"; g.fillRect(x + mark * step, y, 1, h); }
  }

  function drawFig() {
    const [g, W, H] = fit(el.fig);
    g.clearRect(0, 0, W, H);
    const rows = S.models.length, label = Math.min(150, W * 0.34), pad = 4;
    const mixH = Math.max(30, H * 0.3), rowH = rows ? (H - mixH - pad * 2) / rows : 0;
    g.font = "12px system-ui, sans-serif"; g.textBaseline = "middle";
    g.fillStyle = "#e8e8e8"; g.fillText("p_mix", 4, mixH / 2);
    g.fillStyle = "#141414"; g.fillRect(label, 0, W - label, mixH);
    if (S.mix) bars(g, S.mix, label, 0, W - label, mixH, "#e8e8e8", S.lastIndex);
    for (let i = 0; i < rows; i++) {
      const y = mixH + pad * 2 + i * rowH, c = S.colours[i] || UNKNOWN, w = S.w[i] || 0;
      g.fillStyle = "#1e1e1e"; g.fillRect(4, y + rowH * 0.55, label - 12, Math.max(3, rowH * 0.3));
      const track = label - 12, th = Math.max(3, rowH * 0.3);
      if (w >= 0) { g.fillStyle = c; g.fillRect(4, y + rowH * 0.55, track * Math.min(1, w), th); }
      else {                       // an anti-expert: the other way, outlined
        const bw = track * Math.min(1, -w);
        g.strokeStyle = c; g.lineWidth = 1.5; g.strokeRect(4 + track - bw + 0.75, y + rowH * 0.55 + 0.75, Math.max(1, bw - 1.5), th - 1.5);
        g.fillStyle = c;
      }
      g.fillText(`${S.models[i]} ${w < 0 ? "−" : ""}${Math.abs(w * 100).toFixed(0)}%${w < 0 ? " anti" : ""}`, 4, y + rowH * 0.28);
      g.fillStyle = "#0d0d0d"; g.fillRect(label, y + 1, W - label, rowH - 2);
      if (S.p[i]) bars(g, S.p[i], label, y + 1, W - label, rowH - 2, c, S.lastIndex);
    }
  }

  function drawPad() {
    const [g, W, H] = fit(el.pad);
    const half = Math.min(W, H) / 2, cx = W / 2, cy = H / 2;
    const px = (x) => cx + x * half * 0.9, py = (y) => cy - y * half * 0.9;
    g.clearRect(0, 0, W, H);
    g.strokeStyle = "#2a2a2a"; g.lineWidth = 1; g.beginPath(); g.arc(cx, cy, 0.75 * half * 0.9, 0, 2 * Math.PI); g.stroke();
    g.font = "bold 14px system-ui, sans-serif"; g.textAlign = "center"; g.textBaseline = "middle";
    S.anchors.forEach(([x, y], i) => {
      const c = S.colours[i] || UNKNOWN, w = S.w[i] || 0, r = 6 + 16 * Math.min(1, Math.abs(w));
      g.beginPath(); g.arc(px(x), py(y), r, 0, 2 * Math.PI);
      if (w >= 0) { g.fillStyle = c; g.fill(); }
      else { g.strokeStyle = c; g.lineWidth = 2; g.stroke(); g.fillStyle = c; }  // an anti-expert: a ring
      const n = Math.hypot(x, y) || 1;
      const name = S.models[i] || "", tw = g.measureText(name).width;
      const lx = Math.max(tw / 2 + 4, Math.min(W - tw / 2 - 4, px(x) + (x / n) * (r + 8 + tw / 2)));
      g.fillText(name, lx, Math.max(12, Math.min(H - 12, py(y) - (y / n) * (r + 14))));
    });
    for (const [x, y, who] of S.peers.touches || []) {
      if (who === S.id) continue;
      g.strokeStyle = "#8a8a8a"; g.lineWidth = 2; g.beginPath(); g.arc(px(x), py(y), 12, 0, 2 * Math.PI); g.stroke();
    }
    for (const [x, y] of fingers.values()) {
      g.strokeStyle = "#ffffff"; g.lineWidth = 3; g.beginPath(); g.arc(px(x), py(y), 18, 0, 2 * Math.PI); g.stroke();
    }
  }

  let lastRun = null;              // the <span> of the newest run of one writer
  let shown = 0;                   // characters in the DOM
  function drawText() {
    if (!pendingText.length) return;
    for (const [ch, who] of pendingText) {
      if (!lastRun || Number(lastRun.dataset.who) !== who) {
        lastRun = document.createElement("span"); lastRun.dataset.who = String(who);
        lastRun.style.color = who >= 0 ? S.colours[who] || UNKNOWN : UNKNOWN;
        lastRun.appendChild(document.createTextNode("")); el.text.appendChild(lastRun);
      }
      lastRun.firstChild.appendData(ch);
    }
    shown += pendingText.length; pendingText.length = 0;
    while (shown > MAX_CHARS) {
      const first = el.text.firstChild, n = first.firstChild.length, cut = shown - MAX_CHARS;
      if (n <= cut) { el.text.removeChild(first); shown -= n; if (first === lastRun) lastRun = null; }
      else { first.firstChild.deleteData(0, cut); shown -= cut; }
    }
    el.text.scrollTop = el.text.scrollHeight;
  }

  function followWeights() {       // sliders show the daemon's weights unless being dragged
    S.w.forEach((w, i) => {
      const input = document.getElementById(`w${i}`);
      if (!input || held.has(input)) return;
      input.value = String(Math.round(w * 1000));
      input.nextElementSibling.textContent = `${w < 0 ? "−" : ""}${Math.abs(Math.round(w * 100))}%`;
    });
  }

  let paints = 0, draws = 0;       // animation frames, and those that drew something
  function paint() {
    requestAnimationFrame(paint);
    paints++;
    if (pendingText.length || dirtyFig || dirtyPad) draws++;
    const hadText = pendingText.length > 0;
    drawText();
    if (dirtyFig) { drawFig(); dirtyFig = false; }
    if (dirtyPad) { drawPad(); followWeights(); dirtyPad = false; }
    if (hadText || pendingRx.length) {
      const now = performance.timeOrigin + performance.now();
      for (const rx of pendingRx) { lat[latCount % LAT_SAMPLES] = now - rx; latCount++; }
      pendingRx.length = 0;
    }
    if (ws && ws.readyState === 1 && S.lastFrame) {
      const quiet = performance.now() - S.lastFrame;
      if (quiet > SILENT_AFTER) setConn("silent", `no text for ${(quiet / 1000).toFixed(0)} s${S.settings.paused ? " (paused)" : ""}`);
      else if (el.conn.dataset.state !== "live") setConn("live", "live");
    }
  }
  window.addEventListener("resize", () => { dirtyFig = dirtyPad = true; });

  // For tests and benchmarks: what is on screen, and the latencies measured so far.
  window.charmix = {
    text: () => el.text.textContent,
    writers: () => [...el.text.children].flatMap((s) => Array(s.firstChild.length).fill(Number(s.dataset.who))),
    latencies: () => Array.from(lat.subarray(0, Math.min(latCount, LAT_SAMPLES))),
    arrivals: () => Array.from(latRx.subarray(0, Math.min(rxCount, LAT_SAMPLES))),
    state: () => ({ role: S.role, id: S.id, received: S.received, dropped: S.dropped, gaps: S.gaps,
      shown, conn: el.conn.dataset.state, models: S.models, anchors: S.anchors, weights: S.w,
      peers: S.peers, note: el.note.textContent }),
    frames: () => ({ paints, draws }),
    resetStats: () => { latCount = rxCount = paints = draws = 0; },
    feed: (m) => handle(m),
    MAX_CHARS,
  };

  connect();
  requestAnimationFrame(paint);
})();
