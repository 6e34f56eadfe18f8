// Small enhancements of the clinician pages; every page works without them.
"use strict";

// "Copy link" buttons: data-copy names the input to copy, data-copied the status to update
function setUpCopyButtons() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copy);
      const status = document.getElementById(button.dataset.copied);
      try {
        await navigator.clipboard.writeText(input.value);
        status.textContent = "Link copied.";
      } catch {
        input.select();
        status.textContent = "Copying is blocked here: the link is selected, press Ctrl+C or ⌘C.";
      }
    });
  }
}

// A time zone select marked data-browser-zone starts at this browser's zone
function preselectBrowserZone() {
  const select = document.querySelector("select[data-browser-zone]");
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!select || !zone) return;
  if (![...select.options].some((option) => option.value === zone)) {
    select.add(new Option(zone.replaceAll("_", " "), zone), 0);
  }
  select.value = zone;
}

// Questions marked data-modalities show only for those modalities; hidden ones are disabled,
// so they are not posted
function followModality() {
  const form = document.querySelector("form[data-modality-form]");
  if (!form) return;
  const update = () => {
    const chosen = form.querySelector("input[name=modality]:checked");
    for (const question of form.querySelectorAll("[data-modalities]")) {
      const shown = !chosen || question.dataset.modalities.split(" ").includes(chosen.value);
      question.hidden = !shown;
      for (const input of question.querySelectorAll("input, select, textarea")) {
        input.disabled = !shown;
      }
    }
  };
  form.addEventListener("change", update);
  update();
}

// The Today page's red flags stay current while it is open: the section is fetched again every
// few seconds (the server answers 304 while nothing changed; the page sends If-None-Match
// itself, as the answers are no-store), and the tab's title shows how many are open. A form
// being filled in is not swapped out from under the clinician: the new list waits for it.
const ALERTS_POLL_MS = 5000;

function followAlerts() {
  const live = document.getElementById("live-alerts");
  if (!live) return;
  const status = document.getElementById("live-alerts-status");
  let etag = live.dataset.etag;
  let shown = Number(live.querySelector("[data-open-alerts]")?.dataset.openAlerts || 0);
  let waiting = null; // a newer list, held while a form in the section has focus
  const show = (html, tag) => {
    live.innerHTML = html;
    etag = tag;
    waiting = null;
  };
  let inFlight = false;
  const refresh = async () => {
    if (inFlight) return; // a slow answer must not be overtaken by an older one
    if (waiting && !live.contains(document.activeElement)) show(waiting.html, waiting.etag);
    inFlight = true;
    let response;
    try {
      response = await fetch(live.dataset.liveUrl, {
        headers: { "If-None-Match": `W/"${etag}"` },
        cache: "no-store",
        credentials: "same-origin",
        redirect: "manual", // signed out: the sign-in page must not stand in for the list
      });
    } catch {
      return; // offline a moment: the next round tries again
    } finally {
      inFlight = false;
    }
    const count = response.headers.get("X-Open-Alerts");
    if (response.status === 304) return;
    if (response.status !== 200 || count === null) {
      document.getElementById("live-alerts-stale").hidden = false;
      return;
    }
    const html = await response.text();
    const tag = (response.headers.get("ETag") || "").replace(/^W\//, "").replaceAll('"', "");
    const open = Number(count);
    document.title = open ? `(${open}) ${live.dataset.title}` : live.dataset.title;
    if (open > shown) {
      status.textContent = `New red flag: ${open} to act on.`;
    }
    shown = open;
    if (live.contains(document.activeElement)) waiting = { html, etag: tag };
    else show(html, tag);
  };
  setInterval(refresh, ALERTS_POLL_MS);
}

// "Print" buttons (data-print): the browser's print dialog
function setUpPrintButtons() {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
}

document.addEventListener("DOMContentLoaded", () => {
  followAlerts();
  setUpCopyButtons();
  setUpPrintButtons();
  preselectBrowserZone();
  followModality();
});
