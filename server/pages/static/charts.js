// Draws each chart of the page: a <div data-figure="ID"> whose figure (plotly JSON, made in
// Python by server/charts/) is in <script type="application/json" id="ID">.
"use strict";

// no mode bar: its buttons have no accessible names; the numbers are in the table beside it
const CONFIG = { displayModeBar: false, displaylogo: false };

// Back to the browser between charts, so each chart is drawn in a task of its own: drawing a
// page's five charts in one task blocked the main thread for 250-500 ms (bench/pages.py).
const nextTask = () =>
  globalThis.scheduler && typeof scheduler.yield === "function"
    ? scheduler.yield()
    : new Promise((resolve) => setTimeout(resolve));

const figureOf = (chart) =>
  JSON.parse(document.getElementById(chart.dataset.figure).textContent);

// Draws the charts one task each; a chart drawn before at the same width is left as it is.
const drawCharts = async () => {
  for (const chart of document.querySelectorAll("[data-figure]")) {
    const width = chart.getBoundingClientRect().width;
    if (chart.dataset.drawnWidth === String(width)) continue;
    await nextTask();
    const figure = figureOf(chart);
    // a figure that sets its height (several panels, a row per treatment) gets a box of that
    // height, neither the page's 24rem minimum with a gap under it nor squeezed into it
    if (figure.layout.height) {
      chart.style.height = `${figure.layout.height}px`;
      chart.style.minHeight = "0";
    }
    chart.dataset.drawnWidth = String(width);
    await Plotly.newPlot(chart, figure.data, figure.layout, CONFIG);
  }
};

let resizing;
document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  // drawn afresh at the new width: Plotly's own responsive resize kept the legend's margin of
  // the old width (a legend wrapped onto two lines at 390 px sat over the plot at 1280)
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(drawCharts, 150);
  });
});
