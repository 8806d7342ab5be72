/* Inline cell editing and paste-to-update on core's table grid (table.rows-and-columns).
 *
 * Loaded only for people who may update the register (plugins/grid.py), with the register's
 * column rules in window.taizhangGrid. Click selects a cell, arrows move, Shift extends a
 * range; Enter or double-click edits with the column's widget; Enter/Tab save and move, Esc
 * cancels. A TSV block pasted (Excel) updates the rectangle at the selection, all-or-nothing.
 * Every save sends the row's version (updated_at as the page showed it) so a row someone else
 * changed meanwhile is refused with who and when, and the person chooses to reload or overwrite.
 * The server reads typed values the way the import does; nothing here re-implements its rules.
 */
(function () {
  "use strict";

  function init() {
    var config = window.taizhangGrid;
    var table = document.querySelector("table.rows-and-columns");
    if (!config || !table || table.dataset.tzGrid) return;
    table.dataset.tzGrid = "1";
    new Grid(table, config);
  }

  function Grid(table, config) {
    this.table = table;
    this.config = config;
    this.columns = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.dataset.column;
    });
    this.rows = Array.prototype.filter.call(table.querySelectorAll("tbody tr"), function (tr) {
      return tr.dataset.row;
    });
    this.versions = {};
    this.active = null; // {r, c}
    this.anchor = null; // the other corner of a range
    this.editor = null;
    this.readVersions();
    this.bind();
  }

  Grid.prototype.rowId = function (r) {
    return parseInt(this.rows[r].dataset.row, 10);
  };

  Grid.prototype.cell = function (r, c) {
    var tr = this.rows[r];
    return tr ? tr.children[c] || null : null;
  };

  Grid.prototype.rule = function (c) {
    return this.config.columns[this.columns[c]] || null;
  };

  // The version of each row the page shows: its updated_at cell, or (when that column is
  // hidden) one request for them right away, as close to the render as the page allows.
  Grid.prototype.readVersions = function () {
    var self = this;
    var c = this.columns.indexOf("updated_at");
    if (c >= 0) {
      this.rows.forEach(function (tr, r) {
        self.versions[self.rowId(r)] = self.cell(r, c).textContent.trim();
      });
      return;
    }
    var ids = this.rows.map(function (_, r) { return self.rowId(r); });
    if (!ids.length) return;
    fetch(this.config.tableUrl + ".json?_shape=array&_col=updated_at&_size=max&id__in=" + ids.join(","), {
      credentials: "same-origin",
    }).then(function (response) { return response.json(); }).then(function (rows) {
      rows.forEach(function (row) { self.versions[row.id] = row.updated_at; });
    });
  };

  Grid.prototype.bind = function () {
    var self = this;
    this.table.addEventListener("click", function (ev) {
      var td = ev.target.closest("tbody td");
      if (!td || self.inEditor(ev.target) || ev.target.closest("a, button")) return;
      var pos = self.position(td);
      if (pos) self.select(pos.r, pos.c, ev.shiftKey);
    });
    this.table.addEventListener("dblclick", function (ev) {
      var td = ev.target.closest("tbody td");
      if (!td || self.inEditor(ev.target)) return;
      var pos = self.position(td);
      if (!pos) return;
      ev.preventDefault();
      self.select(pos.r, pos.c, false);
      self.edit();
    });
    this.table.addEventListener("keydown", function (ev) {
      if (self.editor || !self.active || self.inEditor(ev.target)) return;
      self.onKey(ev);
    });
    // Paste-to-update: only while a grid cell has the focus, so core's own paste targets
    // (the insert dialog's text area, inputs, the editor) keep theirs.
    document.addEventListener("paste", function (ev) {
      if (self.editor || !self.active || !self.table.contains(document.activeElement)) return;
      if (self.inEditor(document.activeElement)) return;
      var text = ev.clipboardData && ev.clipboardData.getData("text/plain");
      if (!text) return;
      ev.preventDefault();
      self.paste(text);
    });
  };

  Grid.prototype.inEditor = function (el) {
    return !!(el && el.closest && el.closest(".tz-editor, .tz-message, input, select, textarea"));
  };

  Grid.prototype.position = function (td) {
    var r = this.rows.indexOf(td.parentElement);
    return r < 0 ? null : { r: r, c: Array.prototype.indexOf.call(td.parentElement.children, td) };
  };

  Grid.prototype.select = function (r, c, extend) {
    r = Math.max(0, Math.min(this.rows.length - 1, r));
    c = Math.max(0, Math.min(this.columns.length - 1, c));
    if (!extend || !this.anchor) this.anchor = { r: r, c: c };
    if (this.active) {
      var old = this.cell(this.active.r, this.active.c);
      if (old) old.removeAttribute("tabindex");
    }
    this.active = { r: r, c: c };
    this.table.querySelectorAll("td.tz-selected").forEach(function (td) {
      td.classList.remove("tz-selected", "tz-active");
    });
    var box = this.range();
    for (var i = box.r0; i <= box.r1; i++) {
      for (var j = box.c0; j <= box.c1; j++) this.cell(i, j).classList.add("tz-selected");
    }
    var td = this.cell(r, c);
    td.classList.add("tz-active");
    td.setAttribute("tabindex", "0");
    td.focus({ preventScroll: false });
  };

  Grid.prototype.range = function () {
    var a = this.anchor, b = this.active;
    return { r0: Math.min(a.r, b.r), r1: Math.max(a.r, b.r), c0: Math.min(a.c, b.c), c1: Math.max(a.c, b.c) };
  };

  Grid.prototype.onKey = function (ev) {
    var a = this.active;
    var moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (moves[ev.key]) {
      ev.preventDefault();
      this.select(a.r + moves[ev.key][0], a.c + moves[ev.key][1], ev.shiftKey);
    } else if (ev.key === "Tab") {
      ev.preventDefault();
      this.select(a.r, a.c + (ev.shiftKey ? -1 : 1), false);
    } else if (ev.key === "Enter" || ev.key === "F2") {
      ev.preventDefault();
      this.edit();
    } else if (ev.key === "Escape") {
      this.select(a.r, a.c, false);
    } else if (ev.key.length === 1 && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      // Typing over a cell starts editing it with what was typed, as in a spreadsheet.
      var rule = this.rule(a.c);
      if (rule && rule.type !== "enum" && rule.type !== "bool") {
        ev.preventDefault();
        this.edit(ev.key);
      }
    }
  };

  // What a cell holds, as the person would type it: a reference's label, "" for empty.
  Grid.prototype.cellText = function (td, rule) {
    if (td.classList.contains("type-none")) return "";
    if (rule && rule.type === "fk") {
      var link = td.querySelector("a");
      return link ? link.textContent.trim() : td.textContent.trim();
    }
    // A process's state cell also links to the row page's buttons (plugins/transitions.py).
    var act = td.querySelector("a.workflow-act");
    var text = act ? td.textContent.replace(act.textContent, "") : td.textContent;
    return text.replace(/\u00a0/g, " ").trim();
  };

  Grid.prototype.edit = function (typed) {
    var a = this.active, rule = this.rule(a.c), td = this.cell(a.r, a.c);
    if (!rule) {
      var reason = (this.config.readOnlyReasons || {})[this.columns[a.c]];
      this.say(td, reason || "「" + this.columns[a.c] + "」列由系统维护，不能在此修改", "info");
      return;
    }
    var original = this.cellText(td, rule);
    var field = widget(rule, typed !== undefined ? typed : original);
    var editor = { r: a.r, c: a.c, td: td, html: td.innerHTML, original: original, field: field, rule: rule };
    this.editor = editor;
    this.clearMessage(td);
    td.classList.add("tz-editing");
    td.innerHTML = "";
    var box = document.createElement("div");
    box.className = "tz-editor";
    box.appendChild(field);
    td.appendChild(box);
    field.focus();
    if (field.select && typed === undefined) field.select();
    var self = this;
    if (rule.type === "fk") this.suggest(field, this.columns[a.c]);
    // Core shows long text cut short ("…"): edit the whole stored value, never the cut one.
    if (typed === undefined && /\u2026$/.test(original) && (rule.type === "text" || rule.type === "textarea")) {
      field.disabled = true;
      fetch(this.config.tableUrl + "/" + this.rowId(a.r) + ".json?_shape=array", { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (rows) {
          var full = rows[0][editor.rule && self.columns[editor.c]];
          editor.original = field.value = full === null || full === undefined ? "" : String(full);
          field.disabled = false;
          field.focus();
        });
    }
    field.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") {
        ev.preventDefault();
        self.cancel();
      } else if (ev.key === "Enter" && !(field.tagName === "TEXTAREA" && (ev.shiftKey || ev.altKey))) {
        ev.preventDefault();
        self.commit(editor, 1, 0);
      } else if (ev.key === "Tab") {
        ev.preventDefault();
        self.commit(editor, 0, ev.shiftKey ? -1 : 1);
      }
      ev.stopPropagation();
    });
  };

  // Names to choose from while typing a reference, from core's autocomplete for the
  // referenced table (the server still resolves what is typed: a name, a key, 张三（00012）).
  Grid.prototype.suggest = function (field, column) {
    var data = window._datasetteTableData || {};
    var url = data.foreignKeys && data.foreignKeys[column];
    if (!url) return;
    var list = document.createElement("datalist");
    list.id = "tz-suggest-" + column;
    field.setAttribute("list", list.id);
    field.parentNode.appendChild(list);
    field.addEventListener("input", function () {
      var q = field.value.trim();
      if (!q) return;
      fetch(url + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          list.innerHTML = "";
          (answer.rows || []).forEach(function (row) {
            var option = document.createElement("option");
            option.value = row.label;
            list.appendChild(option);
          });
        }, function () {});
    });
  };

  Grid.prototype.cancel = function () {
    var e = this.editor;
    if (!e) return;
    e.td.innerHTML = e.html;
    e.td.classList.remove("tz-editing");
    this.editor = null;
    this.clearMessage(e.td);
    this.select(e.r, e.c, false);
  };

  Grid.prototype.commit = function (editor, dr, dc, overwrite) {
    var self = this, value = editor.field.value;
    if (value === editor.original && !overwrite) {
      this.cancel();
      this.select(editor.r + dr, editor.c + dc, false);
      return;
    }
    var change = { id: this.rowId(editor.r), column: this.columns[editor.c], value: value };
    editor.field.disabled = true;
    this.send([change], overwrite).then(function (answer) {
      editor.field.disabled = false;
      if (answer.ok) {
        self.editor = null;
        editor.td.classList.remove("tz-editing");
        self.apply(answer.rows);
        self.flash(editor.td);
        self.select(editor.r + dr, editor.c + dc, false);
        return;
      }
      // The typed value stays in the editor; the reason is shown beside it.
      var error = answer.errors[0];
      self.say(editor.td, error.message, error.conflict ? "conflict" : "error", error.conflict ? function () {
        self.commit(editor, dr, dc, true);
      } : null);
      editor.field.focus();
    });
  };

  Grid.prototype.send = function (changes, overwrite) {
    var self = this;
    changes.forEach(function (change) {
      if (!overwrite) change.version = self.versions[change.id] || null;
    });
    return fetch(this.config.endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ changes: changes }),
    }).then(function (response) {
      return response.json().catch(function () {
        return { ok: false, errors: [{ message: "保存失败（" + response.status + "），请稍后重试", column: null }] };
      });
    }, function () {
      return { ok: false, errors: [{ message: "无法连接服务器，未保存，请检查网络后重试", column: null }] };
    });
  };

  // Saved rows: new display values and versions into the page.
  Grid.prototype.apply = function (rows) {
    var self = this;
    var updatedAt = this.columns.indexOf("updated_at");
    this.rows.forEach(function (tr, r) {
      var saved = rows[String(self.rowId(r))];
      if (!saved) return;
      self.versions[self.rowId(r)] = saved.version;
      if (updatedAt >= 0) self.cell(r, updatedAt).textContent = saved.version;
      Object.keys(saved.cells).forEach(function (column) {
        var c = self.columns.indexOf(column);
        if (c >= 0) show(self.cell(r, c), saved.cells[column]);
      });
    });
  };

  Grid.prototype.flash = function (td) {
    td.classList.add("tz-saved");
    var badge = document.createElement("span");
    badge.className = "tz-saved-badge";
    badge.setAttribute("role", "status");
    badge.textContent = "已保存";
    td.appendChild(badge);
    setTimeout(function () {
      td.classList.remove("tz-saved");
      if (badge.parentNode) badge.parentNode.removeChild(badge);
    }, 1500);
  };

  // A message beside a cell (role=alert); a conflict offers 重新载入 and 覆盖保存.
  Grid.prototype.say = function (td, text, kind, overwrite) {
    this.clearMessage(td);
    var box = document.createElement("div");
    box.className = "tz-message tz-message-" + kind;
    box.setAttribute("role", "alert");
    var p = document.createElement("span");
    p.textContent = text;
    box.appendChild(p);
    if (kind === "conflict") {
      box.appendChild(button("重新载入", function () { window.location.reload(); }));
      if (overwrite) box.appendChild(button("覆盖保存", overwrite));
    }
    td.classList.add("tz-has-message", kind === "info" ? "tz-info" : "tz-error");
    td.appendChild(box);
    return box;
  };

  Grid.prototype.clearMessage = function (td) {
    td.classList.remove("tz-has-message", "tz-error", "tz-info");
    td.querySelectorAll(".tz-message").forEach(function (m) { m.parentNode.removeChild(m); });
  };

  // A pasted TSV block updates the rectangle that starts at the selection's top-left cell; a
  // single value pasted over a selected range fills it. One request: all saved, or none.
  Grid.prototype.paste = function (text) {
    var self = this, box = this.range(), block = parseTSV(text);
    if (block.length === 1 && block[0].length === 1 && (box.r1 > box.r0 || box.c1 > box.c0)) {
      var fill = [];
      for (var i = 0; i <= box.r1 - box.r0; i++) {
        fill.push([]);
        for (var j = 0; j <= box.c1 - box.c0; j++) fill[i].push(block[0][0]);
      }
      block = fill;
    }
    var start = this.cell(box.r0, box.c0);
    this.table.querySelectorAll("td.tz-has-message").forEach(function (td) { self.clearMessage(td); });
    if (box.r0 + block.length > this.rows.length || box.c0 + block[0].length > this.columns.length) {
      this.say(start, "粘贴的区域（" + block.length + " 行 × " + block[0].length + " 列）超出了本页表格，未保存", "error");
      return;
    }
    var changes = [], targets = [];
    for (var r = 0; r < block.length; r++) {
      for (var c = 0; c < block[r].length; c++) {
        var rule = this.rule(box.c0 + c);
        if (!rule) {
          this.say(this.cell(box.r0 + r, box.c0 + c), "「" + this.columns[box.c0 + c] + "」列由系统维护，不能粘贴修改；未保存", "error");
          return;
        }
        changes.push({ id: this.rowId(box.r0 + r), column: this.columns[box.c0 + c], value: block[r][c] });
        targets.push(this.cell(box.r0 + r, box.c0 + c));
      }
    }
    this.anchor = { r: box.r0, c: box.c0 };
    this.select(box.r0 + block.length - 1, box.c0 + block[0].length - 1, true);
    this.sendBlock(changes, targets, false);
  };

  Grid.prototype.sendBlock = function (changes, targets, overwrite) {
    var self = this;
    var copy = changes.map(function (ch) { return { id: ch.id, column: ch.column, value: ch.value }; });
    this.send(copy, overwrite).then(function (answer) {
      if (answer.ok) {
        self.apply(answer.rows);
        targets.forEach(function (td) { self.flash(td); });
        return;
      }
      var conflicted = false;
      answer.errors.forEach(function (error) {
        var i = changes.findIndex(function (ch) { return ch.id === error.id && ch.column === error.column; });
        var td = targets[i >= 0 ? i : 0];
        conflicted = conflicted || error.conflict;
        self.say(td, error.message, error.conflict ? "conflict" : "error", error.conflict ? function () {
          self.sendBlock(changes, targets, true);
        } : null);
      });
    });
  };

  // Excel's clipboard: rows by newline, cells by tab; a cell with a tab, newline or quote is
  // quoted with doubled quotes inside; the block usually ends with a newline.
  function parseTSV(text) {
    var rows = [[]], cell = "", quoted = false, i = 0;
    text = text.replace(/\r\n?/g, "\n");
    while (i < text.length) {
      var ch = text[i];
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') { cell += '"'; i += 2; continue; }
        if (ch === '"') { quoted = false; i++; continue; }
        cell += ch;
      } else if (ch === '"' && cell === "") {
        quoted = true;
      } else if (ch === "\t") {
        rows[rows.length - 1].push(cell); cell = "";
      } else if (ch === "\n") {
        rows[rows.length - 1].push(cell); cell = ""; rows.push([]);
      } else {
        cell += ch;
      }
      i++;
    }
    rows[rows.length - 1].push(cell);
    if (rows.length > 1 && rows[rows.length - 1].length === 1 && rows[rows.length - 1][0] === "") rows.pop();
    var width = Math.max.apply(null, rows.map(function (r) { return r.length; }));
    rows.forEach(function (r) { while (r.length < width) r.push(""); });
    return rows;
  }

  function widget(rule, value) {
    var field;
    if (rule.type === "enum" || rule.type === "bool") {
      field = document.createElement("select");
      var options = rule.type === "bool" ? ["是", "否"] : rule.values;
      var shown = rule.type === "bool" ? ({ "1": "是", "0": "否" }[value] || value) : value;
      [""].concat(options).forEach(function (v) {
        var option = document.createElement("option");
        option.value = v;
        option.textContent = v === "" ? "（空）" : v;
        if (v === shown) option.selected = true;
        field.appendChild(option);
      });
    } else if (rule.type === "textarea") {
      field = document.createElement("textarea");
      field.rows = 4;
      field.value = value;
    } else {
      field = document.createElement("input");
      field.type = "text";
      field.value = value;
      if (rule.type === "int" || rule.type === "real") field.inputMode = "decimal";
      if (rule.type === "date") field.placeholder = "2024-03-05";
      if (rule.type === "fk") field.placeholder = "名称或编号";
    }
    field.className = "tz-field";
    field.setAttribute("aria-label", rule.label + (rule.required ? "（必填）" : ""));
    var hint = [];
    if (rule.type === "date") hint.push("日期，如 2024-03-05、2024/3/5 或 2024年3月5日");
    if (rule.min !== null && rule.min !== undefined) hint.push("最小 " + rule.min);
    if (rule.max !== null && rule.max !== undefined) hint.push("最大 " + rule.max);
    if (rule.type === "fk") hint.push("填写名称或编号，如 张三 或 00012");
    if (hint.length) field.title = hint.join("；");
    return field;
  }

  // A saved cell as core renders it: a reference as a link to its row with the id after it.
  function show(td, cell) {
    td.innerHTML = "";
    td.classList.remove("type-none");
    if (cell.value === null || cell.value === undefined || cell.value === "") {
      td.innerHTML = "&nbsp;";
      td.classList.add("type-none");
    } else if (cell.href) {
      var link = document.createElement("a");
      link.href = cell.href;
      link.textContent = cell.label || String(cell.value);
      var em = document.createElement("em");
      em.textContent = String(cell.value);
      td.appendChild(link);
      td.appendChild(document.createTextNode("\u00a0"));
      td.appendChild(em);
    } else {
      td.textContent = String(cell.value);
    }
  }

  function button(label, action) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", function (ev) {
      ev.stopPropagation();
      action();
    });
    return b;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
