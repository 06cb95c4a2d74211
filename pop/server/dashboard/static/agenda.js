// pop dashboard, the agenda page: follows the agenda over GET /pop/events?agendaId=ID
// (Server-Sent Events) and updates in place, without a reload, each op's box in the DAG
// picture (class "op state-...", data-state, its state line), its row in the ops list, the op
// panel's state and the header's state and percent. When an op ends, the parts of the page
// marked data-refresh (the timeline; the op panel's details when it is the selected op; the
// cause of a failure when the agenda ends) are read again from the page's own URL; when the
// selected op runs again its log viewer (logview.js) follows the new attempt. Clicking a box
// selects its op (?op=NAME), as the links of the list do.
// The project's own script: no framework, no CDN.
"use strict";

(function () {
  var page = document.getElementById("agenda");
  if (!page) {
    return;
  }
  var agendaId = page.dataset.agendaId;

  // the state a box shows, as pop.graph.layout.state_of computes it
  function shownState(op) {
    var state = op.processingState;
    if (state === "EXECUTING") {
      return "running";
    }
    if (state === "COMPLETE") {
      var message = (op.processingStateMessage || "").toLowerCase();
      return message === "succeeded" ? "succeeded" : "failed";
    }
    return "waiting";
  }

  function percentText(percent) {
    return percent === null || percent === undefined ? "" : Math.round(Number(percent)) + "%";
  }

  function setText(element, text) {
    if (element && element.textContent !== text) {
      element.textContent = text;
    }
  }

  function setBox(box, state, percent) {
    var wanted = "op state-" + state.replace(/ /g, "-");
    if (box.getAttribute("class") !== wanted) {
      box.setAttribute("class", wanted);
    }
    if (box.getAttribute("data-state") !== state) {
      box.setAttribute("data-state", state);
    }
    var shown = percentText(percent);
    setText(box.querySelector("text.state"), shown ? state + " " + shown : state);
    nameBox(box);
  }

  // a box's accessible name: "Operation scale, sample: failed 0%" (its texts, kept current)
  function nameBox(box) {
    var texts = Array.prototype.map.call(box.querySelectorAll("text"), function (text) {
      return text.textContent;
    });
    var name = "Operation " + texts[0] + (texts[1] ? ", " + texts[1] : "") +
      (texts[2] ? ": " + texts[2] : "");
    if (box.getAttribute("aria-label") !== name) {
      box.setAttribute("aria-label", name);
    }
  }

  function setOpState(holder, state, percent) {
    if (!holder) {
      return;
    }
    var cell = holder.querySelector('[data-field="state"]');
    if (cell) {
      setText(cell, state);
      var wanted = "op-state op-state-" + state.replace(/ /g, "-");
      if (cell.className !== wanted) {
        cell.className = wanted;
      }
    }
    setText(holder.querySelector('[data-field="percent"]'), percentText(percent));
  }

  // "2026-12-01 22:14:55Z", as pages.iso renders a store time
  function isoTime(ms) {
    return new Date(ms).toISOString().slice(0, 19).replace("T", " ") + "Z";
  }

  // "4:05" or "1:02:03", as pages.duration renders how long an agenda ran
  function elapsedText(seconds) {
    var whole = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(whole / 3600);
    var minutes = Math.floor((whole % 3600) / 60);
    var secs = String(whole % 60).padStart(2, "0");
    return hours ? hours + ":" + String(minutes).padStart(2, "0") + ":" + secs : minutes + ":" + secs;
  }

  function setHeader(progress) {
    var facts = document.getElementById("head");
    var state = progress.processingState || "";
    var finished = state === "COMPLETE";
    var failed = finished && (progress.processingStateMessage || "").toLowerCase() !== "succeeded";
    var cell = facts.querySelector('[data-field="state"]');
    setText(cell, state);
    var wanted = "state state-" + (failed ? "failed" : state.toLowerCase());
    if (cell.className !== wanted) {
      cell.className = wanted;
    }
    setText(facts.querySelector('[data-field="message"]'), progress.processingStateMessage || "");
    var percent = Math.round(Number(progress.percentComplete || 0));
    var bar = facts.querySelector('[data-field="bar"]');
    if (bar.value !== percent) {
      bar.value = percent;
      bar.textContent = percent + "%";
    }
    setText(facts.querySelector('[data-field="percent"]'), percent + "%");
    // when it started and how long it ran (to now while it runs), as the server renders them
    var started = Number(progress.startedTime || 0);
    if (started) {
      var ended = Number(progress.completedTime || 0) || Date.now();
      setText(facts.querySelector('[data-field="started"]'), isoTime(started));
      setText(facts.querySelector('[data-field="elapsed"]'), elapsedText((ended - started) / 1000));
    }
    page.querySelectorAll("form[data-when]").forEach(function (form) {
      form.hidden = form.dataset.when === "unfinished" ? finished : !failed;
    });
  }

  var last = {}; // op name -> the state the last event showed
  var lastAttempts = {}; // op name -> its attempt count in the last event

  function isEnd(state) {
    return state === "succeeded" || state === "failed";
  }

  var agendaComplete = null; // null until the first event
  var refreshing = null; // the reasons of the read under way, and those that came meanwhile
  var waiting = {};

  // read the page again and replace the parts whose data-refresh names one of the reasons:
  // "any" (an op ended: the timeline), "op" (the selected op ended: its panel, so a video the
  // reader plays is not replaced when another op ends), "agenda" (it ended: why it failed)
  function refresh(reasons) {
    Object.keys(reasons).forEach(function (reason) {
      waiting[reason] = true;
    });
    if (refreshing) {
      return;
    }
    refreshing = waiting;
    waiting = {};
    var now = refreshing;
    fetch(window.location.pathname + window.location.search, { credentials: "same-origin" })
      .then(function (answer) {
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-refresh][id]").forEach(function (part) {
            var other = fresh.getElementById(part.id);
            if (other && now[part.dataset.refresh]) {
              part.innerHTML = other.innerHTML;
              part.hidden = other.hidden;
            }
          });
        }
      })
      .catch(function () {
        return null; // the server went away: the page keeps what it shows
      })
      .then(function () {
        refreshing = null;
        if (Object.keys(waiting).length) {
          refresh({});
        }
      });
  }

  function followLogAgain() {
    var viewer = document.querySelector("#op-panel [data-logview]");
    if (viewer && window.popLogview && viewer.dataset.state !== "following") {
      window.popLogview.start(viewer);
    }
  }

  function apply(progress) {
    setHeader(progress);
    var reasons = {};
    (progress.operationProgress || []).forEach(function (op) {
      var name = op.operation || "";
      var state = shownState(op);
      var percent = op.percentComplete;
      var box = document.querySelector('svg.pop-dag g.op[data-op="' + CSS.escape(name) + '"]');
      if (box) {
        setBox(box, state, percent);
      }
      var row = page.querySelector('table.ops tr[data-op="' + CSS.escape(name) + '"]');
      setOpState(row, state, percent);
      if (row) {
        setText(row.querySelector('[data-field="attempts"]'), String(op.attemptCount || 0));
      }
      if (page.dataset.selected === name) {
        setOpState(document.getElementById("op-summary"), state, percent);
      }
      var before = last[name]; // undefined on the first event
      var attempts = op.attemptCount || 0;
      // a new attempt that started and ended between two events (a rerun of a failed op that
      // failed again at once) shows the same state as before: its attempt count tells
      var again = before !== undefined && attempts !== lastAttempts[name];
      if (before !== undefined && isEnd(state) && (!isEnd(before) || again)) {
        reasons.any = true;
        if (page.dataset.selected === name) {
          reasons.op = true;
        }
      }
      var began = state === "running" && (before !== "running" || again);
      var finished = isEnd(state) && (!isEnd(before) || again);
      if (before !== undefined && (began || finished) && page.dataset.selected === name) {
        // the selected op runs again (a rerun), or ran and ended between two events: its log
        // viewer, if it stopped with an earlier attempt, reads the new attempt's log
        followLogAgain();
      }
      last[name] = state;
      lastAttempts[name] = attempts;
    });
    var complete = progress.processingState === "COMPLETE";
    if (complete && agendaComplete === false) {
      reasons.agenda = true;
    }
    if (Object.keys(reasons).length) {
      refresh(reasons);
    }
    agendaComplete = complete;
  }

  function listen() {
    window.popLive("/pop/events?agendaId=" + encodeURIComponent(agendaId), apply);
  }

  // a click on a box, or Enter or Space on it (each box is a link in the Tab order), selects
  // its op, as the link of its row in the list does; the picture is then a group of links,
  // not an image
  function clickableBoxes() {
    var picture = document.querySelector("svg.pop-dag");
    if (picture) {
      picture.setAttribute("role", "group");
    }
    document.querySelectorAll("svg.pop-dag g.op[data-op]").forEach(function (box) {
      function select() {
        var name = box.getAttribute("data-op");
        window.location.href = "/agendas/" + encodeURIComponent(agendaId) + "?op=" +
          encodeURIComponent(name) + "#op-panel";
      }
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "link");
      nameBox(box);
      box.addEventListener("click", select);
      box.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          select();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    clickableBoxes();
    listen();
  });
})();
