// pop dashboard: live rows on the agendas page (GET /pop/events, Server-Sent Events) and the
// copy buttons of agenda ids. The project's own script: no framework, no CDN.
"use strict";

(function () {
  function setRow(row, progress) {
    var state = progress.processingState || "";
    var percent = Math.round(Number(progress.percentComplete || 0));
    var stateCell = row.querySelector('[data-field="state"]');
    if (stateCell && stateCell.textContent !== state) {
      stateCell.textContent = state;
      stateCell.className = "state state-" + state.toLowerCase();
    }
    var bar = row.querySelector('[data-field="bar"]');
    if (bar) {
      bar.value = percent;
      bar.textContent = percent + "%";
    }
    var text = row.querySelector('[data-field="percent"]');
    if (text && text.textContent !== percent + "%") {
      text.textContent = percent + "%";
    }
  }

  function listen() {
    var rows = document.querySelectorAll("tr[data-agenda-id]");
    var live = document.getElementById("live");
    if (!rows.length || !live || !window.EventSource) {
      return;
    }
    var source = new EventSource("/pop/events");
    source.addEventListener("open", function () {
      live.textContent = "Live updates: on";
      live.dataset.state = "open";
    });
    source.addEventListener("error", function () {
      live.textContent = "Live updates: reconnecting";
      live.dataset.state = "reconnecting";
    });
    source.addEventListener("progress", function (event) {
      var progress = JSON.parse(event.data);
      var id = progress.agendaId || progress.id;
      var row = document.querySelector('tr[data-agenda-id="' + CSS.escape(id) + '"]');
      if (row) {
        setRow(row, progress);
      }
    });
    window.addEventListener("pagehide", function () {
      source.close();
    });
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var text = button.dataset.copy;
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(
            function () { button.dataset.copied = "yes"; },
            function () { button.dataset.copied = "no"; }
          );
        } else {
          window.prompt("Agenda id", text);
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    listen();
    copyButtons();
  });
})();
