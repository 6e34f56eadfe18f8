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

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  preselectBrowserZone();
  followModality();
});
