/* Analytics: yield and verdicts per hour and shift, Pareto, no-read rate, root-cause ranking. */
"use strict";
(function () {
  const {api, el, fmt, facts, banner} = window.Inspector;
  const $ = (id) => document.getElementById(id);
  const HOUR = 3600 * 1000;
  // a central service's station selector puts ?station_id= in the URL: every figure keeps to it
  const chosen = new URLSearchParams(location.search).get("station_id");
  const station = chosen ? {station_id: chosen} : {};

  function partsLink(params) {
    return "/parts?" + new URLSearchParams(params).toString();
  }

  function shiftRow(s) {
    return el("tr", {}, el("td", {text: s.shift}), el("td", {text: fmt.time(s.start)}),
      el("td", {text: fmt.int(s.parts)}), el("td", {text: fmt.pct(s.yield)}), el("td", {text: fmt.int(s.review)}),
      el("td", {text: fmt.int(s.ng)}), el("td", {text: fmt.pct(s.no_read_rate)}));
  }

  // a finding links to the parts it rests on: its `where` conditions as /inspections filters
  function findingLink(f, range) {
    const q = new URLSearchParams(range);
    (f.where || []).forEach((c) => q.append("condition", c));
    return "/parts?" + q.toString();
  }

  function findingRow(f, range) {
    const name = f.where && f.where.length
      ? el("a", {href: findingLink(f, range), class: "finding-link", text: f.name, title: f.advice || f.name})
      : el("span", {text: f.name});
    return el("tr", {}, el("td", {}, name), el("td", {text: f.kind}), el("td", {text: fmt.int(f.parts)}),
      el("td", {text: fmt.int(f.defects)}),
      el("td", {class: "rc-group", text: f.group_parts == null ? "" : fmt.int(f.group_defects) + " of " + fmt.int(f.group_parts)}),
      el("td", {text: f.test || f.status}));
  }

  async function load() {
    const hours = Number($("an-range").value);
    const until = new Date(Math.ceil(Date.now() / HOUR) * HOUR);
    const since = new Date(until.getTime() - hours * HOUR);
    const range = {since: since.toISOString(), until: until.toISOString(), ...station};
    try {
      const st = await api("/stats?" + new URLSearchParams(range));
      const t = st.total;
      facts($("an-total"), [["Parts", fmt.int(t.parts)], ["Yield", fmt.pct(t.yield)], ["OK", fmt.int(t.ok)],
        ["REVIEW", fmt.int(t.review)], ["NG", fmt.int(t.ng)], ["No-read rate", fmt.pct(t.no_read_rate)]]);
      const bars = st.hourly.map((h) => ({
        label: new Date(h.hour).toLocaleTimeString("en-GB", {hour: "2-digit", minute: "2-digit", hour12: false}),
        parts: {OK: h.ok, REVIEW: h.review, NG: h.ng}, line: h.yield,
        href: partsLink({since: h.hour, until: new Date(new Date(h.hour).getTime() + HOUR).toISOString(), ...station})}));
      window.Charts.stacked($("an-hourly"), bars, ["OK", "REVIEW", "NG"], "yield");
      window.Charts.pareto($("an-pareto"), st.pareto.map((d) => ({
        label: d.label, value: d.parts, cumulative: d.cumulative_share, href: partsLink({...range, label: d.label})})));
      $("an-shifts").replaceChildren(...st.shifts.slice().reverse().map(shiftRow));
    } catch (e) { banner(e.message, "warn"); }
    try {
      const rc = await api("/root-cause?" + new URLSearchParams(range));
      $("rc-message").textContent = rc.message + " (" + rc.parts + " parts, " + rc.defects + " defects)";
      $("rc-rows").replaceChildren(...rc.ranked.map((f) => findingRow(f, range)));
    } catch (e) { $("rc-message").textContent = e.message; }
  }

  $("an-range").addEventListener("change", load);
  load();
})();
