// The harness web view's only script: a running run's page polls its live
// JSON endpoint and refreshes the status, the latest values and the
// figures (re-rendered by the server) when a point is added.
(function () {
  'use strict';

  function fmt(v) {
    return (typeof v === 'number' && isFinite(v)) ? v.toFixed(4) : '\u2013';
  }

  function updateLast(points) {
    var table = document.getElementById('last');
    if (!table) { return; }
    var body = table.tBodies[0];
    points.forEach(function (p) {
      var row = null;
      for (var i = 0; i < body.rows.length; i++) {
        if (body.rows[i].getAttribute('data-metric') === p.name) { row = body.rows[i]; }
      }
      if (!row) {
        var empty = body.querySelector('td.empty');
        if (empty) { body.removeChild(empty.parentNode); }
        row = body.insertRow(-1);
        row.setAttribute('data-metric', p.name);
        row.insertCell(-1).textContent = p.name;
        row.insertCell(-1).className = 'num step';
        row.insertCell(-1).className = 'num value';
      }
      row.querySelector('.step').textContent = String(p.step);
      row.querySelector('.value').textContent = fmt(p.value);
    });
  }

  function startLive(live) {
    var url = live.getAttribute('data-url');
    var interval = parseInt(live.getAttribute('data-interval'), 10) || 3000;
    var version = live.getAttribute('data-version');
    var failures = 0;
    var msg = document.getElementById('live-msg');

    function schedule() { window.setTimeout(poll, interval * Math.min(1 + failures, 10)); }

    function apply(d) {
      var status = document.getElementById('status');
      if (status) {
        status.textContent = d.status;
        status.className = 'st st-' + d.status;
      }
      var hb = document.getElementById('heartbeat');
      if (hb) { hb.textContent = d.heartbeat_ago; }
      if (d.version !== version) {
        version = d.version;
        updateLast(d.last || []);
        var figs = document.querySelectorAll('img.live-fig');
        for (var i = 0; i < figs.length; i++) {
          figs[i].src = figs[i].getAttribute('data-base') + '&v=' + encodeURIComponent(version);
        }
        live.setAttribute('data-version', version);
      }
      if (msg) { msg.textContent = 'Last checked ' + new Date().toLocaleTimeString() + '.'; }
    }

    function poll() {
      fetch(url, { cache: 'no-store', credentials: 'same-origin' })
        .then(function (r) {
          return r.json().then(function (d) {
            if (!r.ok) { throw new Error(d && d.error ? d.error : 'HTTP ' + r.status); }
            return d;
          });
        })
        .then(function (d) {
          failures = 0;
          apply(d);
          if (d.status === 'running') {
            schedule();
          } else {
            live.setAttribute('data-state', 'stopped');
            if (msg) { msg.textContent = 'The run is ' + d.status + '; updates stopped.'; }
          }
        })
        .catch(function (e) {
          failures++;
          if (msg) { msg.textContent = 'Update failed (' + e.message + '); retrying.'; }
          schedule();
        });
    }

    poll();
  }

  function init() {
    var live = document.getElementById('live');
    if (live) { startLive(live); }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
