// Directory autocomplete: any <input data-annuaire-autocomplete="URL"> gets suggestions from the annuaire.
// Works on the directory page and in the composer (data-annuaire-fill="address" puts the BAL address in the
// field instead of searching). No inline script anywhere (strict CSP): this file is loaded with `defer`.
(function () {
  "use strict";
  var DELAY_MS = 200;

  function setup(input) {
    var box = document.getElementById(input.getAttribute("aria-controls")) || createBox(input);
    var timer = null;
    var lastQuery = "";
    var controller = null;

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { fetchSuggestions(input.value.trim()); }, DELAY_MS);
    });
    input.addEventListener("keydown", function (event) { onKey(event, box, input); });
    box.addEventListener("click", function (event) {
      var option = event.target.closest(".suggestion");
      if (option) { choose(input, box, option); }
    });

    function fetchSuggestions(query) {
      if (query === lastQuery) { return; }
      lastQuery = query;
      if (query.length < 2) {  // also when the composer just made a chip of the text: a late answer is dropped
        if (controller) { controller.abort(); }
        box.innerHTML = "";
        return;
      }
      if (controller) { controller.abort(); }
      controller = new AbortController();
      var url = input.getAttribute("data-annuaire-autocomplete") + "?q=" + encodeURIComponent(query);
      fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin", signal: controller.signal })
        .then(function (response) { return response.text(); })
        .then(function (html) { box.innerHTML = html; })  // server-rendered, auto-escaped fragment
        .catch(function () { /* aborted by a newer keystroke */ });
    }
  }

  function createBox(input) {
    var box = document.createElement("div");
    box.className = "suggestions";
    box.setAttribute("role", "listbox");
    box.id = (input.id || "annuaire") + "-suggestions";
    input.setAttribute("aria-controls", box.id);
    input.insertAdjacentElement("afterend", box);
    return box;
  }

  function options(box) { return Array.prototype.slice.call(box.querySelectorAll(".suggestion")); }

  function onKey(event, box, input) {
    var items = options(box);
    if (!items.length) { return; }
    var current = items.indexOf(document.activeElement);
    if (event.key === "ArrowDown") {
      event.preventDefault();
      items[Math.min(current + 1, items.length - 1)].focus();
    } else if (event.key === "Escape") {
      box.innerHTML = "";
    }
  }

  function choose(input, box, option) {
    var address = option.getAttribute("data-address");
    var detail = { address: address, name: option.getAttribute("data-name") };
    input.dispatchEvent(new CustomEvent("annuaire:select", { bubbles: true, detail: detail }));
    box.innerHTML = "";
    if (input.getAttribute("data-annuaire-fill") === "address") {
      input.value = address;
      input.focus();
      return;
    }
    input.value = address;
    if (input.form) { input.form.requestSubmit(); }
  }

  document.addEventListener("keydown", function (event) {
    var option = document.activeElement && document.activeElement.closest && document.activeElement.closest(".suggestion");
    if (!option) { return; }
    var box = option.parentElement;
    var items = options(box);
    var index = items.indexOf(option);
    if (event.key === "ArrowDown" && index < items.length - 1) { event.preventDefault(); items[index + 1].focus(); }
    if (event.key === "ArrowUp") {
      event.preventDefault();
      if (index > 0) { items[index - 1].focus(); } else { document.querySelector("[aria-controls='" + box.id + "']").focus(); }
    }
  });

  function init() {
    document.querySelectorAll("input[data-annuaire-autocomplete]").forEach(setup);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
