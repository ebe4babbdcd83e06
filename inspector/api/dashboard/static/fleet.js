/* Fleet: every station feeding this database (GET /fleet), each linked to its parts. */
"use strict";
(function () {
  const {api, poll, el, fmt, banner} = window.Inspector;
  const $ = (id) => document.getElementById(id);
  const HOUR = 3600 * 1000;

  function ago(iso) {
    if (!iso) return "never";
    const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }

  function lag(s) {
    if (!s.registered) return "— (writes here directly)";
    return fmt.int(s.lag_rows) + " rows · " + fmt.num(s.lag_seconds, 1) + " s";
  }

  function camera(s) {
    if (s.camera_state === null) return "—";
    return s.camera_state + (s.camera_online === false ? " (OFFLINE)" : "");
  }

  function row(s) {
    const parts = "/parts?" + new URLSearchParams({station_id: s.station_id}).toString();
    const alarms = s.alarms.length ? " · " + s.alarms.join(", ") : "";
    return el("tr", {"data-station": s.station_id, class: s.stale ? "stale" : null},
      el("td", {}, el("a", {href: parts, text: s.station_id})),
      el("td", {class: s.stale ? "bad-text" : null, title: s.last_contact_at || "",
                text: ago(s.last_contact_at) + (s.stale ? " · STALE" : "")}),
      el("td", {text: lag(s)}), el("td", {text: fmt.int(s.parts)}),
      el("td", {class: "yield", text: fmt.pct(s.yield)}), el("td", {text: s.model_version || "—"}),
      el("td", {class: s.camera_online === false ? "bad-text" : null, text: camera(s) + alarms}),
      el("td", {class: "muted", text: s.api_url || "—"}));
  }

  async function load() {
    const hours = Number($("fleet-range").value);
    const until = new Date(Math.ceil(Date.now() / HOUR) * HOUR);
    const since = new Date(until.getTime() - hours * HOUR);
    let body;
    try {
      body = await api("/fleet?" + new URLSearchParams({since: since.toISOString(), until: until.toISOString()}));
    } catch (e) { banner(e.message, "warn"); throw e; }
    $("fleet-rows").replaceChildren(...body.items.map(row));
    $("fleet-empty").hidden = body.count > 0;
    $("fleet-summary").textContent = body.count + " stations · " + body.stale + " stale (no contact for "
      + fmt.num(body.stale_after_s / 60, 0) + " min)";
  }

  $("fleet-range").addEventListener("change", load);
  poll(load, 10000);
})();
