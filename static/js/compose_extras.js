/* The composer's extras (strict CSP: no inline script):
 * - the patient-only controls (INS, closing the exchange) show only when a recipient is a patient's
 *   messaging address (…@patient.mssante.fr), or when they already hold a value or an error;
 * - files dropped on the attachment zone go through the same upload as the file picker (compose.js
 *   listens to the input's change event). Without JavaScript every control stays visible.
 */
(function () {
  "use strict";

  var PATIENT = /@patient\.mssante\.fr\b/i;

  function patientControls(form) {
    var rows = form.querySelectorAll("[data-patient-only]");
    if (!rows.length) {
      return;
    }
    function refresh() {
      // The chips' addresses (one hidden input each, compose.js) and the text being typed: the values only,
      // not the row's text, which also holds the suggestions, the recent addresses and announcements.
      var text = Array.prototype.map.call(form.querySelectorAll("[data-recipients] input"), function (field) {
        return field.value;
      }).join(" ");
      var ins = form.elements.patient_ins;
      var closing = form.elements.close_exchange;
      var needed = PATIENT.test(text) || Boolean(ins && ins.value) || Boolean(closing && closing.checked);
      rows.forEach(function (row) {
        row.hidden = !needed && !row.classList.contains("has-error");
      });
    }
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    if (window.MutationObserver) {
      var observer = new MutationObserver(refresh);
      form.querySelectorAll("[data-recipients]").forEach(function (row) {
        observer.observe(row, { childList: true, subtree: true, characterData: true });
      });
    }
    refresh();
  }

  function dropzone(zone) {
    var input = zone.querySelector("input[type=file]");
    if (!input) {
      return;
    }
    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
      zone.classList.add("is-dragging");
    });
    zone.addEventListener("dragleave", function () {
      zone.classList.remove("is-dragging");
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("is-dragging");
      if (!event.dataTransfer || !event.dataTransfer.files.length) {
        return;
      }
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-compose]");
    if (form) {
      patientControls(form);
    }
    document.querySelectorAll("[data-dropzone]").forEach(dropzone);
  });
})();
