/* Health: capture fps, drops, queue depths, latencies, store and outputs, last error. */
"use strict";
(function () {
  const {api, poll, fmt, facts, showAlarms, banner, ApiError} = window.Inspector;
  const $ = (id) => document.getElementById(id);
  const ms = (x) => fmt.num(x, 1) + " ms";

  async function station() {
    let body;
    try { body = await api("/station"); }
    catch (e) {
      if (e instanceof ApiError && e.status === 409) banner("No station runs in this process: only the API's own health is shown.", "info");
      throw e;
    }
    const st = body.status;
    showAlarms(st);
    facts($("h-pipeline"), [["Station", body.station_id], ["Model", body.model_version || "—"],
      ["Running", st.running ? "yes" : "no"], ["Uptime", fmt.num(st.uptime_s, 0) + " s"],
      ["Camera", st.camera_state + (st.camera_online ? "" : " (OFFLINE)"), st.camera_online ? "" : "bad"],
      ["Capture fps", fmt.num(st.capture_fps, 1)], ["Last frame age", fmt.num(st.last_frame_age_s, 2) + " s"],
      ["Parts/min", fmt.num(st.parts_per_min, 1)], ["Inference p50 / p99", ms(st.inference_ms_p50) + " / " + ms(st.inference_ms_p99)],
      ["End-to-end p50 / p99", ms(st.e2e_ms_p50) + " / " + ms(st.e2e_ms_p99)], ["No-read parts", fmt.int(st.no_read)]]);
    facts($("h-store"), [["Database", st.db_online ? "online" : "OFFLINE", st.db_online ? "" : "bad"],
      ["Rows committed", fmt.int(st.rows_committed)], ["Rows journaled", fmt.int(st.rows_journaled)],
      ["Journal pending", fmt.int(st.journal_pending), st.journal_pending ? "bad" : ""],
      ["Disk", st.disk_problem ? "PROBLEM" : "ok", st.disk_problem ? "bad" : ""],
      ["Output failures", fmt.int(st.output_failures), st.output_failures ? "bad" : ""]]);
    const queues = Object.entries(st.queue_depths || {}).map(([k, v]) => ["queue " + k, fmt.int(v)]);
    const drops = Object.entries(st.drops || {}).map(([k, v]) => ["dropped " + k, fmt.int(v), v ? "bad" : ""]);
    facts($("h-queues"), [["Dropped frames", fmt.int(st.dropped_frames)], ...queues, ...drops]);
    $("h-error").textContent = st.last_error || "none";
    $("h-error").className = st.last_error ? "error" : "muted";
  }

  async function server() {
    const res = await fetch("/api/v1/health");
    const h = await res.json();
    const rows = [["API database", h.db ? "reachable" : "UNREACHABLE", h.db ? "" : "bad"]];
    if (h.mqtt) rows.push(["MQTT", h.mqtt.connected ? "connected" : "disconnected"]);
    facts($("h-api"), rows);
  }

  poll(station, 2000);
  poll(server, 5000);
})();
