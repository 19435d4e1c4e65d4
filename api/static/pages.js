// The pages' writes and a few conveniences, in plain JavaScript (no build step, no library).
//
// Each form[data-api] is sent as JSON to the service's API with the sign-in cookie and the
// X-Ledger-Page header (api/auth.py says why). A refusal arrives as problem+json: its code
// and field pick a Chinese sentence from the tables the server put in the page (api/pages/zh.py),
// shown next to the field at fault. Success reloads the page, or goes where data-then says.
(function () {
  "use strict";

  var zh = JSON.parse(document.getElementById("zh").textContent);
  var PAGE_HEADER = "X-Ledger-Page";
  var FLASH = "ledger-flash";

  function randomKey() {
    // crypto.randomUUID exists only on https; getRandomValues also on a plain-http intranet.
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function fill(template, data) {
    var missing = false;
    var text = template.replace(/\{(\w+)\}/g, function (_, name) {
      if (!(name in data)) { missing = true; return ""; }
      var values = Array.isArray(data[name]) ? data[name] : [data[name]];
      return values.map(function (v) { return zh.values[String(v)] || String(v); }).join("、");
    });
    return missing ? null : text;
  }

  // The same choice as zh.message on the server: code:field, then code, else the detail.
  function message(problem) {
    var field = String(problem.field || "").replace(/\[\d+\]/g, "");
    var template = zh.messages[problem.code + ":" + field] || zh.messages[problem.code];
    if (!template) return problem.detail || zh.messages.internal_error;
    return fill(template, problem) || problem.detail || template;
  }

  // A roster is CSV: one participant a line, "member id,quantity" (comma, Chinese comma or
  // tab); a line with an id alone counts 1; a first line naming the columns is skipped. A
  // quantity that is not a whole number is sent as written, so the server names its line.
  function roster(text, form) {
    var participants = [], lineOf = [];
    text.split(/\r?\n/).forEach(function (line, i) {
      var cells = line.split(/[,，\t]/).map(function (c) { return c.trim(); });
      if (!cells[0]) return;
      if (i === 0 && /编号|姓名|member|id/i.test(cells[0]) && !/^\d+$/.test(cells[1] || "")) return;
      var quantity = cells.length > 1 && cells[1] !== "" ? cells[1] : "1";
      participants.push({ member_id: cells[0], quantity: /^\d+$/.test(quantity) ? Number(quantity) : quantity });
      lineOf.push(i + 1);
    });
    form.rosterLines = lineOf;
    return participants;
  }

  function value(input, form) {
    var type = input.dataset.type;
    if (type === "bool") return input.checked;
    if (type === "now") return new Date().toISOString();  // the shop's 下架: the moment of the click
    var raw = input.value.trim();
    if (type === "roster") return roster(input.value, form);
    // An empty required choice is sent as such, so the server names the field that lacks it.
    if (raw === "") return "required" in input.dataset ? "" : undefined;
    if (type === "int") return /^\d+$/.test(raw) ? Number(raw) : raw;
    if (type === "datetime") return (raw.length === 16 ? raw + ":00" : raw) + input.dataset.offset;
    return raw;
  }

  function body(form) {
    var data = {};
    form.querySelectorAll("[name]").forEach(function (input) {
      if (input.type === "file") return;
      var v = value(input, form);
      if (v !== undefined) data[input.name] = v;
    });
    // The shop's edit form: a field that may be emptied and is left empty is named in "clear".
    var clear = [];
    form.querySelectorAll("[data-clears]").forEach(function (input) {
      var name = input.dataset.clears;
      if ((!input.name || data[input.name] === undefined) && clear.indexOf(name) < 0) clear.push(name);
    });
    if (clear.length) data.clear = clear;
    return data;
  }

  function clear(form) {
    form.querySelectorAll(".err").forEach(function (e) { e.textContent = ""; e.classList.remove("shown"); });
    form.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
  }

  function show(form, problem) {
    var field = String(problem.field || "");
    var base = field.split(/[.[]/)[0];
    var aliases = form.dataset.fields ? JSON.parse(form.dataset.fields) : {};
    base = aliases[base] || base;
    var slot = form.querySelector('[data-error-for="' + base + '"]') || form.querySelector('[data-error-for=""]');
    var text = message(problem);
    var line = /^\w+\[(\d+)\]/.exec(field);
    if (line && form.rosterLines) text = "第 " + form.rosterLines[Number(line[1])] + " 行：" + text;
    var input = form.querySelector('[name="' + base + '"]');
    if (input) input.setAttribute("aria-invalid", "true");
    if (slot) { slot.textContent = text; slot.classList.add("shown"); } else { alert(text); }
  }

  function done(form, data) {
    if (form.dataset.done) sessionStorage.setItem(FLASH, fill(form.dataset.done, data) || "");
    var then = form.dataset.then;
    if (then) location.href = then.replace(/\{(\w+)\}/g, function (_, k) { return encodeURIComponent(data[k]); });
    else location.reload();
  }

  function api(method, url, data, key) {
    var headers = { Accept: "application/json" };
    headers[PAGE_HEADER] = "1";
    if (data !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    return fetch(url, {
      method: method, headers: headers, credentials: "same-origin",
      body: data === undefined ? undefined : JSON.stringify(data)
    }).then(function (response) {
      return response.text().then(function (text) {
        var parsed;
        try { parsed = text ? JSON.parse(text) : {}; } catch (e) { parsed = { code: "http_" + response.status }; }
        if (!response.ok) throw parsed;
        return parsed;
      });
    }, function () { throw { code: "internal_error" }; });
  }

  function submit(form, event) {
    event.preventDefault();
    if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
    clear(form);
    var data = body(form);
    var method = form.dataset.method || "POST";
    // A retry after a lost answer reuses the key, so the server does the work once.
    if ("idempotent" in form.dataset && !form.idempotencyKey) form.idempotencyKey = randomKey();
    var button = form.querySelector("button");
    button.disabled = true;
    api(method, form.dataset.api, Object.keys(data).length || method === "PUT" ? data : undefined, form.idempotencyKey)
      .then(function (result) { form.idempotencyKey = null; done(form, result); })
      .catch(function (problem) { show(form, problem && problem.code ? problem : { code: "internal_error" }); })
      .then(function () { button.disabled = false; });
  }

  document.querySelectorAll("form[data-api]").forEach(function (form) {
    form.addEventListener("submit", function (event) { submit(form, event); });
  });

  // Excel in China saves CSV as GB18030 unless told otherwise: a UTF-8 reading that breaks
  // characters is read again as GB18030.
  function read(file, encoding, then) {
    var reader = new FileReader();
    reader.onload = function () { then(String(reader.result)); };
    reader.readAsText(file, encoding);
  }
  document.querySelectorAll("input[type=file][data-fills]").forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files[0];
      var target = input.form.querySelector('[name="' + input.dataset.fills + '"]');
      if (!file || !target) return;
      read(file, "utf-8", function (text) {
        if (text.indexOf("\uFFFD") < 0) { target.value = text.replace(/^\uFEFF/, ""); return; }
        read(file, "gb18030", function (again) { target.value = again; });
      });
    });
  });

  // The statement grows as it scrolls: the next page's rows replace the "more" link.
  function more(link) {
    if (link.dataset.loading) return;
    link.dataset.loading = "1";
    fetch(link.href, { credentials: "same-origin" }).then(function (response) {
      if (response.redirected) { location.href = response.url; return; }
      if (!response.ok) throw response;
      return response.text().then(function (html) {
        var item = link.closest("li");
        item.insertAdjacentHTML("afterend", html);
        item.remove();
        watch();
      });
    }).catch(function () { delete link.dataset.loading; });
  }
  function watch() {
    document.querySelectorAll("a[data-more]:not([data-watched])").forEach(function (link) {
      link.dataset.watched = "1";
      link.addEventListener("click", function (event) { event.preventDefault(); more(link); });
      if ("IntersectionObserver" in window) {
        var observer = new IntersectionObserver(function (entries) {
          if (entries[0].isIntersecting) { observer.disconnect(); more(link); }
        });
        observer.observe(link);
      }
    });
  }
  watch();

  // A member's sign-in link: a new member token from the API, its QR code drawn by the
  // desk (the link goes in a POST body, never in a URL a log keeps).
  document.querySelectorAll("[data-signin-link]").forEach(function (button) {
    button.addEventListener("click", function () {
      var card = document.getElementById("signin-card");
      var error = document.getElementById("signin-error");
      error.classList.remove("shown");
      button.disabled = true;
      api("POST", "/v1/tokens", { role: "member", label: button.dataset.label, member_id: button.dataset.member })
        .then(function (created) {
          var link = location.origin + "/me/signin?token=" + encodeURIComponent(created.token);
          var headers = { "Content-Type": "application/x-www-form-urlencoded" };
          headers[PAGE_HEADER] = "1";
          return fetch("/desk/qr", {
            method: "POST", headers: headers, credentials: "same-origin", body: "link=" + encodeURIComponent(link)
          }).then(function (response) {
            if (!response.ok) throw { code: "internal_error" };
            return response.text();
          }).then(function (svg) {
            card.querySelector(".qr").innerHTML = svg;
            card.querySelector(".link").textContent = link;
            card.hidden = false;
          });
        })
        .catch(function (problem) { error.textContent = message(problem || {}); error.classList.add("shown"); })
        .then(function () { button.disabled = false; });
    });
  });

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  // The review queue (desk/claims): the ticked claims are decided in one request, which
  // answers per claim. A refused claim shows why on its own card; the others are marked
  // decided. The key is kept for a retry of the same decisions only, since each claim's
  // decision is fingerprinted under it and another decision with the same key is refused.
  document.querySelectorAll("[data-tick-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      document.querySelectorAll("input[data-claim]:not(:disabled)").forEach(function (c) { c.checked = box.checked; });
    });
  });

  function decided(line, form) {
    var card = document.querySelector('[data-claim-card="' + line.claim_id + '"]');
    if (!card) return;
    if (line.outcome === "refused") {
      var slot = card.querySelector("[data-claim-error]");
      slot.textContent = message(line.problem);
      slot.classList.add("shown");
      return;
    }
    card.querySelector("[data-outcome]").textContent = form.dataset[line.outcome];
    card.querySelectorAll("button, input").forEach(function (input) { input.disabled = true; });
  }

  function review(form, event) {
    event.preventDefault();
    clear(form);
    document.querySelectorAll("[data-claim-error]").forEach(function (e) { e.textContent = ""; e.classList.remove("shown"); });
    var decline = event.submitter && event.submitter.value === "decline";
    var reason = form.querySelector('[name="reason"]').value.trim();
    var decisions = Array.prototype.map.call(document.querySelectorAll("input[data-claim]:checked"), function (box) {
      var id = Number(box.dataset.claim);
      return decline ? { claim_id: id, decision: "decline", reason: reason } : { claim_id: id, decision: "approve" };
    });
    var signature = JSON.stringify(decisions);
    if (form.reviewSignature !== signature) { form.reviewKey = randomKey(); form.reviewSignature = signature; }
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    api("POST", form.dataset.review, { decisions: decisions }, form.reviewKey)
      .then(function (result) {
        form.reviewSignature = null;
        var counts = { approved: 0, declined: 0, refused: 0 };
        result.lines.forEach(function (line) { counts[line.outcome] += 1; decided(line, form); });
        if (!counts.refused) { done(form, counts); return; }
        show(form, { code: "partial", detail: fill(form.dataset.partial, counts) });
      })
      .catch(function (problem) { show(form, problem && problem.code ? problem : { code: "internal_error" }); })
      .then(function () { buttons.forEach(function (b) { b.disabled = false; }); });
  }

  document.querySelectorAll("form[data-review]").forEach(function (form) {
    form.addEventListener("submit", function (event) { review(form, event); });
    // Enter in the reason would submit with the first button, approving what was meant to
    // be declined: the reviewer picks the button.
    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.target.tagName === "INPUT") event.preventDefault();
    });
  });

  // The counter (核销台): where the browser has a BarcodeDetector, the camera reads the QR code
  // a resident shows and submits its pickup code; elsewhere the code is typed.
  document.querySelectorAll("[data-scan-for]").forEach(function (box) {
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
    var form = document.getElementById(box.dataset.scanFor);
    var video = box.querySelector("video");
    var error = box.querySelector("[data-scan-error]");
    box.hidden = false;
    box.querySelector("[data-scan-start]").addEventListener("click", function () {
      var detector = new BarcodeDetector({ formats: ["qr_code"] });
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        return video.play().then(function () {
          function look() {
            detector.detect(video).then(function (codes) {
              if (!codes.length) { requestAnimationFrame(look); return; }
              stream.getTracks().forEach(function (track) { track.stop(); });
              form.querySelector("[name=code]").value = codes[0].rawValue;
              form.submit();
            }, function () { requestAnimationFrame(look); });
          }
          look();
        });
      }).catch(function () {
        error.textContent = zh.messages.camera_unavailable;
        error.classList.add("shown");
      });
    });
  });

  // Imports on the desk (desk/import): the chosen file is read once and its bytes sent as
  // the body of a dry run (预检), whose report is drawn row by row; 确认导入 sends the same
  // bytes with dry_run=false, offered only while the dry run refused nothing and neither the
  // file nor the kind has changed. A refused row is shown by its reason in Chinese, which
  // the ledger writes beside the English one (reason_zh).
  document.querySelectorAll("form[data-import]").forEach(function (form) {
    var words = JSON.parse(document.getElementById("import-zh").textContent);
    var input = form.querySelector("input[type=file]");
    var apply = form.querySelector("[data-import-apply]");
    var hint = form.querySelector("[data-import-hint]");
    var report = document.querySelector("[data-import-report]");
    var checked = null;  // { kind, url, bytes } of the dry run that refused nothing

    function kind() { return form.querySelector("input[name=kind]:checked"); }

    function cell(row, text) {
      var td = document.createElement("td");
      td.textContent = text;
      row.appendChild(td);
      return td;
    }

    function detail(line, fields) {
      if (line.outcome === "refused") return (line.column ? "“" + line.column + "”列：" : "") + line.reason_zh;
      return (line.changed || []).map(function (f) { return fields[f] || f; }).join("、");
    }

    // A report (200) and a refused apply's refusals (422) are drawn alike.
    function draw(title, counts, lines, fields) {
      report.querySelector("[data-report-title]").textContent = title;
      Object.keys(words.outcomes).forEach(function (outcome) {
        report.querySelector('[data-count="' + outcome + '"]').textContent = String(counts[outcome] || 0);
      });
      var body = report.querySelector("tbody");
      body.textContent = "";
      lines.forEach(function (line) {
        var row = document.createElement("tr");
        row.className = "import-" + line.outcome;
        cell(row, String(line.row));
        cell(row, line.key).className = "mono";
        cell(row, words.outcomes[line.outcome] || line.outcome);
        cell(row, detail(line, fields));
        body.appendChild(row);
      });
      var absent = report.querySelector("[data-absent]");
      absent.hidden = !counts.absent;
      absent.textContent = counts.absent ? "本文件涉及的微网格中，另有 " + counts.absent + " 位成员不在文件里（保留不变，如已迁出请到成员页面处理）："
        + (counts.absent_ids || []).join("、") + (counts.absent > (counts.absent_ids || []).length ? " 等" : "") : "";
      var ignored = report.querySelector("[data-ignored]");
      ignored.hidden = !(counts.ignored_columns || []).length;
      ignored.textContent = ignored.hidden ? "" : "以下列不会保存：" + counts.ignored_columns.join("、");
      var omitted = report.querySelector("[data-omitted]");
      omitted.hidden = !counts.omitted;
      omitted.textContent = counts.omitted ? "另有 " + counts.omitted + " 行未列出（计数包括全部行）" : "";
      report.hidden = false;
    }

    function send(url, bytes) {
      var headers = { Accept: "application/json", "Content-Type": "application/octet-stream" };
      headers[PAGE_HEADER] = "1";
      return fetch(url, { method: "POST", headers: headers, credentials: "same-origin", body: bytes })
        .then(function (response) {
          return response.json().catch(function () { return { code: "http_" + response.status }; })
            .then(function (data) { if (!response.ok) throw data; return data; });
        }, function () { throw { code: "internal_error" }; });
    }

    function reset() {
      checked = null;
      apply.disabled = true;
      hint.hidden = false;
    }

    function shown(result, title, fields) {
      draw(title, {
        created: result.created, updated: result.updated, unchanged: result.unchanged, refused: result.refused,
        absent: result.absent, absent_ids: result.absent_ids, ignored_columns: result.ignored_columns,
        omitted: result.outcomes_omitted
      }, result.outcomes, fields);
    }

    input.addEventListener("change", function () {
      clear(form);
      reset();
      report.hidden = true;
      form.querySelector("[data-file-name]").textContent = input.files[0] ? input.files[0].name : "未选择文件";
    });
    form.querySelectorAll("input[name=kind]").forEach(function (radio) {
      radio.addEventListener("change", function () { reset(); report.hidden = true; });
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clear(form);
      reset();
      var file = input.files[0];
      if (!file) { show(form, { code: "import_no_file" }); return; }
      if (file.size > words.bytes_max) { show(form, { code: "body_too_large" }); return; }
      var chosen = kind();
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      file.arrayBuffer().then(function (bytes) {
        return send(chosen.dataset.api + "?dry_run=true", bytes).then(function (result) {
          shown(result, "预检结果（尚未导入）", words.fields[chosen.value]);
          if (!result.refused) checked = { kind: chosen, bytes: bytes };
        });
      }).catch(function (problem) { show(form, problem && problem.code ? problem : { code: "internal_error" }); })
        .then(function () {
          form.querySelector("[data-import-check]").disabled = false;
          apply.disabled = !checked;
          hint.hidden = !!checked;
        });
    });

    apply.addEventListener("click", function () {
      if (!checked || kind() !== checked.kind) { show(form, { code: "import_changed" }); reset(); return; }
      clear(form);
      var chosen = checked.kind;
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      send(chosen.dataset.api + "?dry_run=false", checked.bytes).then(function (result) {
        shown(result, "导入完成", words.fields[chosen.value]);
        checked = null;
      }).catch(function (problem) {
        // Refused now though the dry run passed: the ledger changed in between.
        if (problem && problem.code === "import_refused") {
          var lines = (problem.refusals || []).map(function (r) { return { row: r.row, key: r.key, outcome: "refused", column: r.column, reason_zh: r.reason_zh }; });
          draw("未导入", { refused: problem.refused, omitted: problem.refusals_omitted }, lines, words.fields[chosen.value]);
          checked = null;
        }
        show(form, problem && problem.code ? problem : { code: "internal_error" });
      }).then(function () {
        form.querySelector("[data-import-check]").disabled = false;
        apply.disabled = !checked;
      });
    });
  });

  var flash = sessionStorage.getItem(FLASH);
  if (flash) {
    sessionStorage.removeItem(FLASH);
    var box = document.getElementById("flash");
    box.textContent = flash;
    box.hidden = false;
  }
})();
