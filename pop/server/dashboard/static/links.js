// pop dashboard: the link-group page's live summary and rows. Each progress event of the link
// (GET /pop/events?linkId=L, Server-Sent Events) makes the page ask the server for the link's
// summary again (this URL with Accept: application/json, the API's own summary): the server
// stays the one place POP's summary rules are applied. Rows of agendas that join the link
// appear; every text is set with textContent. The project's own script: no framework, no CDN.
"use strict";

(function () {
  function field(root, name) {
    return root.querySelector('[data-field="' + name + '"]');
  }

  function setText(node, text) {
    if (node && node.textContent !== text) {
      node.textContent = text;
    }
  }

  function setState(node, state) {
    setText(node, state);
    if (node) {
      node.className = "state state-" + state.toLowerCase();
    }
  }

  function when(ms) {
    return ms ? new Date(Number(ms)).toISOString().slice(0, 19).replace("T", " ") + "Z" : "";
  }

  function cell(row) {
    var td = document.createElement("td");
    row.appendChild(td);
    return td;
  }

  function span(parent, className, name) {
    var node = document.createElement("span");
    node.className = className;
    node.dataset.field = name;
    parent.appendChild(node);
    return node;
  }

  // A row for an agenda that joined the link after the page was rendered.
  function newRow(tbody, progress) {
    var id = progress.agendaId || progress.id || "";
    var title = progress.title || "(untitled)";
    var row = document.createElement("tr");
    row.dataset.agendaId = id;
    var first = cell(row);
    span(first, "state", "state");
    first.appendChild(document.createTextNode(" "));
    span(first, "message", "message");
    var second = cell(row);
    var link = document.createElement("a");
    link.href = "/agendas/" + encodeURIComponent(id);
    link.textContent = title;
    second.appendChild(link);
    second.appendChild(document.createTextNode(" "));
    var code = document.createElement("code");
    code.textContent = id.slice(0, 8);
    second.appendChild(code);
    cell(row).textContent = progress.customerId || "";
    var fourth = cell(row);
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.dataset.field = "bar";
    bar.setAttribute("aria-label", "Progress of " + title);
    fourth.appendChild(bar);
    fourth.appendChild(document.createTextNode(" "));
    span(fourth, "", "percent");
    cell(row).dataset.field = "started";
    cell(row).dataset.field = "completed";
    tbody.appendChild(row);
    return row;
  }

  function setRow(row, progress) {
    var percent = Math.round(Number(progress.percentComplete || 0));
    setState(field(row, "state"), progress.processingState || "");
    setText(field(row, "message"), progress.processingStateMessage || "");
    var bar = field(row, "bar");
    if (bar && Number(bar.value) !== percent) {
      bar.value = percent;
      bar.textContent = percent + "%";
    }
    setText(field(row, "percent"), percent + "%");
    setText(field(row, "started"), when(progress.startedTime));
    setText(field(row, "completed"), when(progress.completedTime));
  }

  function apply(summary, tbody) {
    var members = summary.progressList || [];
    setState(field(document, "summary-state"), summary.processingState || "");
    var failed = summary.processingPercent === undefined || summary.processingPercent === null;
    field(document, "summary-failed").hidden = !failed;
    field(document, "summary-progress").hidden = failed;
    if (!failed) {
      var percent = Math.round(Number(summary.processingPercent));
      var bar = field(document, "summary-bar");
      bar.value = percent;
      bar.textContent = percent + "%";
      setText(field(document, "summary-percent"), percent + "%");
    }
    setText(field(document, "summary-count"), String(members.length));
    members.forEach(function (progress) {
      var id = progress.agendaId || progress.id || "";
      var row = tbody.querySelector('tr[data-agenda-id="' + CSS.escape(id) + '"]');
      setRow(row || newRow(tbody, progress), progress);
    });
  }

  function listen() {
    var section = document.querySelector("section[data-link-id]");
    var tbody = document.querySelector("table.members tbody");
    if (!section || !tbody) {
      return;
    }
    var asking = false;
    var again = false;

    function refresh() {
      if (asking) {
        again = true;
        return;
      }
      asking = true;
      again = false;
      fetch(window.location.pathname, {
        credentials: "same-origin",
        headers: {"Accept": "application/json"},
      })
        .then(function (answer) {
          return answer.status === 200 ? answer.json() : null;
        })
        .then(function (summary) {
          if (summary) {
            apply(summary, tbody);
          }
        })
        .catch(function () {})
        .then(function () {
          asking = false;
          if (again) {
            refresh();
          }
        });
    }

    // on each open, what changed before the stream opened
    window.popLive("/pop/events?linkId=" + encodeURIComponent(section.dataset.linkId), refresh,
      refresh);
  }

  document.addEventListener("DOMContentLoaded", listen);
})();
