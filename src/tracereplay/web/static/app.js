// tracereplay dashboard: the few behaviours htmx does not cover. Pages work without it.
"use strict";

document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.matches("select[data-autosubmit]")) {
    target.form.submit();
  }
  // The replay form: the estimated cost of the chosen model, computed by the server per option.
  if (target.matches("select[data-estimate-target]")) {
    const option = target.selectedOptions[0];
    const output = document.getElementById(target.dataset.estimateTarget);
    if (option && output) {
      output.textContent = option.dataset.estimate;
    }
  }
});

// The waterfall: mark the row whose span the panel shows.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-span-row]");
  if (!link) {
    return;
  }
  document.querySelectorAll("[data-waterfall] li.selected").forEach((row) => row.classList.remove("selected"));
  link.closest("li").classList.add("selected");
});

// A pair's diff: the button hides what it showed when pressed again.
document.addEventListener("htmx:beforeRequest", (event) => {
  const button = event.detail.elt;
  if (!button.matches || !button.matches("[data-show-diff]")) {
    return;
  }
  const cell = document.getElementById(button.getAttribute("aria-controls"));
  if (cell && cell.childElementCount > 0) {
    event.preventDefault();
    cell.replaceChildren();
    button.textContent = "Show diff";
    button.setAttribute("aria-expanded", "false");
  } else {
    button.textContent = "Hide diff";
    button.setAttribute("aria-expanded", "true");
  }
});
