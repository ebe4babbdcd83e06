/* Central dashboard: the station selector of a page; the choice lives in ?station_id= of the URL. */
"use strict";
(function () {
  const {api, el} = window.Inspector;
  const select = document.getElementById("station-select");
  if (!select) return;
  const params = new URLSearchParams(location.search);
  const chosen = params.get("station_id") || "";

  async function fill() {
    let ids = [];
    try { ids = (await api("/fleet")).items.map((s) => s.station_id); }
    catch (e) { /* no key yet: the selector keeps the one in the URL */ }
    if (chosen && !ids.includes(chosen)) ids.push(chosen);
    select.replaceChildren(el("option", {value: "", text: "all stations"}),
      ...ids.map((id) => el("option", {value: id, text: id, selected: id === chosen})));
  }

  select.addEventListener("change", () => {
    if (select.value) params.set("station_id", select.value); else params.delete("station_id");
    params.delete("cursor");
    location.search = params.toString();
  });
  fill();
})();
