/* Small progressive enhancements; every page works without them (strict CSP: no inline script).
 *
 *   <button data-copy-target="id">   copies the text of element #id to the clipboard
 *   <button data-print>              opens the print dialog
 *   <form data-confirm="Question ?"> asks for confirmation before submitting
 *   .table-wrap that scrolls sideways (phones) becomes a named, focusable region, so that a keyboard can
 *   scroll it (WCAG 2.1.1); one that fits gets no needless tab stop
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

  function tableName(wrap) {
    var caption = wrap.querySelector("caption");
    if (caption) {
      return caption.textContent.trim();
    }
    var headings = Array.prototype.filter.call(document.querySelectorAll("h1, h2, h3"), function (heading) {
      return heading.compareDocumentPosition(wrap) & Node.DOCUMENT_POSITION_FOLLOWING;
    });
    var heading = headings[headings.length - 1];
    return heading ? "Tableau : " + heading.textContent.trim() : "Tableau";
  }

  // Templates may name a region themselves (tabindex set): those are left alone.
  function markScrollingTables() {
    document.querySelectorAll(".table-wrap:not([data-region-fixed])").forEach(function (wrap) {
      if (wrap.hasAttribute("tabindex") && !wrap.hasAttribute("data-region-auto")) {
        wrap.setAttribute("data-region-fixed", "");
        return;
      }
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", tableName(wrap));
        wrap.setAttribute("data-region-auto", "");
      } else if (wrap.hasAttribute("data-region-auto")) {
        ["tabindex", "role", "aria-label", "data-region-auto"].forEach(function (name) {
          wrap.removeAttribute(name);
        });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    // Buttons that need JavaScript stay hidden until it runs (e.g. "Copier", "Imprimer").
    document.querySelectorAll("[data-needs-js]").forEach(function (element) {
      element.hidden = false;
    });
    markScrollingTables();
  });
  window.addEventListener("resize", markScrollingTables);
  document.addEventListener("htmx:afterSettle", markScrollingTables);
})();
