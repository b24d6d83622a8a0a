// Ironpost web console: local times, TTL countdowns, the live alert stream. No framework, no
// inline script (the Content-Security-Policy forbids it); the pages work without this file,
// only times stay in UTC and the alert list is not live.
"use strict";

(function () {
  var fmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });

  function utcTitle(d) {
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  // <time datetime="…Z" title="… UTC">: the text in the viewer's zone, UTC stays on hover.
  function localTimes(root) {
    var ts = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < ts.length; i++) {
      var d = new Date(ts[i].getAttribute("datetime"));
      if (!isNaN(d.getTime())) { ts[i].textContent = fmt.format(d); }
    }
  }

  function timeEl(iso) {
    var d = new Date(iso);
    var t = document.createElement("time");
    t.setAttribute("datetime", iso);
    t.title = isNaN(d.getTime()) ? iso : utcTitle(d);
    t.textContent = isNaN(d.getTime()) ? iso : fmt.format(d);
    return t;
  }

  function ttlText(ms) {
    if (ms <= 0) { return "expired"; }
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
  }

  function countdowns() {
    var els = document.querySelectorAll(".ttl[data-expires]");
    var now = Date.now();
    for (var i = 0; i < els.length; i++) {
      var end = Date.parse(els[i].getAttribute("data-expires"));
      if (!isNaN(end)) { els[i].textContent = ttlText(end - now); }
    }
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    if (text instanceof Node) { td.appendChild(text); } else { td.textContent = text || ""; }
    tr.appendChild(td);
    return td;
  }

  // The live list: one row per `alert` event, newest first, at most MAX_ROWS rows kept.
  var MAX_ROWS = 500;
  function live(tbody) {
    var state = document.getElementById("live-state");
    var count = document.getElementById("live-count");
    var n = 0;
    var es = new EventSource(tbody.getAttribute("data-live"));
    es.onopen = function () { if (state) { state.textContent = "Live: connected"; } };
    es.onerror = function () { if (state) { state.textContent = "Live: reconnecting…"; } };
    es.addEventListener("alert", function (ev) {
      var a;
      try { a = JSON.parse(ev.data); } catch (e) { return; }
      var tr = document.createElement("tr");
      tr.setAttribute("data-id", a.id);
      // When this browser got it (ms since the epoch): how long the push took, for the tests.
      tr.setAttribute("data-received", String(Date.now()));
      tr.className = "new";
      cell(tr, timeEl(a.time));
      if (tbody.getAttribute("data-node")) {
        // Fleet central: the node the alert comes from, a link that filters by it.
        var nodeLink = document.createElement("a");
        nodeLink.href = "/alerts?node=" + encodeURIComponent(a.node || "");
        nodeLink.textContent = a.node || "";
        cell(tr, nodeLink, "node");
      }
      cell(tr, a.severity, "sev-" + a.severity);
      cell(tr, a.rule);
      var link = document.createElement("a");
      link.href = "/alerts/" + encodeURIComponent(a.id);
      link.textContent = a.title;
      cell(tr, link);
      cell(tr, a.src);
      cell(tr, a.container);
      cell(tr, a.evidence);
      tbody.insertBefore(tr, tbody.firstChild);
      while (tbody.rows.length > MAX_ROWS) { tbody.deleteRow(tbody.rows.length - 1); }
      var none = document.getElementById("no-alerts");
      if (none) { none.remove(); }
      n += 1;
      if (count) { count.textContent = String(n); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    countdowns();
    if (document.querySelector(".ttl[data-expires]")) { setInterval(countdowns, 1000); }
    var tbody = document.getElementById("alert-rows");
    if (tbody && tbody.getAttribute("data-live") && window.EventSource) { live(tbody); }
  });
})();
