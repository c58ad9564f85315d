/* Small progressive enhancements; every page works without them (strict CSP: no inline script).
 *
 *   <button data-copy-target="id">   copies the text of element #id to the clipboard
 *   <button data-print>              opens the print dialog
 *   <form data-confirm="Question ?"> asks for confirmation before submitting
 */
(function () {
  "use strict";

  function copyText(button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target || !navigator.clipboard) {
      return;
    }
    var text = target.value !== undefined ? target.value : target.innerText;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var original = button.textContent;
      button.textContent = button.getAttribute("data-copied-label") || "Copié";
      window.setTimeout(function () {
        button.textContent = original;
      }, 2000);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target], [data-print]");
    if (!button) {
      return;
    }
    if (button.hasAttribute("data-print")) {
      event.preventDefault();
      window.print();
    } else {
      event.preventDefault();
      copyText(button);
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Buttons that need JavaScript stay hidden until it runs (e.g. "Copier", "Imprimer").
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-needs-js]").forEach(function (element) {
      element.hidden = false;
    });
  });
})();
