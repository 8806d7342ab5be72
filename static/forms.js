/* Register-aware editing in the browser, on top of forms that work without it:
 *  - the reference picker: a select[data-picker-url] becomes a combobox searching
 *    /-/choices/… (type to search, ↑/↓, Enter to choose, Esc to close);
 *  - a calendar button next to typed date fields (the typed 2024年3月5日 keeps working);
 *  - 编辑 / 预览 for Markdown text areas (rendered by the server, POST /-/markdown);
 *  - checks on blur and on submit from the register's rules (static/rules.js), each message
 *    next to its field (role=alert, aria-invalid), the first refused field focused;
 *  - core's insert/edit dialog made register-aware through its JS plugin API
 *    (makeColumnField): selects for enums and yes/no, the picker for references, checked
 *    dates and numbers, the Chinese label.
 * window.taizhangForms = {rules, base} is written by plugins/forms.py for people who may write. */
(function () {
  "use strict";

  // Read when first needed: the page writes window.taizhangForms at the end of its body,
  // after this script (in the head) has run.
  var RULES = null;
  var LINKED = {};   // register -> rules, for the add-in-place forms of a row page
  var BASE = "/";
  var pickerCount = 0;

  function settle() {
    var settings = window.taizhangForms || {};
    RULES = settings.rules || null;
    LINKED = settings.linked || {};
    BASE = settings.base || "/";
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  /* ---- The reference picker ------------------------------------------------------------ */

  // A combobox for one reference: `initial` {id, label} or null; onChoose(id or null).
  function makePicker(url, initial, onChoose, inputId) {
    pickerCount += 1;
    var listId = "picker-list-" + pickerCount;
    var root = el("div", { class: "picker" });
    var input = el("input", {
      type: "text", role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false",
      "aria-controls": listId, autocomplete: "off", placeholder: "输入名称或编号搜索…",
    });
    if (inputId) {
      input.id = inputId;
    }
    var list = el("ul", { role: "listbox", id: listId, class: "picker-list", "aria-label": "可选记录" });
    list.hidden = true;
    root.appendChild(input);
    root.appendChild(list);
    var chosen = initial && initial.id !== null && initial.id !== "" ? initial : null;
    var active = -1, options = [], asked = 0;
    input.value = chosen ? chosen.label : "";

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      active = index;
      Array.prototype.forEach.call(list.children, function (li, i) {
        li.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0 && list.children[index]) {
        input.setAttribute("aria-activedescendant", list.children[index].id);
        list.children[index].scrollIntoView({ block: "nearest" });
      }
    }

    function choose(choice) {
      chosen = choice;
      input.value = choice ? choice.label : "";
      close();
      onChoose(choice ? choice.id : null);
    }

    function show(found) {
      options = found;
      list.innerHTML = "";
      if (!found.length) {
        list.appendChild(el("li", { class: "picker-empty", role: "option", "aria-disabled": "true" }, "没有找到匹配的记录"));
      }
      found.forEach(function (choice, i) {
        var li = el("li", { role: "option", id: listId + "-" + i, "aria-selected": "false" }, choice.label);
        // mousedown, not click: the input must not lose focus (and close the list) first.
        li.addEventListener("mousedown", function (ev) {
          ev.preventDefault();
          choose(choice);
        });
        list.appendChild(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(found.length ? 0 : -1);
    }

    function search() {
      var ask = (asked += 1);
      fetch(url + "?q=" + encodeURIComponent(input.value.trim()), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (ask === asked && document.activeElement === input) {
            show(data.choices || []);
          }
        });
    }

    input.addEventListener("input", search);
    input.addEventListener("keydown", function (ev) {
      var open = !list.hidden;
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        if (!open) {
          return search();
        }
        var step = ev.key === "ArrowDown" ? 1 : -1;
        highlight(Math.max(0, Math.min(options.length - 1, active + step)));
      } else if (ev.key === "Enter" && open) {
        ev.preventDefault(); // choosing, not submitting the form
        if (active >= 0) {
          choose(options[active]);
        }
      } else if (ev.key === "Escape" && open) {
        ev.preventDefault();
        ev.stopPropagation(); // close the list, not core's dialog
        input.value = chosen ? chosen.label : "";
        close();
      }
    });
    input.addEventListener("blur", function () {
      close();
      if (input.value.trim() === "") {
        if (chosen) {
          choose(null);
        }
      } else {
        input.value = chosen ? chosen.label : ""; // typed text that was never chosen is dropped
      }
    });
    return { root: root, input: input };
  }

  // The server's form and the linked-records form: the select stays the value's carrier
  // (hidden), so the form posts exactly what it did without JavaScript.
  function enhanceSelect(select) {
    var selected = select.options[select.selectedIndex];
    var initial = selected && selected.value ? { id: selected.value, label: selected.textContent } : null;
    var id = select.id || "";
    select.removeAttribute("id");
    var picker = makePicker(select.getAttribute("data-picker-url"), initial, function (value) {
      var option = Array.prototype.find.call(select.options, function (o) { return o.value === String(value); });
      if (!option && value !== null) {
        option = new Option("", String(value));
        select.add(option);
      }
      select.value = value === null ? "" : String(value);
      picker.input.dispatchEvent(new Event("change", { bubbles: true }));
    }, id || null);
    ["aria-describedby", "aria-invalid", "aria-required", "required", "aria-label"].forEach(function (name) {
      if (select.hasAttribute(name)) {
        picker.input.setAttribute(name, select.getAttribute(name));
      }
    });
    if (!id && select.closest("label")) {
      picker.input.setAttribute("aria-label", select.closest("label").firstChild.textContent.trim());
    }
    select.hidden = true;
    select.tabIndex = -1;
    select.parentNode.insertBefore(picker.root, select);
    picker.select = select;
    return picker;
  }

  /* ---- Dates and Markdown --------------------------------------------------------------- */

  // A calendar button beside a typed date: the native picker fills the text field.
  function addCalendar(input, onPicked) {
    var wrap = el("span", { class: "date-field" });
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    var button = el("button", { type: "button", class: "calendar-button", "aria-label": "从日历选择日期", title: "从日历选择日期" }, "日历");
    var native = el("input", { type: "date", class: "native-date", tabindex: "-1", "aria-hidden": "true" });
    wrap.appendChild(button);
    wrap.appendChild(native);
    button.addEventListener("click", function () {
      native.value = /^\d{4}-\d{2}-\d{2}$/.test(input.value) ? input.value : "";
      if (native.showPicker) {
        native.showPicker();
      } else {
        native.focus();
      }
    });
    native.addEventListener("change", function () {
      input.value = native.value;
      onPicked();
      input.focus();
    });
  }

  function addMarkdownPreview(textarea) {
    var bar = el("div", { class: "markdown-tabs", role: "group", "aria-label": "编辑或预览" });
    var edit = el("button", { type: "button", "aria-pressed": "true" }, "编辑");
    var view = el("button", { type: "button", "aria-pressed": "false" }, "预览");
    var preview = el("div", { class: "markdown-preview markdown-cell", "aria-live": "polite", tabindex: "-1" });
    preview.hidden = true;
    bar.appendChild(edit);
    bar.appendChild(view);
    textarea.parentNode.insertBefore(bar, textarea);
    textarea.parentNode.insertBefore(preview, textarea.nextSibling);
    function mode(previewing) {
      edit.setAttribute("aria-pressed", String(!previewing));
      view.setAttribute("aria-pressed", String(previewing));
      textarea.hidden = previewing;
      preview.hidden = !previewing;
    }
    edit.addEventListener("click", function () {
      mode(false);
      textarea.focus();
    });
    view.addEventListener("click", function () {
      preview.textContent = "正在生成预览…";
      mode(true);
      fetch(BASE + "-/markdown", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ text: textarea.value }),
      })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          // The server's renderer is inert by construction (plugins/markdown.py).
          if (data.ok) {
            preview.innerHTML = data.html || "<p>（空）</p>";
          } else {
            preview.textContent = data.error;
          }
        })
        .catch(function () {
          preview.textContent = "预览失败，请检查网络后重试";
        });
    });
  }

  /* ---- The register form ---------------------------------------------------------------- */

  function showError(field, control, message) {
    var name = field.getAttribute("data-column");
    var box = field.querySelector(".field-error");
    var described = (control.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
      return id && id !== "e-" + name;
    });
    field.classList.toggle("has-error", !!message);
    if (message) {
      if (!box) {
        box = el("p", { class: "field-error", id: "e-" + name, role: "alert" });
        field.appendChild(box);
      }
      box.textContent = message;
      control.setAttribute("aria-invalid", "true");
      described.push("e-" + name);
    } else {
      if (box) {
        box.remove();
      }
      control.removeAttribute("aria-invalid");
    }
    if (described.length) {
      control.setAttribute("aria-describedby", described.join(" "));
    } else {
      control.removeAttribute("aria-describedby");
    }
  }

  // A form of one register, checked with that register's rules (a row page's add-in-place
  // form is another register's than the page's own).
  function enhanceForm(form, RULES) {
    var fields = {};
    form.querySelectorAll(".field[data-column]").forEach(function (field) {
      var name = field.getAttribute("data-column");
      var entry = { field: field, value: null, control: null };
      var select = field.querySelector("select[data-picker-url]");
      if (select) {
        var picker = enhanceSelect(select);
        entry.control = picker.input;
        entry.value = function () { return select.value; };
      } else {
        entry.control = field.querySelector("input, select, textarea");
        entry.value = function () { return entry.control.value; };
      }
      fields[name] = entry;
      if (entry.control.hasAttribute("data-date")) {
        addCalendar(entry.control, function () { validate(name, true); });
      }
      if (entry.control.hasAttribute("data-markdown")) {
        addMarkdownPreview(entry.control);
      }
      entry.control.addEventListener("blur", function () { validate(name, true); });
      entry.control.addEventListener("change", function () {
        if (field.classList.contains("has-error")) {
          validate(name, false);
        }
      });
    });

    function texts() {
      var out = {};
      Object.keys(fields).forEach(function (name) {
        out[name] = fields[name].value();
      });
      return out;
    }

    // One field (and the fields whose date it bounds); on blur, a readable date is normalised.
    function validate(name, normalise) {
      if (!RULES || !RULES.columns[name]) {
        return;
      }
      var rule = RULES.columns[name];
      var entry = fields[name];
      if (normalise && rule.type === "date") {
        var read = window.TaizhangRules.check(rule, entry.value());
        if (!read.message && read.value) {
          entry.control.value = read.value;
        }
      }
      var messages = window.TaizhangRules.checkRow(RULES, texts());
      var related = [name];
      Object.keys(fields).forEach(function (other) {
        var r = RULES.columns[other];
        if (r && (r.not_before === name || rule.not_before === other) && fields[other].value()) {
          related.push(other);
        }
      });
      related.forEach(function (n) {
        showError(fields[n].field, fields[n].control, messages[n] || "");
      });
    }

    form.addEventListener("submit", function (ev) {
      if (!RULES) {
        return;
      }
      var messages = window.TaizhangRules.checkRow(RULES, texts());
      var first = null;
      Object.keys(fields).forEach(function (name) {
        showError(fields[name].field, fields[name].control, messages[name] || "");
        if (messages[name] && !first) {
          first = fields[name].control;
        }
      });
      if (first) {
        ev.preventDefault(); // nothing is sent until the browser's checks pass
        first.focus();
      }
    });
  }

  /* ---- Core's insert/edit dialog -------------------------------------------------------- */

  // Core sends a blank field as "" (refused for dates, enums, phone numbers …); a register
  // stores "no value" as NULL, as the form and the import do.
  function blankIsNull(control, numeric) {
    if (control.value.trim() === "") {
      control.dataset.currentValueKind = "null";
    } else if (control.dataset.currentValueKind === "null") {
      control.dataset.currentValueKind = numeric ? "number" : "string";
    }
  }

  function columnField(context) {
    settle();
    if (!RULES || context.table !== RULES.register || !RULES.columns[context.column]) {
      return null;
    }
    var rule = RULES.columns[context.column];
    var labelled = function (field) {
      // The label is attached after render(): name the field once it is. Core attaches the
      // field's message line only when it has text of its own; ours need it for messages.
      setTimeout(function () {
        var label = document.getElementById(field.labelId);
        if (label) {
          label.textContent = rule.label + (rule.required ? " *" : "");
          label.title = context.column;
        }
        if (field.meta && !field.meta.isConnected && field.root && field.root.parentNode) {
          field.root.parentNode.appendChild(field.meta);
        }
      }, 0);
    };
    if (rule.type === "enum" || rule.type === "bool") {
      var select;
      return {
        render: function (field) {
          labelled(field);
          var current = field.getValue();
          select = el("select", { class: "row-edit-select", "aria-labelledby": field.labelId, "aria-describedby": field.descriptionId });
          select.appendChild(new Option("（未选择）", ""));
          rule.choices.forEach(function (choice) {
            var option = new Option(choice.label, String(choice.value));
            option.selected = current !== null && String(current) === String(choice.value);
            select.appendChild(option);
          });
          field.input.type = "hidden";
          blankIsNull(field.input);
          select.addEventListener("change", function () {
            var v = select.value;
            field.setValue(v === "" ? null : rule.type === "bool" ? Number(v) : v);
            field.setValidity(v === "" && rule.required ? rule.messages.required : "");
          });
          var wrap = el("div");
          wrap.appendChild(select);
          wrap.appendChild(field.input);
          return wrap;
        },
        focus: function () { select.focus(); },
      };
    }
    if (rule.type === "datetime") {
      // The browser's date-and-time picker; the JSON API gets what the column stores
      // (2026-12-02 09:30, not the picker's 2026-12-02T09:30), which no server reading changes.
      var local;
      return {
        render: function (field) {
          labelled(field);
          var current = field.getValue();
          local = el("input", { type: "datetime-local", class: "row-edit-datetime", "aria-labelledby": field.labelId, "aria-describedby": field.descriptionId });
          local.value = current ? String(current).replace(" ", "T").slice(0, 16) : "";
          field.input.type = "hidden";
          blankIsNull(field.input);
          local.addEventListener("change", function () {
            field.setValue(local.value ? local.value.replace("T", " ") : null);
            field.setValidity(!local.value && rule.required ? rule.messages.required : "");
          });
          var wrap = el("div");
          wrap.appendChild(local);
          wrap.appendChild(field.input);
          return wrap;
        },
        focus: function () { local.focus(); },
      };
    }
    if (rule.type === "fk") {
      var picker;
      return {
        render: function (field) {
          labelled(field);
          var current = field.getValue();
          picker = makePicker(BASE.replace(/\/$/, "") + rule.picker, current === null ? null : { id: current, label: String(current) }, function (id) {
            field.setValue(id);
            field.setValidity(id === null && rule.required ? rule.messages.required : "");
          });
          picker.input.setAttribute("aria-labelledby", field.labelId);
          if (current !== null && current !== "") {
            fetch(BASE.replace(/\/$/, "") + rule.picker + "?id=" + encodeURIComponent(current))
              .then(function (r) { return r.json(); })
              .then(function (data) {
                if (data.choices && data.choices.length && document.activeElement !== picker.input) {
                  picker.input.value = data.choices[0].label;
                }
              });
          }
          field.input.type = "hidden";
          blankIsNull(field.input);
          picker.root.appendChild(field.input);
          return picker.root;
        },
        focus: function () { picker.input.focus(); },
      };
    }
    return {
      render: function (field) {
        labelled(field);
        var input = field.input;
        function check(normalise) {
          var result = window.TaizhangRules.check(rule, input.value);
          var message = result.message;
          var form = input.closest("form");
          var other = form && rule.not_before ? form.querySelector('[name="' + rule.not_before + '"]') : null;
          if (!message && other && result.value) {
            var before = window.TaizhangRules.check(RULES.columns[rule.not_before], other.value);
            if (!before.message && before.value && result.value < before.value) {
              message = rule.messages.not_before;
            }
          }
          field.setValidity(message);
          if (normalise && !message && result.value !== null && String(result.value) !== input.value) {
            field.setValue(result.value);
          }
        }
        var numeric = rule.type === "int" || rule.type === "real";
        blankIsNull(input, numeric);
        input.addEventListener("input", function () { blankIsNull(input, numeric); check(false); });
        input.addEventListener("blur", function () { check(true); blankIsNull(input, numeric); });
        if (rule.type === "date") {
          input.placeholder = "2024-03-05 或 2024/3/5";
          var wrap = el("div");
          wrap.appendChild(input);
          addCalendar(input, function () { check(true); });
          return wrap;
        }
        return input;
      },
      focus: function (field) { field.input.focus(); },
    };
  }

  document.addEventListener("datasette_init", function (ev) {
    ev.detail.registerPlugin("taizhang-forms", { version: "1.0", makeColumnField: columnField });
  });

  function start() {
    settle();
    document.querySelectorAll("form.register-form").forEach(function (form) { enhanceForm(form, RULES); });
    document.querySelectorAll("form.linked-add").forEach(function (form) {
      enhanceForm(form, LINKED[form.getAttribute("data-register")] || null);
    });
    // Other forms with a reference.
    document.querySelectorAll("select[data-picker-url]").forEach(function (select) {
      if (!select.closest("form.register-form, form.linked-add")) {
        enhanceSelect(select);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
