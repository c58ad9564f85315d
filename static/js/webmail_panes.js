/* The webmail's panes, selection and live list (strict CSP: no inline script; hooks are data- attributes).
 *
 * - A message opened through htmx in #wm-reader switches a phone to the message view, marks its row open
 *   and read, and moves the focus to the pane.
 * - Ticking messages shows the bulk actions (hidden while nothing is ticked); shift-click ticks a range;
 *   « Tout sélectionner » ticks the rows shown, then offers the whole folder.
 * - Every 30 s the list asks the server whether the BAL changed (If-None-Match: 304 when nothing did) and
 *   swaps in the new first page, unless messages are ticked or older pages were loaded.
 * - The « Plus » menu and the folders drawer close on Escape or a click elsewhere.
 */
(function () {
  "use strict";

  var POLL_MS = 30000;
  var etag = null;
  var lastBox = null;

  function webmail() {
    return document.querySelector("[data-webmail]");
  }

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('input[name="copies"][form="wm-bulk"]'));
  }

  // ---- Selection -------------------------------------------------------------------------------------
  function refreshSelection() {
    var form = document.getElementById("wm-bulk");
    if (!form) {
      return;
    }
    var all = boxes();
    var ticked = all.filter(function (box) { return box.checked; });
    var whole = form.querySelector("[data-whole-folder]");
    var wholeOn = Boolean(whole && whole.value);
    var actions = form.querySelector("[data-bulk-actions]");
    var count = form.querySelector("[data-bulk-count]");
    var selectAll = form.querySelector("[data-select-all]");
    var wholeButton = form.querySelector("[data-whole-folder-button]");
    if (actions) {
      actions.hidden = ticked.length === 0 && !wholeOn;
    }
    if (count) {
      count.textContent = wholeOn ? "Tout le dossier sélectionné" :
        (ticked.length ? ticked.length + (ticked.length > 1 ? " sélectionnés" : " sélectionné") : "");
    }
    if (selectAll) {
      selectAll.checked = all.length > 0 && ticked.length === all.length;
      selectAll.indeterminate = ticked.length > 0 && ticked.length < all.length;
    }
    if (wholeButton) {
      wholeButton.hidden = !(all.length > 0 && ticked.length === all.length) || wholeOn;
    }
    all.forEach(function (box) {
      var row = box.closest("[data-row]");
      if (row) {
        row.classList.toggle("is-ticked", box.checked);
      }
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.matches && target.matches('input[name="copies"][form="wm-bulk"]')) {
      var all = boxes();
      if (event.shiftKey && lastBox && lastBox !== target) {
        var from = all.indexOf(lastBox);
        var to = all.indexOf(target);
        if (from >= 0 && to >= 0) {
          all.slice(Math.min(from, to), Math.max(from, to) + 1).forEach(function (box) {
            box.checked = target.checked;
          });
        }
      }
      lastBox = target;
      clearWholeFolder();
      refreshSelection();
      return;
    }
    if (target.matches && target.matches("[data-select-all]")) {
      boxes().forEach(function (box) { box.checked = target.checked; });
      clearWholeFolder();
      refreshSelection();
      return;
    }
    var wholeButton = target.closest && target.closest("[data-whole-folder-button]");
    if (wholeButton) {
      var whole = document.querySelector("[data-whole-folder]");
      if (whole) {
        whole.value = whole.getAttribute("data-whole-folder-value");
      }
      refreshSelection();
      return;
    }
    closeMenus(target);
  });

  function clearWholeFolder() {
    var whole = document.querySelector("[data-whole-folder]");
    if (whole) {
      whole.value = "";
    }
  }

  // ---- Menus and drawer -------------------------------------------------------------------------------
  function closeMenus(target) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(target)) {
        menu.open = false;
      }
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    var open = document.querySelector("details[data-menu][open]");
    if (open) {
      open.open = false;
      var summary = open.querySelector("summary");
      if (summary) {
        summary.focus();
      }
      event.preventDefault();
      return;
    }
    if (window.location.hash === "#wm-sidebar") {
      window.location.hash = "#wm-list";
      event.preventDefault();
    }
  });

  // ---- Reading pane -------------------------------------------------------------------------------------
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "wm-reader") {
      refreshSelection();
      return;
    }
    var view = webmail();
    if (view && view.getAttribute("data-view") !== "page") {
      view.setAttribute("data-view", "message");
    }
    var article = target.querySelector("[data-message]");
    var id = article && article.getAttribute("data-message");
    document.querySelectorAll("[data-row]").forEach(function (row) {
      var box = row.querySelector('input[name="copies"]');
      var open = Boolean(box && box.value === id);
      row.classList.toggle("is-open", open);
      var link = row.querySelector("[data-row-link]");
      if (open) {
        row.classList.remove("is-unread");
        if (link) {
          link.setAttribute("aria-current", "true");
        }
      } else if (link) {
        link.removeAttribute("aria-current");
      }
    });
    target.scrollTop = 0;
    if (window.matchMedia("(max-width: 699px)").matches) {
      window.scrollTo(0, 0);
    }
    target.focus({ preventScroll: true });
  });

  // ---- Live list ----------------------------------------------------------------------------------------
  function setCounts(header) {
    if (!header) {
      return;
    }
    var inboxCount = "";
    header.split(",").forEach(function (pair) {
      var parts = pair.split("=");
      var link = document.querySelector('.wm-folder[data-folder-id="' + parts[0] + '"]');
      if (!link) {
        return;
      }
      var count = parts[1] === "0" ? "" : parts[1];
      var badge = link.querySelector("[data-unread]");
      if (badge) {
        badge.textContent = "";
        if (count) {
          badge.appendChild(document.createTextNode(count));
          var hint = document.createElement("span");
          hint.className = "visually-hidden";
          hint.textContent = count === "1" ? " non lu" : " non lus";
          badge.appendChild(hint);
        }
      }
      if (link.getAttribute("data-folder-role") === "inbox") {
        inboxCount = count;
      }
    });
    var base = document.title.replace(/^\(\d+\+?\) /, "");
    document.title = (inboxCount ? "(" + inboxCount + ") " : "") + base;
  }

  function listIsFresh() {
    var anyTicked = boxes().some(function (box) { return box.checked; });
    var moreLoaded = document.querySelectorAll("#wm-rows [data-row]").length > 50;
    return !anyTicked && !moreLoaded;
  }

  function poll() {
    var view = webmail();
    var url = view && view.getAttribute("data-poll-url");
    if (!url || document.hidden) {
      return;
    }
    var headers = { "HX-Request": "true" };
    if (etag) {
      headers["If-None-Match"] = etag;
    }
    var query = window.location.search.indexOf("status=") >= 0 || window.location.search.indexOf("assignee=") >= 0 ?
      window.location.search : "";
    fetch(url + query, { headers: headers, credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (response.status !== 200 && response.status !== 304) {
        return;
      }
      var first = etag === null;
      etag = response.headers.get("ETag") || etag;
      setCounts(response.headers.get("X-Unread-Counts"));
      if (response.status === 304 || first) {
        return; // the first answer only sets the reference: the page was rendered from the same state
      }
      return response.text().then(function (html) {
        var rows = document.getElementById("wm-rows");
        if (!rows || !listIsFresh()) {
          return;
        }
        var open = document.querySelector("[data-row].is-open input[name='copies']");
        rows.innerHTML = html;
        if (open) {
          var again = rows.querySelector("input[name='copies'][value='" + open.value + "']");
          if (again) {
            again.closest("[data-row]").classList.add("is-open");
          }
        }
        if (window.htmx) {
          window.htmx.process(rows);
        }
        var status = document.getElementById("wm-poll-status");
        if (status) {
          status.textContent = "Liste mise à jour.";
        }
        refreshSelection();
      });
    }).catch(function () { /* offline for a moment: the next poll will tell */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    refreshSelection();
    if (webmail() && webmail().getAttribute("data-poll-url")) {
      poll();
      window.setInterval(poll, POLL_MS);
    }
  });
})();
