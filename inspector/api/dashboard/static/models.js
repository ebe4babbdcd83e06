/* Models: the bundles with their cards and test figures; activate, roll back; thresholds with a
   dry run shown before they can be applied. */
"use strict";
(function () {
  const {api, el, fmt, banner, facts} = window.Inspector;
  const $ = (id) => document.getElementById(id);
  let dried = null;  // the body of the last dry run: Apply sends exactly it
  const r3 = (x) => Number(Number(x).toFixed(3));

  function figures(metrics) {
    const split = (metrics && (metrics.test || metrics.val)) || {};
    const name = metrics && metrics.test ? "test" : "val";
    const rows = Object.entries(split).filter(([, v]) => typeof v === "number")
      .map(([k, v]) => [name + " " + k, Number(v.toFixed(4))]);
    const dl = el("dl", {class: "facts small"});
    facts(dl, rows.length ? rows : [["figures", "none in the card"]]);
    return dl;
  }

  function bundle(b) {
    const c = b.card;
    const head = el("h2", {}, b.name, b.active ? el("span", {class: "badge OK", text: "active"}) : null);
    if (!b.ok) return el("article", {class: "bundle broken"}, head, el("p", {class: "error", text: b.error}));
    const dl = el("dl", {class: "facts small"});
    const t = c.thresholds;
    facts(dl, [["version", c.version], ["arch", c.arch + " · " + c.input_size + " px"],
               ["classes", c.classes.join(", ")], ["good", c.good_classes.join(", ")],
               ["thresholds", "NG ≥ " + r3(t.ng) + " · REVIEW ≥ " + r3(t.review) +
                 (t.anomaly === null ? "" : " · anomaly ≥ " + r3(t.anomaly))],
               ["gate", c.gate ? (c.fused ? "anomaly gate (fused)" : "anomaly gate") : "none"],
               ["graphs", Object.entries(c.graphs || {}).map(([k, v]) => k + " " + v).join(" · ")],
               ["created", c.created_at || "—"]]);
    const act = b.active ? null : el("button", {type: "button", class: "needs-admin primary activate",
      "data-bundle": b.name, onclick: () => activate(b.name), text: "Activate " + b.name});
    return el("article", {class: "bundle" + (b.active ? " active" : "")}, head, dl, figures(c.metrics), act);
  }

  async function load() {
    // Both answers are awaited before anything is drawn, so the active bundle and its thresholds
    // never show two different models.
    const [models, active] = await Promise.allSettled([api("/models"), api("/models/active")]);
    if (models.status === "fulfilled") {
      const body = models.value;
      $("active-version").textContent = body.active ? "· active: " + body.active : "· no station in this process";
      $("bundles").replaceChildren(...body.items.map(bundle));
    } else banner(models.reason.message, "warn");
    if (active.status === "fulfilled") {  // no station: thresholds stay empty
      const t = active.value.card.thresholds;
      $("thr-ng").value = t.ng; $("thr-review").value = t.review;
      $("thr-anomaly").value = t.anomaly === null ? "" : t.anomaly;
    }
  }

  async function swap(path, what) {
    try {
      const r = await api(path, {method: "POST"});
      banner(what + ": " + r.before.version + " → " + r.after.version + (r.warning ? " (" + r.warning + ")" : ""), "ok");
      await load();
    } catch (e) { banner(e.message, "warn"); }
  }

  const activate = (name) => swap("/models/" + encodeURIComponent(name) + "/activate", "Activated");

  function thresholdBody() {
    const body = {ng: Number($("thr-ng").value), review: Number($("thr-review").value),
                  last_n: Number($("thr-last").value || 1000)};
    if ($("thr-anomaly").value !== "") body.anomaly = Number($("thr-anomaly").value);
    return body;
  }

  function result(r) {
    const verdicts = ["OK", "REVIEW", "NG"];
    const table = el("table", {class: "table"},
      el("thead", {}, el("tr", {}, el("th", {text: "verdict"}), el("th", {text: "before"}), el("th", {text: "after"}))),
      el("tbody", {}, ...verdicts.map((v) => el("tr", {}, el("td", {class: "v " + v, text: v}),
        el("td", {text: fmt.int(r.before[v] || 0)}), el("td", {text: fmt.int(r.after[v] || 0)})))));
    return [el("p", {class: r.applied ? "ok-text" : "", text: r.message}),
            el("p", {text: r.parts + " parts re-judged (" + r.judged + " scored by " + (r.model_version || "—") +
                     "); " + r.flips_total + " would change verdict."}), table];
  }

  async function dryRun(ev) {
    ev.preventDefault();
    const body = thresholdBody();
    try {
      const r = await api("/models/active/thresholds?dry_run=true", {method: "POST", body});
      $("thr-result").replaceChildren(...result(r));
      dried = JSON.stringify(body);
      $("thr-apply").disabled = false;
    } catch (e) { $("thr-result").replaceChildren(el("p", {class: "error", text: e.message})); }
  }

  async function apply() {
    if (!dried || dried !== JSON.stringify(thresholdBody())) { $("thr-apply").disabled = true; return; }
    try {
      const r = await api("/models/active/thresholds", {method: "POST", body: JSON.parse(dried)});
      $("thr-result").replaceChildren(...result(r));
      $("thr-apply").disabled = true;
      await load();
    } catch (e) { $("thr-result").replaceChildren(el("p", {class: "error", text: e.message})); }
  }

  $("thr-form").addEventListener("submit", dryRun);
  $("thr-form").addEventListener("input", () => { $("thr-apply").disabled = true; });
  $("thr-apply").addEventListener("click", apply);
  $("rollback").addEventListener("click", () => swap("/models/rollback", "Rolled back"));
  load();
})();
