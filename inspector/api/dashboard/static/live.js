/* Live: newest frame (polled), the last part's verdict and heatmap, counts, thumbnails, alarms. */
"use strict";
(function () {
  const {api, blobUrl, setImage, banner, poll, el, fmt, setVerdict, showAlarms, ApiError} = window.Inspector;
  const FRAME_MS = 500, PARTS_MS = 1000, STATUS_MS = 1000, SHIFT_MS = 10000, THUMBS = 9;
  const $ = (id) => document.getElementById(id);
  const thumbUrls = new Map();  // part_id -> object URL of its archived image (or null)
  let lastPartId = null;
  let lastPart = null;

  async function frame() {
    const url = await blobUrl("/station/frame");
    setImage($("frame"), url);
    $("frame-missing").hidden = !!url;
    $("frame-info").textContent = url ? "live · " + fmt.clock(new Date().toISOString()) : "no frame";
  }

  function showRegion(region) {
    // The inspect region (model.roi, fractions of the frame) drawn over the frame.
    const box = $("frame-region");
    box.hidden = !region;
    if (!region) return;
    box.style.left = 100 * region.x + "%";
    box.style.top = 100 * region.y + "%";
    box.style.width = 100 * region.w + "%";
    box.style.height = 100 * region.h + "%";
  }

  async function status() {
    let body;
    try { body = await api("/station"); }
    catch (e) {
      if (e instanceof ApiError && e.status === 409) banner("No station runs in this process: live figures need `inspector run`.", "info");
      throw e;
    }
    const st = body.status;
    showAlarms(st);
    showRegion((st.extra || {}).inspect_region);
    const v = st.verdicts || {};
    $("count-parts").textContent = fmt.int(st.parts);
    $("count-ok").textContent = fmt.int(v.OK);
    $("count-review").textContent = fmt.int(v.REVIEW);
    $("count-ng").textContent = fmt.int(v.NG);
    const judged = (v.OK || 0) + (v.REVIEW || 0) + (v.NG || 0);
    $("count-yield").textContent = st.parts ? fmt.pct((v.OK || 0) / st.parts) : "—";
    $("count-rate").textContent = fmt.num(st.parts_per_min, 1);
    $("count-parts").dataset.judged = judged;
  }

  async function shift() {
    const stats = await api("/stats");
    const s = stats.shifts.length ? stats.shifts[stats.shifts.length - 1] : null;
    const t = s || stats.total;
    $("shift-title").textContent = s ? "Shift " + s.shift + " (from " + fmt.clock(s.start) + ")" : "Last 24 hours";
    $("shift-parts").textContent = fmt.int(t.parts);
    $("shift-yield").textContent = fmt.pct(t.yield);
    $("shift-ng").textContent = fmt.int(t.ng);
    $("shift-noread").textContent = fmt.pct(t.no_read_rate);
  }

  async function showLast(part) {
    setVerdict($("last-verdict"), part.verdict);
    $("last-link").textContent = part.serial;
    $("last-link").href = "/parts/" + encodeURIComponent(part.part_id);
    $("last-label").textContent = (part.label || part.status) + " · " + fmt.clock(part.inspected_at);
    const overlay = $("frame-verdict");
    setVerdict(overlay, part.verdict);
    overlay.hidden = false;
    $("frame").parentElement.dataset.verdict = part.verdict;
    const url = part.heatmap_path ? await blobUrl("/inspections/" + encodeURIComponent(part.part_id) + "/heatmap") : null;
    setImage($("last-heatmap"), url);
    $("last-noheat").hidden = !!url;
  }

  async function thumbOf(part) {
    if (!thumbUrls.has(part.part_id)) {
      const url = part.image_path ? await blobUrl("/inspections/" + encodeURIComponent(part.part_id) + "/image") : null;
      thumbUrls.set(part.part_id, url);
    }
    const url = thumbUrls.get(part.part_id);
    const pic = url ? el("img", {src: url, alt: part.serial}) : el("div", {class: "noimg", text: part.label || part.status});
    return el("a", {class: "thumb " + part.verdict, href: "/parts/" + encodeURIComponent(part.part_id),
                    title: part.serial + " · " + part.verdict},
              pic, el("span", {text: part.verdict + " · " + part.serial}));
  }

  function forget(keep) {
    for (const [id, url] of thumbUrls) {
      if (!keep.has(id)) { if (url) URL.revokeObjectURL(url); thumbUrls.delete(id); }
    }
  }

  async function parts() {
    const page = await api("/inspections?limit=" + THUMBS);
    const items = page.items;
    if (!items.length) return;
    if (items[0].part_id !== lastPartId) {
      lastPartId = items[0].part_id;
      lastPart = items[0];
      await showLast(lastPart);
      const thumbs = [];
      for (const p of items) thumbs.push(await thumbOf(p));
      $("thumbs").replaceChildren(...thumbs);
      forget(new Set(items.map((p) => p.part_id)));
    }
  }

  poll(frame, FRAME_MS);
  poll(status, STATUS_MS);
  poll(parts, PARTS_MS);
  poll(shift, SHIFT_MS);
})();
