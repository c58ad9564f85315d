// The composer: recipients as chips checked against the trust rules while you write, drafts saved as you type,
// attachments uploaded (and encrypted by the server) as soon as they are chosen. Without JavaScript the same
// form still works: addresses separated by commas, files sent with the form, « Enregistrer le brouillon ».
// No inline script anywhere (strict CSP): this file is loaded with `defer`.
(function () {
  "use strict";
  var SAVE_DELAY_MS = 1500;   // after the last keystroke
  var SAVE_EVERY_MS = 15000;  // while changes are pending (e.g. a long pause mid-word)
  var SEPARATORS = /[,;]/;

  function setup(form) {
    var state = { draftId: form.getAttribute("data-draft-id") || "", dirty: false, sending: false, timer: null };
    var queue = Promise.resolve();  // one request at a time: the first save creates the draft, the others reuse it
    var status = document.getElementById("draft-status");
    var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;

    function withDraft(url) {
      var base = url.split("?")[0];
      return state.draftId ? base + "?draft=" + encodeURIComponent(state.draftId) : url;
    }

    function learnDraft(response) {
      var id = response.headers.get("X-Draft-Id");
      if (!id || id === state.draftId) { return; }
      state.draftId = id;
      form.setAttribute("data-draft-id", id);
      // The form's buttons are named "action", so `form.action` is a RadioNodeList, not the attribute: always
      // go through getAttribute/setAttribute (reading `form.action` once put "[object RadioNodeList]" in the URL).
      var url = withDraft(form.getAttribute("data-compose-base"));
      form.setAttribute("action", url);
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", url);
      }
    }

    function post(url, body) {
      body.set("csrfmiddlewaretoken", csrf);
      return fetch(withDraft(url), {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf, "HX-Request": "true" }
      }).then(function (response) {
        learnDraft(response);
        return response.text().then(function (html) { return { ok: response.ok, status: response.status, html: html }; });
      });
    }

    function enqueue(task) {
      queue = queue.then(task, task);
      return queue;
    }

    function fieldsOnly() {
      var data = new FormData(form);
      data.delete("attachments");
      data.delete("action");
      return data;
    }

    function save() {
      window.clearTimeout(state.timer);
      if (state.sending) { return queue; }
      state.dirty = false;
      return enqueue(function () {
        if (state.sending) { return null; }
        return post(form.getAttribute("data-save-url"), fieldsOnly()).then(function (result) {
          if (status) {
            status.textContent = result.ok ? "" : "Le brouillon n'a pas pu être enregistré ; nouvel essai dans quelques secondes.";
            if (result.ok) { status.innerHTML = result.html; }  // server-rendered, auto-escaped fragment
          }
          if (!result.ok) { state.dirty = true; }
        }).catch(function () {
          state.dirty = true;
          if (status) { status.textContent = "Hors ligne : le brouillon sera enregistré dès le retour de la connexion."; }
        });
      });
    }

    function changed() {
      if (!state.dirty && status) { status.textContent = "Modifications non enregistrées…"; }
      state.dirty = true;
      window.clearTimeout(state.timer);
      state.timer = window.setTimeout(save, SAVE_DELAY_MS);
    }

    form.addEventListener("input", function (event) {
      if (event.target.type === "file") { return; }
      changed();
    });
    form.addEventListener("change", function (event) {
      if (event.target.type === "file") { upload(event.target); } else { changed(); }
    });
    window.setInterval(function () { if (state.dirty) { save(); } }, SAVE_EVERY_MS);
    form.addEventListener("submit", function () { state.sending = true; window.clearTimeout(state.timer); });
    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {  // Ctrl+Entrée sends, as in most webmails
        event.preventDefault();
        form.requestSubmit(form.querySelector("button[name=action][value=send]"));
      }
    });
    window.addEventListener("pagehide", function () {
      if (state.dirty && !state.sending && navigator.sendBeacon) {
        var data = fieldsOnly();
        data.set("csrfmiddlewaretoken", csrf);
        navigator.sendBeacon(withDraft(form.getAttribute("data-save-url")), data);
      }
    });

    // --- attachments ---
    var progress = document.getElementById("compose-upload-progress");
    var list = document.getElementById("compose-attachments");
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;

    function upload(input) {
      var files = Array.prototype.slice.call(input.files || []);
      input.value = "";
      files.forEach(function (file) {
        if (maxBytes && file.size > maxBytes) {
          progress.textContent = "« " + file.name + " » est trop volumineux : les pièces jointes ne peuvent dépasser " +
            (maxBytes / 1048576).toFixed(1).replace(".", ",") + " Mo au total.";
          return;
        }
        enqueue(function () {
          progress.textContent = "Envoi de « " + file.name + " »…";
          var data = fieldsOnly();
          data.append("attachments", file, file.name);
          return post(form.getAttribute("data-upload-url"), data).then(function (result) {
            if (result.ok) { list.innerHTML = result.html; progress.textContent = "« " + file.name + " » est joint."; }
            else { progress.textContent = "La pièce jointe n'a pas pu être envoyée. Réessayez."; }
          }).catch(function () { progress.textContent = "La pièce jointe n'a pas pu être envoyée. Réessayez."; });
        });
      });
    }

    list.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove-attachment]");
      if (!button) { return; }
      event.preventDefault();
      var url = button.getAttribute("data-remove-attachment");
      enqueue(function () {
        var data = new FormData();
        data.set("csrfmiddlewaretoken", csrf);
        return fetch(url, { method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRFToken": csrf } })
          .then(function (response) { return response.text(); })
          .then(function (html) { list.innerHTML = html; progress.textContent = "Pièce jointe retirée."; });
      });
    });

    // --- From: the "on behalf of the service" note follows the chosen BAL ---
    var from = form.querySelector("[data-compose-from]");
    var note = form.querySelector("[data-on-behalf-note]");
    if (from && note) {
      from.addEventListener("change", function () {
        var option = from.options[from.selectedIndex];
        note.hidden = !option || option.getAttribute("data-kind") !== "organisational";
      });
    }

    form.querySelectorAll("[data-recipients]").forEach(function (row) { setupRecipients(row, form, changed); });
    secondaryRecipients(form);
    if (form.hasAttribute("data-save-on-load")) { save(); }  // a reply shows "X is replying" to the team at once
  }

  // --- Cc and Cci folded behind « Cc / Cci » until used (one « Destinataires » field is what most need) ---
  function secondaryRecipients(form) {
    var button = form.querySelector("[data-show-secondary]");
    var rows = Array.prototype.slice.call(form.querySelectorAll("[data-secondary]"));
    if (!button || !rows.length) { return; }
    var used = rows.some(function (row) {
      return row.querySelector(".compose-chip") || row.classList.contains("has-error") ||
        row.querySelector("[data-recipient-input]").value.trim();
    });
    if (used) { return; }  // a reply to all, a draft with copies: shown as they are
    rows.forEach(function (row) { row.hidden = true; });
    button.hidden = false;
    button.addEventListener("click", function () {
      rows.forEach(function (row) { row.hidden = false; });
      button.setAttribute("aria-expanded", "true");
      button.hidden = true;
      rows[0].querySelector("[data-recipient-input]").focus();
    });
  }

  // --- recipients as chips ---
  function setupRecipients(row, form, changed) {
    var input = row.querySelector("[data-recipient-input]");
    var chips = row.querySelector(".compose-chips");
    var box = row.querySelector("[data-chipbox]");
    var announce = row.querySelector("[data-chip-status]");
    var name = input.name;
    var checkUrl = form.getAttribute("data-check-url");

    function say(text) {  // for screen readers: the chips change out of the input they are typing in
      if (announce) { announce.textContent = text; }
    }

    function removeChip(chip) {
      var address = chip.querySelector("input[type=hidden]").value;
      chip.remove();
      changed();
      say(address + " retiré des destinataires.");
    }

    function addresses(text) {
      return text.split(SEPARATORS).map(function (piece) { return piece.trim(); }).filter(Boolean);
    }

    function has(address) {
      return Array.prototype.some.call(chips.querySelectorAll("input[type=hidden]"), function (hidden) {
        return hidden.value.toLowerCase() === address.toLowerCase();
      });
    }

    function addChip(address) {
      if (!address || has(address)) { return; }
      var chip = document.createElement("li");
      chip.className = "compose-chip";
      var label = document.createElement("span");
      label.className = "compose-chip-address";
      label.textContent = address;
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = name;
      hidden.value = address;
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "compose-chip-remove";
      remove.setAttribute("aria-label", "Retirer " + address);
      remove.textContent = "×";
      remove.addEventListener("click", function () { removeChip(chip); input.focus(); });
      var check = document.createElement("span");
      check.className = "compose-chip-check";
      check.setAttribute("aria-live", "polite");
      chip.append(label, hidden, check, remove);
      chips.appendChild(chip);
      fetch(checkUrl + "?address=" + encodeURIComponent(address), { credentials: "same-origin", headers: { "HX-Request": "true" } })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (!chip.isConnected) { return; }  // removed meanwhile: nothing to say about it any more
          check.innerHTML = html;  // server-rendered, auto-escaped fragment
          var refused = check.querySelector("[data-refused]");
          chip.classList.toggle("is-refused", !!refused);
          if (refused) { say(address + " : " + refused.textContent.trim()); }
        })
        .catch(function () { /* the submission checks again */ });
    }

    function commitTyped() {
      var typed = addresses(input.value);
      if (!typed.length) { return; }
      typed.forEach(addChip);
      input.value = "";
      // The annuaire's suggestions were for the text just turned into chips: gone, so that Tab goes on to
      // the next field rather than into a stale list.
      var suggestions = document.getElementById(input.getAttribute("aria-controls") || "");
      if (suggestions) { suggestions.innerHTML = ""; }
      changed();
      say(typed.join(", ") + (typed.length > 1 ? " ajoutés" : " ajouté") + " aux destinataires.");
    }

    if (box) {  // a click in the box, beside the chips, is a click in the field
      box.addEventListener("click", function (event) { if (event.target === box || event.target === chips) { input.focus(); } });
    }

    row.addEventListener("click", function (event) {  // « Correspondants récents »
      var button = event.target.closest("[data-add-recipient]");
      if (!button) { return; }
      addChip(button.getAttribute("data-address"));
      changed();
      say(button.getAttribute("data-address") + " ajouté aux destinataires.");
      input.focus();
    });
    addresses(input.value).forEach(addChip);  // addresses rendered by the server (draft, reply, errors)
    input.value = "";
    // The chips carry the addresses now; half-typed text is neither saved nor sent until it becomes one.
    input.removeAttribute("name");
    form.addEventListener("submit", commitTyped);
    input.addEventListener("annuaire:select", function (event) {
      // annuaire.js writes the address into the field right after this event: turn it into a chip then.
      window.setTimeout(function () {
        addChip(event.detail.address);
        input.value = "";
        changed();
        say(event.detail.address + " ajouté aux destinataires.");
        input.focus();
      }, 0);
    });
    input.addEventListener("input", function () {
      // Pasted or typed separators: every complete address before the last one becomes a chip.
      if (!SEPARATORS.test(input.value)) { return; }
      var pieces = input.value.split(SEPARATORS);
      var rest = pieces.pop();
      pieces.map(function (piece) { return piece.trim(); }).filter(Boolean).forEach(addChip);
      input.value = rest.trimStart();
      changed();
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === "," || event.key === ";") {
        if (input.value.trim()) { event.preventDefault(); commitTyped(); }
        else if (event.key === "Enter") { event.preventDefault(); }
      } else if (event.key === "Tab" && !event.shiftKey && input.value.trim()) {
        commitTyped();  // and Tab goes on to the next field, as in most mail programs
      } else if (event.key === "Backspace" && !input.value && chips.lastElementChild) {
        removeChip(chips.lastElementChild);
      }
    });
    input.addEventListener("blur", function () {
      // Leave time for a click on a suggestion (annuaire.js) before turning the typed text into a chip.
      window.setTimeout(function () { if (input.value.indexOf("@") > 0 && document.activeElement !== input) { commitTyped(); } }, 250);
    });
  }

  function init() {
    document.querySelectorAll("form[data-compose]").forEach(setup);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
