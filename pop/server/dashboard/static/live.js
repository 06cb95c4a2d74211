// pop dashboard: follow GET /pop/events (Server-Sent Events) and show the stream's state in the
// page's #live line. popLive(url, onProgress, onOpen) is shared by the agendas, agenda and link
// pages; onOpen (optional) runs each time the stream opens (again). The project's own script.
"use strict";

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
