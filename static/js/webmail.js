/* Webmail keyboard shortcuts (strict CSP: no inline script; everything is found through data- attributes).
 *
 * List:    j / k next / previous message, o or Enter open, # or Suppr trash, e archive, s flag
 * Message: j / k older / newer message (opened in the reading pane), u back to the list, r reply,
 *          a reply all, f forward,
 *          # or Suppr trash (then the next older message opens), e archive, s flag
 * Both:    / search, c new message, ? this help (a <dialog>)
 * Keys typed in a field, or with Ctrl/Alt/Meta, are left alone. Every action is also a visible button or
 * link: the shortcuts only press them.
 */
(function () {
  "use strict";

  var selected = -1;

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-row]"));
  }

  function select(index) {
    var all = rows();
    if (!all.length) {
      return;
    }
    selected = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) {
      row.classList.toggle("is-selected", i === selected);
    });
    var link = all[selected].querySelector("[data-row-link]");
    if (link) {
      link.focus();
    }
  }

  function currentRow() {
    var all = rows();
    var focused = document.activeElement && document.activeElement.closest("[data-row]");
    if (focused) {
      return focused;
    }
    return selected >= 0 ? all[selected] : null;
  }

  function press(selector) {
    var element = document.querySelector(selector);
    if (element) {
      element.click();
      return true;
    }
    return false;
  }

  // In the list: act on the ticked messages, or on the highlighted one when none is ticked.
  function listAction(action) {
    var form = document.getElementById("wm-bulk");
    var button = form && form.querySelector('[data-action="' + action + '"]');
    if (!button) {
      return false;
    }
    var ticked = document.querySelectorAll('input[name="copies"][form="wm-bulk"]:checked');
    if (!ticked.length) {
      var row = currentRow();
      var box = row && row.querySelector('input[name="copies"]');
      if (!box) {
        return false;
      }
      box.checked = true;
    }
    if (form.requestSubmit) {
      form.requestSubmit(button);
    } else {
      button.click();
    }
    return true;
  }

  function act(action) {
    var view = document.querySelector("[data-webmail]");
    if (view && view.getAttribute("data-view") === "list") {
      return listAction(action);
    }
    return press('.wm-message [data-action="' + action + '"]');
  }

  function openHelp() {
    var dialog = document.getElementById("wm-shortcuts");
    if (dialog && typeof dialog.showModal === "function" && !dialog.open) {
      dialog.showModal();
    }
  }

  function typing(event) {
    var target = event.target;
    if (!target || !target.closest) {
      return false;
    }
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  // With a message open (reading pane or its own page), j / k open the next older / newer row of the list
  // in the pane; without a list beside it, the message's own older / newer links.
  function openNeighbour(step, fallback) {
    var all = rows();
    var open = document.querySelector("[data-row].is-open");
    var index = open ? all.indexOf(open) : -1;
    var next = index >= 0 ? all[index + step] : null;
    var link = next && next.querySelector("[data-row-link]");
    if (link) {
      selected = index + step;
      link.click();
      return true;
    }
    return press('[data-shortcut="' + fallback + '"]');
  }

  function reading() {
    var view = document.querySelector("[data-webmail]");
    return Boolean(view && view.getAttribute("data-view") !== "list" && document.querySelector(".wm-message"));
  }

  var keys = {
    j: function () {
      if (reading()) { return openNeighbour(1, "j"); }
      if (!rows().length) { return press('[data-shortcut="j"]'); }
      select(selected + 1);
      return true;
    },
    k: function () {
      if (reading()) { return openNeighbour(-1, "k"); }
      if (!rows().length) { return press('[data-shortcut="k"]'); }
      select(selected < 0 ? 0 : selected - 1);
      return true;
    },
    o: function () {
      var row = currentRow();
      var link = row && row.querySelector("[data-row-link]");
      if (link) {
        link.click();
        return true;
      }
      return false;
    },
    u: function () { return press('[data-shortcut="u"]'); },
    r: function () { return press('[data-shortcut="r"]'); },
    a: function () { return press('[data-shortcut="a"]'); },
    f: function () { return press('[data-shortcut="f"]'); },
    c: function () { return press('[data-shortcut="c"]'); },
    e: function () { return act("archive"); },
    s: function () { return act("flag"); },
    "#": function () { return act("trash"); },
    Delete: function () { return act("trash"); },
    "/": function () {
      var input = document.querySelector("[data-search-input]");
      if (input) {
        input.focus();
        input.select();
        return true;
      }
      return false;
    },
    "?": function () { openHelp(); return true; }
  };

  document.addEventListener("keydown", function (event) {
    if (!document.querySelector("[data-webmail]") || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (typing(event) || event.defaultPrevented) {
      return;
    }
    var dialog = document.getElementById("wm-shortcuts");
    if (dialog && dialog.open) {
      return; // the dialog handles Escape itself
    }
    var handler = keys[event.key];
    if (handler && handler()) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-shortcuts-open]")) {
      event.preventDefault();
      openHelp();
    }
  });

  // Rows added by "Messages plus anciens" (htmx) keep the highlight where it was.
  document.addEventListener("htmx:afterSwap", function () {
    if (selected >= 0) {
      rows().forEach(function (row, i) {
        row.classList.toggle("is-selected", i === selected);
      });
    }
  });
})();
