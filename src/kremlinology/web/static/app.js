// Kremlinology explorer: written for this project, no third-party JavaScript.
"use strict";

(function () {
  // Picking a catalogue entry fills the question box; changing the scenario reloads its catalogue.
  document.querySelectorAll("select[data-fills]").forEach(function (select) {
    select.addEventListener("change", function () {
      var target = document.getElementById(select.getAttribute("data-fills"));
      if (target && select.value) { target.value = select.value; }
    });
  });
  document.querySelectorAll("select[data-reload-on-change]").forEach(function (select) {
    select.addEventListener("change", function () {
      var url = new URL(window.location.href);
      url.search = "";
      url.searchParams.set("scenario", select.value);
      window.location.assign(url.toString());
    });
  });
  var q = document.getElementById("q");
  var pick = document.querySelector("select[data-fills]");
  if (q && pick) {
    q.addEventListener("input", function () {
      if (pick.value && q.value !== pick.value) { pick.value = ""; }
    });
  }
  document.querySelectorAll("input[data-only-differences]").forEach(function (box) {
    box.addEventListener("change", function () {
      var story = box.closest("[data-story]");
      if (story) { story.classList.toggle("only-diff", box.checked); }
    });
  });
  var share = document.getElementById("share");
  if (share) { share.addEventListener("focus", function () { share.select(); }); }

  // A job under way: poll its status, show its progress, and show the result when it is done.
  var box = document.getElementById("progress");
  if (!box) { return; }
  var job = box.getAttribute("data-job");
  var fill = box.querySelector(".fill");
  var meter = box.querySelector(".meter");
  var stage = box.querySelector("[data-stage]");
  var position = box.querySelector("[data-position]");
  var elapsed = box.querySelector("[data-elapsed]");
  var error = box.querySelector("[data-error]");
  var failures = 0;

  function show(status) {
    var percent = Math.round(status.progress * 1000) / 10;
    fill.style.width = percent + "%";
    meter.setAttribute("aria-valuenow", String(Math.round(percent)));
    meter.classList.toggle("indeterminate", status.state === "running" && !status.estimated);
    stage.textContent = status.stage;
    position.textContent = status.position ? "(" + status.position + " ahead in line)" : "";
    elapsed.textContent = status.state === "running" ? "· " + status.elapsed_s.toFixed(1) + " s" : "";
  }

  function poll() {
    fetch("/api/jobs/" + encodeURIComponent(job), { headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 404) {
          window.location.reload();
          return null;
        }
        return response.json();
      })
      .then(function (status) {
        if (!status) { return; }
        failures = 0;
        show(status);
        if (status.state === "done") {
          fill.style.width = "100%";
          window.location.reload();
        } else if (status.state === "failed") {
          box.querySelector("h2").textContent = "That did not work";
          error.textContent = status.error;
          error.hidden = false;
        } else {
          window.setTimeout(poll, 400);
        }
      })
      .catch(function () {
        failures += 1;
        window.setTimeout(poll, Math.min(5000, 400 * Math.pow(2, failures)));
      });
  }
  window.setTimeout(poll, 250);
})();
