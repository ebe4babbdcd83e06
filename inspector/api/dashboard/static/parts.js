/* Parts: the rows of GET /inspections with the page's query string as filters (newest first). */
"use strict";
(function () {
  const {api, el, fmt, banner} = window.Inspector;
  const $ = (id) => document.getElementById(id);
  const filters = new URLSearchParams(location.search);
  let cursor = null;

  function row(p) {
    return el("tr", {},
      el("td", {}, el("a", {href: "/parts/" + encodeURIComponent(p.part_id), text: fmt.time(p.inspected_at)})),
      el("td", {}, el("a", {href: "/serials/" + encodeURIComponent(p.serial), text: p.serial})),
      el("td", {class: "v " + p.verdict, text: p.verdict}), el("td", {text: p.label || p.status}),
      el("td", {text: fmt.num(p.defect_score, 3)}), el("td", {text: p.review_label || ""}));
  }

  async function more() {
    const q = new URLSearchParams(filters);
    q.set("limit", "100");
    if (cursor) q.set("cursor", cursor);
    try {
      const page = await api("/inspections?" + q.toString());
      $("parts-rows").append(...page.items.map(row));
      cursor = page.next_cursor;
      $("parts-more").hidden = !cursor;
    } catch (e) { banner(e.message, "warn"); }
  }

  $("parts-filter").textContent = [...filters].map(([k, v]) => k + "=" + v).join(" · ");
  $("parts-more").addEventListener("click", more);
  more();
})();
