/* Inspector dashboard: the key, the caller's role, API calls and small DOM helpers (no build). */
"use strict";
(function () {
  const API = "/api/v1";
  const KEY = "inspector.key";
  const ROLES = ["viewer", "operator", "admin"];

  function key() { return sessionStorage.getItem(KEY) || ""; }
  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (key()) h["X-API-Key"] = key();
    return h;
  }

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function detailOf(res) {
    try { const body = await res.json(); return body.detail || res.statusText; }
    catch (e) { return res.statusText; }
  }

  /* JSON from /api/v1; throws ApiError with the server's message. A 401 shows the key banner. */
  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = headers(opts.body ? {"Content-Type": "application/json"} : {});
    if (opts.body && typeof opts.body !== "string") opts.body = JSON.stringify(opts.body);
    const res = await fetch(API + path, opts);
    if (!res.ok) {
      const detail = await detailOf(res);
      if (res.status === 401) needKey(detail);
      throw new ApiError(res.status, detail);
    }
    return res.json();
  }

  /* An image route as an object URL (img src cannot send the key); null when there is none. */
  async function blobUrl(path) {
    const res = await fetch(API + path, {headers: headers(), cache: "no-store"});
    if (!res.ok) return null;
    return URL.createObjectURL(await res.blob());
  }

  /* Put `url` into `img`, releasing the object URL it showed before. */
  function setImage(img, url) {
    const old = img.dataset.objectUrl;
    if (url) { img.src = url; img.dataset.objectUrl = url; img.hidden = false; }
    else { img.removeAttribute("src"); delete img.dataset.objectUrl; img.hidden = true; }
    if (old && old !== url) URL.revokeObjectURL(old);
  }

  function banner(text, kind) {
    const b = document.getElementById("banner");
    if (!text) { b.hidden = true; b.textContent = ""; return; }
    b.className = "banner " + (kind || "info");
    b.textContent = text;
    b.hidden = false;
  }

  function needKey(detail) {
    banner("This needs an API key: press Key and enter one. (" + detail + ")", "warn");
  }

  /* The caller's name and role from GET /me; the body's classes show or hide write buttons. */
  async function loadRole() {
    const body = document.body;
    body.classList.remove("can-operate", "can-admin", "is-viewer", "role-known");
    let me = null;
    try { me = await api("/me"); } catch (e) { return null; }
    const rank = ROLES.indexOf(me.role);
    body.classList.add("role-known");
    if (rank >= 1) body.classList.add("can-operate"); else body.classList.add("is-viewer");
    if (rank >= 2) body.classList.add("can-admin");
    const button = document.getElementById("key-button");
    button.textContent = me.name + " · " + me.role;
    return me;
  }

  function setupKeyDialog() {
    const dialog = document.getElementById("key-dialog");
    const input = document.getElementById("key-input");
    document.getElementById("key-button").addEventListener("click", () => {
      input.value = key();
      dialog.showModal();
    });
    document.getElementById("key-form").addEventListener("submit", () => {
      sessionStorage.setItem(KEY, input.value.trim());
      location.reload();
    });
    document.getElementById("key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      location.reload();
    });
    document.getElementById("key-cancel").addEventListener("click", () => dialog.close());
  }

  function setupSearch() {
    const form = document.getElementById("serial-search");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const serial = document.getElementById("serial-input").value.trim();
      if (serial) location.href = "/serials/" + encodeURIComponent(serial);
    });
  }

  /* Run `step` now and again `ms` after each run ends (never two at once); errors are shown. */
  function poll(step, ms) {
    async function run() {
      try { await step(); }
      catch (e) { if (!(e instanceof ApiError && e.status === 401)) console.warn(e.message || e); }
      setTimeout(run, ms);
    }
    run();
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  const fmt = {
    pct(x) { return x === null || x === undefined ? "—" : (100 * x).toFixed(1) + " %"; },
    num(x, digits) { return x === null || x === undefined ? "—" : Number(x).toFixed(digits || 0); },
    int(x) { return x === null || x === undefined ? "—" : Number(x).toLocaleString("en"); },
    time(iso) { return iso ? new Date(iso).toLocaleString("en-GB", {hour12: false}) : "—"; },
    clock(iso) { return iso ? new Date(iso).toLocaleTimeString("en-GB", {hour12: false}) : "—"; },
  };

  function setVerdict(node, verdict) {
    node.textContent = verdict || "—";
    node.classList.remove("OK", "REVIEW", "NG");
    if (verdict) node.classList.add(verdict);
  }

  /* Facts as <div><dt>name</dt><dd>value</dd></div> rows of a <dl>. */
  function facts(dl, rows) {
    dl.replaceChildren(...rows.map(([name, value, cls]) =>
      el("div", {class: cls || null}, el("dt", {text: name}), el("dd", {text: String(value)}))));
  }

  /* The station's alarms, shown loudly (camera offline, database away, journal lag). */
  function alarmsOf(st) {
    const out = [];
    if (!st) return out;
    if (!st.camera_online) out.push("CAMERA OFFLINE (" + st.camera_state + ")");
    if (!st.db_online) out.push("DATABASE OFFLINE: rows go to the journal");
    if (st.journal_pending > 0) out.push("STORE LAG: " + st.journal_pending + " rows waiting in the journal");
    if (st.disk_problem) out.push("DISK PROBLEM");
    for (const a of st.alarms || []) out.push("ALARM: " + a);
    return out;
  }

  function showAlarms(st) {
    const box = document.getElementById("alarms");
    if (!box) return;
    const list = alarmsOf(st);
    box.replaceChildren(...list.map((t) => el("div", {text: t})));
    box.hidden = list.length === 0;
  }

  window.Inspector = {api, blobUrl, setImage, banner, poll, el, fmt, setVerdict, facts, showAlarms,
                      ApiError, ready: null};
  setupKeyDialog();
  setupSearch();
  window.Inspector.ready = loadRole();
})();
