// pop dashboard: the agendas page's live rows (GET /pop/events, Server-Sent Events): rows
// update in place, and on the first page an agenda that appears is inserted at the top (its row
// rendered by the server: GET /agendas/row/{id} with the page's filters); the copy buttons of
// agenda ids; and popLive, which the agenda and link pages follow their events with too. The
// project's own script: no framework, no CDN.
"use strict";

// follow GET /pop/events and show the stream's state in the page's #live line; onOpen
// (optional) runs each time the stream opens (again)
window.popLive = function (url, onProgress, onOpen) {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return null;
  }
  var source = new EventSource(url);
  source.addEventListener("open", function () {
    live.textContent = "Live updates: on";
    live.dataset.state = "open";
    if (onOpen) {
      onOpen();
    }
  });
  source.addEventListener("error", function () {
    live.textContent = "Live updates: reconnecting";
    live.dataset.state = "reconnecting";
  });
  source.addEventListener("progress", function (event) {
    onProgress(JSON.parse(event.data));
  });
  window.addEventListener("pagehide", function () {
    source.close();
  });
  return source;
};

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

  function rowOf(id) {
    return document.querySelector('tr[data-agenda-id="' + CSS.escape(id) + '"]');
  }

  // The page's filters (its query string without the page number).
  function pageFilters() {
    var params = new URLSearchParams(window.location.search);
    params.delete("page");
    return params;
  }

  // What the script can check itself of a filter; the server checks them all (type, q too).
  function mayMatch(progress, filters) {
    var state = (filters.get("state") || "").trim().toUpperCase();
    var customer = (filters.get("customer") || "").trim();
    var link = (filters.get("link") || "").trim();
    return (!state || progress.processingState === state) &&
      (!customer || progress.customerId === customer) &&
      (!link || progress.linkId === link);
  }

  // Rows appearing live: only on the first page, only agendas newer than its newest row.
  function Appearing(tbody, count) {
    this.tbody = tbody;
    this.count = count;
    this.filters = pageFilters();
    this.pending = {};   // id -> the latest progress seen while its row is being fetched
    this.refused = {};   // id -> the state it had when the server said it does not match
  }

  Appearing.prototype.newest = function () {
    var newest = 0;
    this.tbody.querySelectorAll("tr[data-added]").forEach(function (row) {
      newest = Math.max(newest, Number(row.dataset.added || 0));
    });
    return newest;
  };

  Appearing.prototype.offer = function (progress) {
    var id = progress.agendaId || progress.id;
    if (!id) {
      return;
    }
    if (Object.prototype.hasOwnProperty.call(this.pending, id)) {
      this.pending[id] = progress;
      return;
    }
    if (this.refused[id] === progress.processingState || !mayMatch(progress, this.filters) ||
        Number(progress.addedTime || 0) < this.newest()) {
      return;
    }
    this.pending[id] = progress;
    var self = this;
    var url = "/agendas/row/" + encodeURIComponent(id) + "?" + this.filters.toString();
    fetch(url, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (answer) {
        return answer.status === 200 ? answer.text() : "";
      })
      .then(function (html) {
        var latest = self.pending[id];
        delete self.pending[id];
        if (!html) {
          self.refused[id] = latest.processingState;
          return;
        }
        if (!rowOf(id)) {
          self.insert(html);
        }
        var row = rowOf(id);
        if (row) {
          setRow(row, latest);
        }
      })
      .catch(function () {
        delete self.pending[id];
      });
  };

  Appearing.prototype.insert = function (html) {
    var holder = document.createElement("tbody");
    holder.innerHTML = html.trim();
    var row = holder.querySelector("tr[data-agenda-id]");
    if (!row) {
      return;
    }
    var empty = this.tbody.querySelector("tr.empty");
    if (empty) {
      empty.remove();
    }
    this.tbody.insertBefore(row, this.tbody.firstChild);
    copyButton(row.querySelector("button[data-copy]"));
    var size = Number(this.count.dataset.pageSize || 50);
    var rows = this.tbody.querySelectorAll("tr[data-agenda-id]");
    if (rows.length > size) {
      rows[rows.length - 1].remove();  // the page keeps its size: the last row moves on
    }
    var total = Number(this.count.dataset.total || 0) + 1;
    var pages = Math.max(1, Math.ceil(total / size));
    this.count.dataset.total = String(total);
    this.count.textContent = total + " agenda" + (total === 1 ? "" : "s") + ", page 1 of " + pages;
    var nav = document.querySelector("nav.pages");
    if (pages > 1 && nav && !nav.querySelector('a[rel="next"]')) {
      var params = pageFilters();
      params.set("page", "2");
      var next = document.createElement("a");
      next.href = "/agendas?" + params.toString();
      next.rel = "next";
      next.textContent = "Next page";
      nav.appendChild(next);
    }
  };

  function listen() {
    var tbody = document.querySelector("table.agendas tbody");
    var count = document.getElementById("count");
    if (!tbody || !count) {
      return;
    }
    var appearing = count.dataset.page === "1" ? new Appearing(tbody, count) : null;
    // one EventSource on every agenda the session may see (popLive above)
    window.popLive("/pop/events", function (progress) {
      var row = rowOf(progress.agendaId || progress.id || "");
      if (row) {
        setRow(row, progress);
      } else if (appearing) {
        appearing.offer(progress);
      }
    });
  }

  function copyButton(button) {
    if (!button) {
      return;
    }
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
  }

  document.addEventListener("DOMContentLoaded", function () {
    listen();
    document.querySelectorAll("button[data-copy]").forEach(copyButton);
  });
})();
