/* Ownership graph: fetches the permission-checked JSON view and draws it with cytoscape + dagre.
   Owners are drawn above what they own (rankDir TB, edges owner -> subject). Dagre breaks cycles
   (cross-holdings) for layering, so cyclic ownership lays out and terminates. */
(function () {
  "use strict";
  if (window.cytoscape && window.cytoscapeDagre && !window.__csDagreRegistered) {
    window.cytoscape.use(window.cytoscapeDagre);
    window.__csDagreRegistered = true;
  }

  function label(node) {
    var text = node.label;
    if (text.length > 34) text = text.slice(0, 32) + "…";
    if (node.jurisdiction) text += "\n(" + node.jurisdiction + ")";
    return text;
  }

  function draw(container) {
    var url = container.getAttribute("data-ownership-graph");
    var status = container.parentNode.querySelector("[data-graph-status]");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (graph) {
        container.innerHTML = "";
        var elements = [];
        graph.nodes.forEach(function (n) {
          var classes = [n.kind];
          if (n.is_subject) classes.push("subject");
          if (n.restricted) classes.push("restricted");
          if (n.on_path) classes.push("onpath");
          if (n.outcome) classes.push("outcome-" + n.outcome);
          elements.push({ data: { id: n.id, label: label(n), url: n.url }, classes: classes.join(" ") });
        });
        graph.edges.forEach(function (e) {
          var classes = [];
          if (e.on_path) classes.push("onpath");
          if (e.control) classes.push("control");
          if (e.indicator) classes.push("indicator");
          elements.push({ data: { id: e.id, source: e.source, target: e.target, label: e.label }, classes: classes.join(" ") });
        });
        var hasDagre = !!window.__csDagreRegistered;
        var cy = window.cytoscape({
          container: container,
          elements: elements,
          minZoom: 0.2,
          maxZoom: 2.5,
          style: [
            { selector: "node", style: {
              "shape": "round-rectangle", "background-color": "#eceff1", "border-width": 2, "border-color": "#78909c",
              "label": "data(label)", "text-wrap": "wrap", "text-max-width": 170, "font-size": 11, "color": "#222",
              "text-valign": "center", "text-halign": "center", "width": 180, "height": 44, "padding": 4 } },
            { selector: "node.person", style: { "shape": "ellipse", "background-color": "#ffffff", "width": 160 } },
            { selector: "node.unspecified", style: { "shape": "round-rectangle", "border-style": "dashed", "background-color": "#f5f5f5", "color": "#555" } },
            { selector: "node.outcome-block", style: { "background-color": "#fdecea" } },
            { selector: "node.restricted", style: { "background-color": "#ffcdd2", "border-color": "#c62828", "border-width": 3, "font-weight": "bold" } },
            { selector: "node.subject", style: { "border-color": "#1565c0", "border-width": 4, "font-weight": "bold" } },
            { selector: "edge", style: {
              "width": 1.5, "line-color": "#9e9e9e", "target-arrow-color": "#9e9e9e", "target-arrow-shape": "triangle",
              "curve-style": "bezier", "label": "data(label)", "font-size": 10, "text-background-color": "#fff",
              "text-background-opacity": 0.9, "text-background-padding": 2, "color": "#333" } },
            { selector: "edge.control", style: { "line-color": "#6a1b9a", "target-arrow-color": "#6a1b9a", "line-style": "dashed" } },
            { selector: "edge.indicator", style: { "line-style": "dotted" } },
            { selector: "edge.onpath", style: { "width": 4, "line-color": "#c62828", "target-arrow-color": "#c62828", "color": "#b71c1c", "font-weight": "bold" } }
          ],
          layout: hasDagre
            ? { name: "dagre", rankDir: "TB", nodeSep: 30, rankSep: 70, edgeSep: 10, padding: 20 }
            : { name: "breadthfirst", directed: true, padding: 20 }
        });
        cy.on("tap", "node", function (evt) {
          var target = evt.target.data("url");
          if (target) window.location.href = target;
        });
        container.setAttribute("data-graph-ready", "true");
        if (status) {
          var text = graph.nodes.length + " parties, " + graph.edges.length + " relationships in force on " + graph.as_of + ".";
          if (graph.truncated) text += " Truncated: only the nearest " + graph.max_nodes + " parties / " + graph.max_depth + " levels are shown.";
          status.textContent = text;
        }
      })
      .catch(function (error) {
        container.innerHTML = "";
        var p = document.createElement("p");
        p.className = "cs-muted";
        p.style.padding = "12px";
        p.textContent = "The ownership graph could not be loaded (" + error.message + ").";
        container.appendChild(p);
        container.setAttribute("data-graph-ready", "error");
      });
  }

  /* A graph in a hidden tab is drawn when its tab is first shown (cytoscape needs the container's size). */
  function drawWhenVisible(container) {
    if (container.offsetParent !== null) {
      draw(container);
      return;
    }
    document.addEventListener("cs:tabshown", function shown() {
      if (container.offsetParent === null) return;
      document.removeEventListener("cs:tabshown", shown);
      draw(container);
    });
  }

  function init() {
    var containers = document.querySelectorAll("[data-ownership-graph]");
    for (var i = 0; i < containers.length; i++) drawWhenVisible(containers[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
