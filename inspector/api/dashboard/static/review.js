/* Review queue: one part at a time; confirm or correct with one touch or one key; undo the last. */
"use strict";
(function () {
  const {api, blobUrl, setImage, el, fmt, setVerdict, banner} = window.Inspector;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const state = {items: [], current: null, classes: [], done: 0, skipped: new Set(), history: [], busy: false};

  const canWrite = () => document.body.classList.contains("can-operate");

  async function loadClasses() {
    try { state.classes = (await api("/models/active")).card.classes; }
    catch (e) { state.classes = []; }
  }

  async function refill() {
    const page = await api("/review/queue?limit=50");
    state.items = page.items.filter((p) => !state.skipped.has(p.part_id));
    state.more = page.next_cursor !== null;
  }

  function progress() {
    const left = state.items.length + (state.current ? 1 : 0);
    $("rv-progress").textContent = "Reviewed " + state.done + " this session · " + left +
      (state.more ? "+" : "") + " waiting" + (state.skipped.size ? " · " + state.skipped.size + " skipped" : "");
    $("rv-undo").disabled = state.history.length === 0;
  }

  function classButtons(p) {
    const names = [...new Set([...state.classes, ...Object.keys(p.scores || {})])];
    return names.map((name, i) => el("button", {
      type: "button", class: "choice" + (name === p.label ? " model" : ""), "data-label": name,
      onclick: () => decide(name)}, i < 9 ? el("kbd", {text: String(i + 1)}) : null, " " + name));
  }

  async function show(p) {
    state.current = p;
    $("rv-empty").hidden = !!p;
    $("rv-part").hidden = !p;
    if (!p) { setImage($("rv-image"), null); setImage($("rv-heatmap"), null); progress(); return; }
    setVerdict($("rv-verdict"), p.verdict);
    $("rv-link").textContent = p.serial;
    $("rv-link").href = "/parts/" + enc(p.part_id);
    $("rv-label").textContent = p.label || p.status;
    $("rv-score").textContent = p.defect_score === null ? "" : "(defect score " + fmt.num(p.defect_score, 3) + ")";
    $("rv-confirm").disabled = !p.label;
    $("rv-classes").replaceChildren(...classButtons(p));
    progress();
    const img = p.image_path ? await blobUrl("/inspections/" + enc(p.part_id) + "/image") : null;
    const heat = p.heatmap_path ? await blobUrl("/inspections/" + enc(p.part_id) + "/heatmap") : null;
    if (state.current !== p) return;
    setImage($("rv-image"), img);
    $("rv-noimage").hidden = !!img;
    const showHeat = $("rv-heat").getAttribute("aria-pressed") === "true";
    setImage($("rv-heatmap"), heat);
    $("rv-heatmap").hidden = !(heat && showHeat);
  }

  async function next() {
    if (!state.items.length) await refill();
    await show(state.items.shift() || null);
  }

  async function decide(label) {
    const p = state.current;
    if (!p || state.busy || !canWrite()) return;
    state.busy = true;  // only while the review is posted: the next part shows at once
    let r;
    try { r = await api("/inspections/" + enc(p.part_id) + "/review", {method: "POST", body: {label}}); }
    catch (e) { banner(e.message, "warn"); return; }
    finally { state.busy = false; }
    state.history.push({part: p, label: r.review_label});
    state.done += 1;
    $("rv-last").textContent = "Recorded " + p.serial + " as " + r.review_label + ".";
    await next();
  }

  /* The API has no 'unreview': undo brings the part back, and the next choice is recorded as a
     correction (the audit log keeps both). */
  async function undo() {
    const last = state.history.pop();
    if (!last || !canWrite()) return;
    if (state.current) state.items.unshift(state.current);
    state.done -= 1;
    $("rv-last").textContent = "Undone: " + last.part.serial + " (was " + last.label +
      ") is back; your next choice replaces it.";
    await show(last.part);
  }

  async function skip() {
    if (!state.current) return;
    state.skipped.add(state.current.part_id);
    await next();
  }

  function toggleHeat() {
    const b = $("rv-heat");
    const on = b.getAttribute("aria-pressed") !== "true";
    b.setAttribute("aria-pressed", String(on));
    $("rv-heatmap").hidden = !(on && $("rv-heatmap").src);
  }

  function onKey(ev) {
    if (ev.target.closest("input, select, textarea, dialog") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key.toLowerCase();
    if (k === "h") { toggleHeat(); return; }
    if (!canWrite()) return;
    if (k === "enter" && state.current && state.current.label) decide(state.current.label);
    else if (k === "u" || k === "backspace") undo();
    else if (k === "s") skip();
    else if (/^[1-9]$/.test(k)) {
      const b = $("rv-classes").children[Number(k) - 1];
      if (b) decide(b.dataset.label);
    } else return;
    ev.preventDefault();
  }

  $("rv-confirm").addEventListener("click", () => state.current && decide(state.current.label));
  $("rv-undo").addEventListener("click", undo);
  $("rv-skip").addEventListener("click", skip);
  $("rv-heat").addEventListener("click", toggleHeat);
  document.addEventListener("keydown", onKey);
  (async () => {
    await window.Inspector.ready;
    await loadClasses();
    try { await next(); } catch (e) { $("rv-progress").textContent = e.message; }
  })();
})();
