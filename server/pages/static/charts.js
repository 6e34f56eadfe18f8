// Draws each chart of the page: a <div data-figure="ID"> whose figure (plotly JSON, made in
// Python by server/charts/) is in <script type="application/json" id="ID">.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const chart of document.querySelectorAll("[data-figure]")) {
    const figure = JSON.parse(document.getElementById(chart.dataset.figure).textContent);
    // no mode bar: its buttons have no accessible names; the numbers are in the table beside it
    Plotly.newPlot(chart, figure.data, figure.layout, {
      responsive: true,
      displayModeBar: false,
      displaylogo: false,
    });
  }
});
