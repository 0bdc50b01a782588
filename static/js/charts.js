/* Plotly charts from JSON: an element with data-plotly-figure="ID" is drawn from the
   <script type="application/json" id="ID"> beside it (campaigns/charts.py builds the figure).
   No inline script and no eval (the CSP forbids both); Plotly's own CSS comes from
   static/vendor/plotly/plotly.css, linked as #plotly.js-style-global.no-inline-styles so Plotly
   does not write a <style> element. Drawn on load and after every htmx swap; data-drawn="true"
   marks a chart that is on the page (the browser tests wait for it). */
(function () {
  "use strict";

  var CONFIG = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
  };

  function draw(root) {
    if (!window.Plotly || !root || !root.querySelectorAll) return;
    root.querySelectorAll("[data-plotly-figure]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.plotlyFigure);
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      el.dataset.drawn = "pending";
      window.Plotly.newPlot(el, figure.data, figure.layout, CONFIG).then(function () {
        el.dataset.drawn = "true";
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document.body); });
  document.addEventListener("htmx:load", function (event) { draw(event.target); });
})();
