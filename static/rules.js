/* Checking a register's values in the browser, from the rules the server derives from the
 * register definition (taizhang/client_rules.py). Reads typed values the way the server does
 * (taizhang/importer/values.py: 2024/3/5, 2024年3月5日, ¥1,200, full-width digits) and refuses
 * with the database's own sentences, which arrive in each rule's `messages`. The database checks
 * again on save: this only spares a round trip and puts the message next to the field at once.
 *
 * window.TaizhangRules.check(rule, text) -> {value, message}: the stored form of the text
 * (null for empty) or the sentence refusing it. checkRow(rules, texts) -> {column: message},
 * adding the rules between columns (an end date before its start). No DOM here. */
(function () {
  "use strict";

  // Blanks around a value, zero-width characters included (taizhang/characters.py BLANK).
  var SPACES = /^[\s\u3000\u00a0\u180e\u200b-\u200d\u2060\ufeff]+|[\s\u3000\u00a0\u180e\u200b-\u200d\u2060\ufeff]+$/g;
  // Control and bidi-override characters, refused in names and keys (characters.py UNSAFE).
  var UNSAFE = /[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/;
  var OPEN_ENDED = ["长期", "长期有效", "長期", "長期有效", "无固定期限", "無固定期限", "永久"];
  var DATE_PATTERNS = [
    /^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?$/,
    /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$/,
    /^(\d{4})(\d{2})(\d{2})$/,
  ];
  var UNITS = { "万": 10000, "萬": 10000, "亿": 100000000, "億": 100000000, "千": 1000, k: 1000, K: 1000 };

  // Full-width ASCII (Ｕ+FF01–FF5E) and the ideographic space made ASCII, then trimmed.
  function asciiForms(text) {
    return String(text)
      .replace(/[\uff01-\uff5e]/g, function (ch) {
        return String.fromCharCode(ch.charCodeAt(0) - 0xfee0);
      })
      .replace(/\u3000/g, " ")
      .replace(SPACES, "");
  }

  function fill(sentence, value) {
    return (sentence || "").replace("{value}", value);
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function parseDate(rule, raw) {
    var text = asciiForms(raw);
    if (rule.open_ended && OPEN_ENDED.indexOf(text) >= 0) {
      return { value: null, message: "" };
    }
    for (var i = 0; i < DATE_PATTERNS.length; i += 1) {
      var m = DATE_PATTERNS[i].exec(text);
      if (!m) {
        continue;
      }
      var y = +m[1], mo = +m[2], d = +m[3];
      var date = new Date(Date.UTC(y, mo - 1, d));
      if (y < 1 || date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
        return { value: raw, message: fill(rule.messages.impossible, text) };
      }
      return { value: m[1] + "-" + pad(mo) + "-" + pad(d), message: "" };
    }
    return { value: raw, message: fill(rule.messages.unreadable, text) };
  }

  function parseNumber(rule, raw) {
    var text = asciiForms(raw);
    if (rule.type === "int") {
      text = text.replace(/(年度|年|天|日|次|个|個|人|分|级|級|名)$/, "");
    } else {
      text = text.replace(/^(RMB|CNY|¥|￥)|(元|RMB|CNY)$/gi, "").replace(/(小时|小時|分|学时|學時|天|h|%)$/, "");
    }
    text = text.replace(/[,，]/g, "").trim();
    var multiplier = 1;
    if (text && UNITS[text.charAt(text.length - 1)]) {
      multiplier = UNITS[text.charAt(text.length - 1)];
      text = text.slice(0, -1);
    }
    var number = text === "" || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text) ? NaN : Number(text) * multiplier;
    var m = rule.messages;
    if (!isFinite(number)) {   // 1e400 reads as Infinity: a number, but not one a register holds
      return { value: raw, message: (!isNaN(number) && m.finite) || m.integer || m.number };
    }
    if (rule.type === "int" && !Number.isInteger(number)) {
      return { value: raw, message: m.integer };
    }
    if ((rule.min !== null && number < rule.min) || (rule.max !== null && number > rule.max)) {
      return { value: raw, message: m.range };
    }
    return { value: number, message: "" };
  }

  function normaliseToken(text) {
    return String(text).replace(SPACES, "").toLowerCase();
  }

  function check(rule, raw) {
    var text = raw === null || raw === undefined ? "" : String(raw);
    if (text.replace(SPACES, "") === "") {
      return { value: null, message: rule.required ? rule.messages.required : "" };
    }
    var m = rule.messages;
    switch (rule.type) {
      case "date":
        return parseDate(rule, text);
      case "int":
      case "real":
        return parseNumber(rule, text);
      case "enum":
      case "bool": {
        var canonical = (rule.synonyms || {})[normaliseToken(text)];
        if (canonical === undefined) {
          return { value: raw, message: m.choice };
        }
        return { value: rule.type === "bool" ? Number(canonical) : canonical, message: "" };
      }
      case "fk":
        return /^\d+$/.test(text) ? { value: Number(text), message: "" } : { value: raw, message: m.integer };
      case "text": {
        if (rule.format === "email") {
          var email = asciiForms(text);
          var ok = /^[^@]+@[^@]+\.[^@]+$/.test(email) && !/[ ,;<>]/.test(email);
          return ok ? { value: email, message: "" } : { value: raw, message: m.email };
        }
        if (rule.format === "phone") {
          var phone = asciiForms(text);
          var fine = /\d\d\d/.test(phone) && phone.length <= 40;
          return fine ? { value: phone, message: "" } : { value: raw, message: m.phone };
        }
        var trimmed = text.replace(SPACES, "");
        if (m.characters && UNSAFE.test(trimmed)) {
          return { value: raw, message: m.characters };
        }
        return { value: trimmed, message: "" };
      }
      default: // period, time: many spellings; the server reads and checks them
        return { value: text.replace(SPACES, ""), message: "" };
    }
  }

  // Texts by column name -> messages by column name (only the refused ones).
  function checkRow(rules, texts) {
    var messages = {}, values = {};
    Object.keys(texts).forEach(function (name) {
      var rule = rules.columns[name];
      if (!rule) {
        return;
      }
      var result = check(rule, texts[name]);
      values[name] = result.value;
      if (result.message) {
        messages[name] = result.message;
      }
    });
    Object.keys(values).forEach(function (name) {
      var rule = rules.columns[name];
      var other = rule.not_before;
      if (other && !messages[name] && !messages[other] && values[name] && values[other] && values[name] < values[other]) {
        messages[name] = rule.messages.not_before;
      }
    });
    return messages;
  }

  window.TaizhangRules = { check: check, checkRow: checkRow, asciiForms: asciiForms };
})();
