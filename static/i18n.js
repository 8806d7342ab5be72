/* The Chinese interface, client half: translates the strings Datasette core's JavaScript creates
 * (row dialogs, column menus, column chooser, jump menu, status messages) after it creates them.
 *
 * Why in the browser: core builds these nodes at run time from English literals in its own
 * static files; rewriting them here, from a catalogue (db/translations_js.yml), leaves core's
 * files untouched and survives alpha upgrades — a new string shows in English and the
 * untranslated-string browser test names it.
 *
 * The server injects, before this script, window.taizhangI18n = {lang, exact, patterns, columns}
 * (the catalogue in the page's language, and the column labels of the page's table). Data is never
 * touched: table cells, text areas, code, input values (buttons aside), editable and
 * translate="no"/.tz-data regions, and the places where core shows row values in its dialogs.
 * On 繁體 and English pages the catalogue also holds our own scripts' fixed 简体 strings (grid,
 * forms, skip link: the `ours` section); our UI placed inside a data cell (UI below) is
 * translated, the cell's value never. Exposes window.taizhangT(text) for other scripts. */
(function () {
  "use strict";

  var config = window.taizhangI18n || {};
  var exact = config.exact || {};
  var patterns = (config.patterns || []).map(function (pair) {
    return [new RegExp("^(?:" + pair[0] + ")$"), pair[1]];
  });
  var labels = {};
  Object.keys(config.columns || {}).forEach(function (table) {
    var columns = config.columns[table] || {};
    Object.keys(columns).forEach(function (column) {
      labels[column] = columns[column];
    });
  });
  var has = Object.prototype.hasOwnProperty;
  // Called through the prototype: a form's named controls can shadow its own methods.
  var matches = Element.prototype.matches;
  var closest = Element.prototype.closest;

  var ATTRIBUTES = ["placeholder", "title", "aria-label", "alt"];
  // Data, or text the visitor typed: never translated.
  var SKIP = [
    "td", "textarea", "pre", "code", "script", "style", "[contenteditable]",
    "[translate='no']", ".tz-data",
    // where core's dialogs and jump menu show row values and search results
    ".row-dialog-label", ".row-edit-fk-pk", ".row-edit-fk-link", ".datasette-autocomplete-list",
    ".result-name", ".result-label", ".result-url", ".result-description",
  ].join(", ");
  // Our scripts' own interface inside a data cell: the grid's in-cell editor (its aria-label,
  // title, placeholder; a select's empty choice), its messages with their buttons, the "saved"
  // badge. Translated even in a td; what is typed or stored stays (NEVER, input values; the
  // suggestions' datalist holds records' names).
  var UI = ".tz-ui, .tz-editor, .tz-message, .tz-saved-badge";
  var NEVER = "textarea, pre, code, script, style, datalist, [contenteditable], [translate='no'], .tz-data";
  // Text worth looking up: core's English always; our 简体 too where the page is not 简体.
  var WORDS = config.lang && config.lang !== "zh-Hans" ? /[A-Za-z?\u3400-\u9fff]/ : /[A-Za-z?]/;
  // Where a bare column name is the column's visible name (menus and dialogs), so it is shown
  // as the column's label; elsewhere the same word could be data.
  var COLUMN_PLACES = "dialog, .dropdown-menu";

  var cache = {};

  function group(value) {
    if (value === undefined) return "";
    if (has.call(exact, value)) return exact[value];
    if (has.call(labels, value)) return labels[value];
    return value;
  }

  function lookup(text, columnPlace) {
    if (has.call(exact, text)) return exact[text];
    if (columnPlace && has.call(labels, text)) return labels[text];
    var key = text;
    if (has.call(cache, key)) return cache[key];
    var result = null;
    for (var i = 0; i < patterns.length; i++) {
      var match = patterns[i][0].exec(text);
      if (match) {
        result = patterns[i][1].replace(/\{(\d+)\}/g, function (_, n) {
          return group(match[Number(n)]);
        });
        break;
      }
    }
    cache[key] = result;
    return result;
  }

  /* The translation of `text`, keeping its surrounding whitespace (it separates inline
   * nodes), or null when there is none. */
  function translate(text, columnPlace) {
    if (!text || !WORDS.test(text)) return null;
    var core = text.replace(/\s+/g, " ").trim();
    if (!core) return null;
    var out = lookup(core, columnPlace);
    if (out === null && core.indexOf(" · ") > 0) {
      // the edit dialog's field notes: "Primary key · Required · Current value: NULL"
      var changed = false;
      var parts = core.split(" · ").map(function (part) {
        var t = lookup(part, columnPlace);
        if (t !== null) changed = true;
        return t === null ? part : t;
      });
      out = changed ? parts.join(" · ") : null;
    }
    if (out === null || out === core) return null;
    return /^\s*/.exec(text)[0] + out + /\s*$/.exec(text)[0];
  }

  function skipped(element) {
    if (!element) return true;
    var data = closest.call(element, SKIP);
    if (!data) return false;
    var ui = closest.call(element, UI);
    return !(ui && ui !== data && data.contains(ui) && !closest.call(element, NEVER));
  }

  function inColumnPlace(element) {
    return !!(element && closest.call(element, COLUMN_PLACES));
  }

  function translateText(node) {
    var parent = node.parentElement;
    if (skipped(parent)) return;
    var out = translate(node.data, inColumnPlace(parent));
    if (out !== null) node.data = out;
  }

  function translateAttributes(element) {
    var columnPlace = null;
    for (var i = 0; i < ATTRIBUTES.length; i++) {
      var value = element.getAttribute(ATTRIBUTES[i]);
      if (value) {
        if (columnPlace === null) columnPlace = inColumnPlace(element);
        var out = translate(value, columnPlace);
        if (out !== null) element.setAttribute(ATTRIBUTES[i], out);
      }
    }
    // A button's value is its visible label; other inputs' values are data.
    if (element.tagName === "INPUT" && /^(submit|button|reset)$/i.test(element.type) && element.value) {
      var label = translate(element.value, false);
      if (label !== null) element.value = label;
    }
  }

  /* Everything under `root` (inclusive), not descending into data. */
  function translateTree(root) {
    if (root.nodeType === Node.TEXT_NODE) {
      translateText(root);
      return;
    }
    if (root.nodeType !== Node.ELEMENT_NODE || skipped(root)) return;
    translateAttributes(root);
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
      acceptNode: function (node) {
        if (node.nodeType === Node.ELEMENT_NODE && matches.call(node, SKIP)) return NodeFilter.FILTER_REJECT;
        return NodeFilter.FILTER_ACCEPT;
      },
    });
    var node;
    while ((node = walker.nextNode())) {
      if (node.nodeType === Node.TEXT_NODE) translateText(node);
      else translateAttributes(node);
    }
  }

  window.taizhangT = function (text) {
    var out = translate(String(text), false);
    return out === null ? text : out;
  };

  if (!Object.keys(exact).length && !patterns.length && !Object.keys(labels).length) return;

  // Mutations are gathered and translated once per microtask, after core's code that made
  // them has finished. Our own changes are then discarded with takeRecords(), so translating
  // never feeds the observer (and a translation is never itself a catalogue key).
  var pending = [];
  var scheduled = false;
  var observer = new MutationObserver(function (records) {
    queue(records);
  });

  function queue(records) {
    for (var i = 0; i < records.length; i++) {
      var record = records[i];
      if (record.type === "childList") {
        for (var j = 0; j < record.addedNodes.length; j++) pending.push(record.addedNodes[j]);
      } else if (record.type === "characterData") {
        pending.push(record.target);
      } else if (record.type === "attributes" && !skipped(record.target)) {
        pending.push({ attributesOf: record.target });
      }
    }
    if (!scheduled && pending.length) {
      scheduled = true;
      queueMicrotask(flush);
    }
  }

  function flush() {
    scheduled = false;
    var batch = pending;
    pending = [];
    for (var i = 0; i < batch.length; i++) {
      var item = batch[i];
      if (item.attributesOf) translateAttributes(item.attributesOf);
      else if (item.isConnected) translateTree(item);
    }
    observer.takeRecords();
  }

  function start() {
    translateTree(document.body);
    observer.observe(document.body, {
      childList: true,
      subtree: true,
      characterData: true,
      attributes: true,
      attributeFilter: ATTRIBUTES.concat(["value"]),
    });
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
