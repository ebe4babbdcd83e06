/* Part and serial pages: image with heatmap toggle, scores, facts, and the serial's genealogy. */
"use strict";
(function () {
  const {api, blobUrl, setImage, el, fmt, setVerdict, facts, banner} = window.Inspector;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;

  function detailText(details) {
    return Object.entries(details || {})
      .filter(([k, v]) => v !== null && k !== "part_id" && k !== "image")
      .map(([k, v]) => k + " " + (typeof v === "number" ? Number(v.toFixed(4)) : v)).join(" · ");
  }

  function entry(e) {
    const isPart = e.kind === "inspection";
    const what = isPart && e.details && e.details.part_id
      ? el("a", {href: "/parts/" + enc(e.details.part_id), text: e.what}) : el("span", {text: e.what});
    const verdict = isPart ? (e.what.split(" ")[0]) : null;
    return el("li", {class: "tl " + e.kind},
      el("time", {datetime: e.at, text: fmt.time(e.at)}),
      el("span", {class: "kind " + (verdict || ""), text: isPart ? "inspected" : "process"}),
      el("b", {}, what), el("span", {class: "muted", text: " " + detailText(e.details)}));
  }

  async function timeline(serial) {
    const g = await api("/serials/" + enc(serial));
    $("timeline").replaceChildren(...g.timeline.map(entry));
    return g;
  }

  function scoreBars(scores) {
    const rows = Object.entries(scores || {}).sort((a, b) => b[1] - a[1]);
    return rows.map(([name, value]) => el("div", {class: "bar-row"},
      el("span", {class: "bar-name", text: name}),
      el("span", {class: "bar"}, el("span", {class: "fill", style: "width:" + (100 * value).toFixed(1) + "%"})),
      el("span", {class: "bar-value", text: value.toFixed(3)})));
  }

  async function images(p) {
    const id = enc(p.part_id);
    const img = p.image_path ? await blobUrl("/inspections/" + id + "/image") : null;
    const heat = p.heatmap_path ? await blobUrl("/inspections/" + id + "/heatmap") : null;
    setImage($("part-image"), img);
    $("part-noimage").hidden = !!img;
    const layer = $("part-heatmap");
    setImage(layer, heat);
    layer.hidden = true;
    const toggle = $("heat-toggle");
    toggle.disabled = !heat;
    toggle.textContent = heat ? "Heatmap" : "No heatmap archived";
    toggle.addEventListener("click", () => {
      layer.hidden = !layer.hidden;
      toggle.setAttribute("aria-pressed", String(!layer.hidden));
    });
  }

  async function partPage(partId) {
    let p;
    try { p = await api("/inspections/" + enc(partId)); }
    catch (e) { banner(e.message, "warn"); return; }
    setVerdict($("part-verdict"), p.verdict);
    facts($("part-facts"), [
      ["Serial", p.serial + " (" + p.serial_source + ")"], ["Part id", p.part_id],
      ["Station", p.station_id], ["Inspected", fmt.time(p.inspected_at)], ["Status", p.status],
      ["Class", p.label || "—"], ["Defect score", fmt.num(p.defect_score, 3)],
      ["Anomaly score", fmt.num(p.anomaly_score, 3)], ["Model", p.model_version || "—"],
      ["Thresholds", "NG ≥ " + fmt.num(p.threshold_ng, 2) + " · REVIEW ≥ " + fmt.num(p.threshold_review, 2)],
      ["Latency", fmt.num(p.latency_ms, 1) + " ms"], ["Reviewed as", p.review_label || "not reviewed"],
    ].concat(p.error ? [["Error", p.error]] : []));
    $("part-scores").replaceChildren(...scoreBars(p.scores));
    $("part-serial").textContent = p.serial;
    $("part-serial").href = "/serials/" + enc(p.serial);
    await images(p);
    try { await timeline(p.serial); } catch (e) { $("timeline").replaceChildren(el("li", {text: e.message})); }
  }

  async function serialPage(serial) {
    try {
      const g = await timeline(serial);
      $("serial-summary").textContent = g.inspections.length + " inspection(s), " + g.events.length +
        " upstream process event(s), oldest first";
    } catch (e) { $("serial-summary").textContent = e.message; }
  }

  const part = $("part");
  if (part) partPage(part.dataset.partId);
  const serial = $("serial");
  if (serial) serialPage(serial.dataset.serial);
})();
