/* Case page tabs (why / graph / evidence / history). Without JavaScript every panel shows, one after the
   other; with it, one panel at a time, chosen by the URL's #tab-… so a redirect can land on a tab. */
(function () {
  "use strict";
  function init() {
    var root = document.querySelector("[data-tabs]");
    if (!root) return;
    var tabs = root.querySelectorAll("[role=tab]");
    var panels = root.querySelectorAll("[role=tabpanel]");
    function show(id) {
      var found = false;
      for (var i = 0; i < panels.length; i++) {
        var on = panels[i].id === id;
        found = found || on;
        panels[i].hidden = !on;
      }
      if (!found) return show(panels[0].id);
      for (var j = 0; j < tabs.length; j++) {
        var selected = tabs[j].getAttribute("aria-controls") === id;
        tabs[j].setAttribute("aria-selected", selected ? "true" : "false");
        tabs[j].tabIndex = selected ? 0 : -1;
      }
      document.dispatchEvent(new CustomEvent("cs:tabshown", { detail: id }));
    }
    for (var k = 0; k < tabs.length; k++) {
      tabs[k].addEventListener("click", function (event) {
        event.preventDefault();
        var id = this.getAttribute("aria-controls");
        history.replaceState(null, "", "#" + id);
        show(id);
      });
    }
    window.addEventListener("hashchange", function () {
      if ((location.hash || "").indexOf("#tab-") === 0) show(location.hash.slice(1));
    });
    root.classList.add("cs-tabs-on");
    show((location.hash || "").slice(1) || panels[0].id);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
