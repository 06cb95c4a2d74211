// pop dashboard: log viewers. Each [data-logview] element (data-agenda-id, data-operation)
// follows its op's log with GET /pop/agenda/{id}/logs?operation=OP&follow=true (text/plain,
// streamed until the op's attempt ends) and appends what arrives as text (never as HTML). It
// stays scrolled to the bottom unless the reader scrolled up. window.popLogview.init(root)
// starts the viewers added later; the project's own script: no framework, no CDN.
"use strict";

(function () {
  if (window.popLogview) {
    return; // the partial was included more than once: one copy of the script runs
  }

  function setStatus(viewer, state, text) {
    var status = viewer.querySelector(".logview-status");
    if (status) {
      status.dataset.state = state;
      status.textContent = text;
    }
    viewer.dataset.state = state;
  }

  function atBottom(pre) {
    return pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8;
  }

  function append(pre, text) {
    if (!text) {
      return;
    }
    var follow = atBottom(pre);
    pre.appendChild(document.createTextNode(text));
    if (follow) {
      pre.scrollTop = pre.scrollHeight;
    }
  }

  function problem(answer) {
    return answer.json().then(
      function (body) {
        var error = (body && body.errorResponse) || {};
        return error.description || answer.statusText || String(answer.status);
      },
      function () {
        return answer.statusText || String(answer.status);
      }
    );
  }

  function start(viewer) {
    var pre = viewer.querySelector("pre");
    var agenda = viewer.dataset.agendaId;
    var operation = viewer.dataset.operation;
    if (!pre || !agenda || !operation || viewer.dataset.state === "following") {
      return;
    }
    var url = "/pop/agenda/" + encodeURIComponent(agenda) + "/logs?operation=" +
      encodeURIComponent(operation) + "&follow=true";
    var decoder = new TextDecoder("utf-8");
    pre.textContent = "";
    setStatus(viewer, "following", "Following…");
    fetch(url, {credentials: "same-origin", headers: {Accept: "text/plain"}})
      .then(function (answer) {
        if (!answer.ok) {
          return problem(answer).then(function (reason) {
            setStatus(viewer, "failed", "Could not read the log: " + reason);
          });
        }
        if (!answer.body || !answer.body.getReader) {
          return answer.text().then(function (text) {
            append(pre, text);
            setStatus(viewer, "ended", "Ended");
          });
        }
        var reader = answer.body.getReader();
        function next() {
          return reader.read().then(function (part) {
            if (!viewer.isConnected) {
              reader.cancel(); // the viewer left the page (its panel was replaced): stop reading
              return undefined;
            }
            if (part.done) {
              append(pre, decoder.decode());
              setStatus(viewer, "ended", pre.textContent ? "Ended" : "Ended: nothing logged");
              return undefined;
            }
            append(pre, decoder.decode(part.value, {stream: true}));
            return next();
          });
        }
        return next();
      })
      .catch(function (error) {
        setStatus(viewer, "failed", "The log stream broke: " + error.message);
      });
  }

  function init(root) {
    var viewers = (root || document).querySelectorAll("[data-logview]");
    for (var i = 0; i < viewers.length; i += 1) {
      if (!viewers[i].dataset.state) {
        start(viewers[i]);
      }
    }
  }

  window.popLogview = {init: init, start: start};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
