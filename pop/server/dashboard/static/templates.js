// pop dashboard: the template page's payload editor. It checks the payload as you type against
// the parameters the template's tokens read (JSON syntax with line and column, unknown field,
// missing required field, wrong type), lists the problems in an aria-live region and disables
// Submit while there are any; Preview asks the server for the dry run (POST
// /templates/{id}/preview with the X-CSRF-Token header) and draws the filled agenda, or shows
// the server's message and hint as they are. The server is the authority: these checks are a
// convenience. The project's own script: no framework, no CDN.
"use strict";

(function () {
  var form = document.getElementById("run-form");
  var editor = document.getElementById("payload");
  var checksNode = document.getElementById("template-checks");
  if (!form || !editor || !checksNode) return;
  var checks = JSON.parse(checksNode.textContent);
  var submit = document.getElementById("submit-button");
  var previewButton = document.getElementById("preview-button");
  var report = document.getElementById("payload-check");
  var names = checks.parameters.map(function (p) { return p.name; });

  function where(text, message) {
    // V8: "... in JSON at position 12 (line 2 column 3)"; older: "... at position 12"
    var found = /line (\d+) column (\d+)/.exec(message);
    if (found) return { line: Number(found[1]), column: Number(found[2]) };
    var at = /position (\d+)/.exec(message);
    var offset = at ? Number(at[1]) : text.length;
    var before = text.slice(0, offset);
    return { line: before.split("\n").length, column: offset - before.lastIndexOf("\n") };
  }

  function syntaxProblem(text, error) {
    var place = where(text, error.message);
    var reason = error.message.replace(/,? ?(in JSON )?at position \d+.*$/, "").replace(/^JSON\.parse: /, "");
    return "JSON syntax error at line " + place.line + ", column " + place.column + ": " + reason;
  }

  function unescape(part) {
    return part.replace(/~1/g, "/").replace(/~0/g, "~");
  }

  function isContainer(value) {
    return value !== null && typeof value === "object";
  }

  // the value a JSON pointer finds, or undefined; a step into a non-container is a type problem
  function lookUp(payload, pointer, problems) {
    var parts = pointer.split("/").slice(1).map(unescape);
    var value = payload;
    for (var i = 0; i < parts.length; i++) {
      if (!isContainer(value)) {
        if (i > 0) {
          problems.push("wrong type: '" + parts.slice(0, i).join("/") + "' must be an object (the template reads '" + parts.join("/") + "')");
        }
        return { found: false, typeProblem: i > 0 };
      }
      if (!Object.prototype.hasOwnProperty.call(value, parts[i])) return { found: false };
      value = value[parts[i]];
    }
    return { found: true, value: value };
  }

  function problemsOf(text) {
    var payload;
    try {
      payload = JSON.parse(text);
    } catch (error) {
      return [syntaxProblem(text, error)];
    }
    var problems = [];
    var reads = checks.reads;
    if (reads.length && (!isContainer(payload) || Array.isArray(payload))) {
      return ["wrong type: the payload must be a JSON object whose fields are the parameters (" + names.join(", ") + ")"];
    }
    if (isContainer(payload) && !Array.isArray(payload) && !checks.wholePayload) {
      Object.keys(payload).forEach(function (key) {
        if (names.indexOf(key) < 0) {
          problems.push("unknown parameter '" + key + "': this template reads " + (names.length ? names.join(", ") : "no field"));
        }
      });
    }
    reads.forEach(function (read) {
      var shown = read.pointer.split("/").slice(1).map(unescape).join("/");
      var result = lookUp(payload, read.pointer, problems);
      if (!result.found) {
        if (read.required && !result.typeProblem) problems.push("missing required parameter '" + shown + "'");
        return;
      }
      if (!read.whole && isContainer(result.value)) {
        problems.push("wrong type: '" + shown + "' must be " + checks.types.text + " (it is used inside a longer text), not " + (Array.isArray(result.value) ? "an array" : "an object"));
      }
    });
    return problems.filter(function (item, index) { return problems.indexOf(item) === index; });
  }

  function check() {
    var problems = problemsOf(editor.value);
    report.textContent = "";
    if (problems.length) {
      var list = document.createElement("ul");
      problems.forEach(function (text) {
        var item = document.createElement("li");
        item.textContent = text;
        list.appendChild(item);
      });
      report.appendChild(list);
      report.dataset.state = "invalid";
    } else {
      var ok = document.createElement("p");
      ok.textContent = "The payload fits the template's parameters.";
      report.appendChild(ok);
      report.dataset.state = "valid";
    }
    editor.setAttribute("aria-invalid", problems.length ? "true" : "false");
    submit.disabled = problems.length > 0;
  }

  var section = document.getElementById("preview");
  var status = document.getElementById("preview-status");
  var result = document.getElementById("preview-result");
  var ops = document.getElementById("preview-ops");
  var picture = document.getElementById("preview-dag");
  var json = document.getElementById("preview-json");

  function say(text, refused) {
    status.textContent = "";
    var line = document.createElement("p");
    line.textContent = text;
    if (refused) line.className = "refused";
    status.appendChild(line);
  }

  function showRefusal(problem) {
    say("The server refused it: " + (problem.description || problem.title || "unknown error"), true);
    if (problem.hint) {
      var hint = document.createElement("p");
      hint.className = "refused";
      hint.textContent = "Hint: " + problem.hint;
      status.appendChild(hint);
    }
  }

  function showAgenda(answer) {
    ops.textContent = "";
    (answer.agenda.operations || []).forEach(function (op) {
      var item = document.createElement("li");
      item.dataset.op = op.name || "";
      item.textContent = (op.name || "") + " (" + (op.type || "") + ")";
      ops.appendChild(item);
    });
    var svg = new DOMParser().parseFromString(answer.svg, "image/svg+xml").documentElement;
    picture.textContent = "";
    picture.appendChild(document.importNode(svg, true));
    json.textContent = JSON.stringify(answer.agenda, null, 2);
    result.hidden = false;
    say("The filled agenda \u201c" + (answer.agenda.title || "") + "\u201d: " + (answer.agenda.operations || []).length + " operations. Nothing was stored.", false);
  }

  function preview() {
    section.hidden = false;
    result.hidden = true;
    say("Asking the server for the dry run\u2026", false);
    var link = document.getElementById("link-id");
    fetch(previewButton.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": form.elements.csrf.value
      },
      body: JSON.stringify({ payload: editor.value, linkId: link.value })
    }).then(function (answer) {
      return answer.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (error) { body = null; }
        if (body && body.agenda) return showAgenda(body);
        if (body && body.errorResponse) return showRefusal(body.errorResponse);
        showRefusal({ description: "HTTP " + answer.status + (answer.status === 403 ? ": missing CSRF token (reload the page)" : "") });
      });
    }).catch(function (error) {
      say("The server could not be reached: " + error.message, true);
    });
  }

  editor.addEventListener("input", check);
  previewButton.addEventListener("click", preview);
  check();
})();
