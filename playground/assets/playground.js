// The playground's script: it loads the simulator (idemsim.wasm.gz,
// WebAssembly compiled from idemsim's Go packages by `idemsim site`),
// fills the form from its choices, and runs what the form or the URL
// names. It computes nothing about a run: the verdict, the trace hash, the
// reproduce line and the story's document all come from the simulator
// (package playground); the story is drawn by the story page's own script
// (idemsimStory.render).
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var form = $("pg-form"), status = $("pg-status");
  var buttons = [$("pg-run"), $("pg-shrink"), $("pg-sweep")];
  var choices = null, story = null, last = null;
  // shownForm is the form's query when the result on screen was shown.
  var shownForm = null;

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("pg-error", !!isError);
  }
  function busy(on) { buttons.forEach(function (b) { b.disabled = on; }); }
  // count says n of a thing, pluralised by n: "1 duplicate", "2 duplicates".
  function count(n, one, many) { return n + " " + (n === 1 ? one : many); }

  // The simulator: Go's wasm_exec.js runs it; it sets window.idemsim.
  async function load() {
    var go = new Go();
    var resp = await fetch("idemsim.wasm.gz");
    if (!resp.ok) throw new Error("idemsim.wasm.gz: " + resp.status + " " + resp.statusText);
    // Served compressed, as a plain file: unpack it here.
    var bytes = await new Response(resp.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
    var ready = new Promise(function (r) { window.addEventListener("idemsim-ready", r, { once: true }); });
    var inst = await WebAssembly.instantiate(bytes, go.importObject);
    go.run(inst.instance);
    await ready;
  }

  function fillForm() {
    choices = JSON.parse(idemsim.choices());
    var broker = $("pg-broker");
    choices.brokers.forEach(function (b) { broker.appendChild(new Option(b, b)); });
    var box = $("pg-faults");
    // Each fault with what it does, in words beside its name and as its
    // title, as the strategy select has its summary.
    var sums = choices.fault_summaries || {};
    choices.faults.forEach(function (f) {
      var id = "pg-fault-" + f;
      var l = document.createElement("label");
      l.className = "pg-fault";
      var c = document.createElement("input");
      c.type = "checkbox"; c.id = id; c.value = f; c.name = "fault";
      var name = document.createElement("strong");
      name.textContent = f;
      l.appendChild(c); l.appendChild(document.createTextNode(" ")); l.appendChild(name);
      if (sums[f]) {
        l.title = f + ": " + sums[f];
        var d = document.createElement("span");
        d.className = "pg-fault-hint";
        d.id = id + "-what";
        d.textContent = ": " + sums[f];
        c.setAttribute("aria-describedby", d.id);
        l.appendChild(d);
      }
      box.appendChild(l);
    });
    $("pg-fault-redeliver").checked = true;
    fillStrategies("local-cache");
    broker.addEventListener("change", function () { fillStrategies($("pg-strategy").value); });
    $("pg-strategy").addEventListener("change", showSummary);
    // Any change of the form makes a result on screen one of another run.
    form.addEventListener("change", markStale);
    form.addEventListener("input", markStale);
    showFaults();
  }

  // checkedFaults are the faults checked in the form.
  function checkedFaults() {
    return Array.prototype.filter.call(document.querySelectorAll("input[name=fault]"), function (c) { return c.checked; })
      .map(function (c) { return c.value; });
  }

  // showFaults says in the faults' legend what is checked now.
  function showFaults() {
    var fs = checkedFaults();
    $("pg-faults-now").textContent = fs.length ? fs.join(", ") : "none checked (no injected fault)";
  }

  // markStale marks the result and story on screen as another run's once
  // the form no longer names it: the verdict of local-cache must not stand
  // beside a form that says db-unique.
  function markStale() {
    showFaults();
    if (!last) return;
    var stale = query() !== shownForm;
    var note = $("pg-stale");
    note.hidden = !stale;
    note.textContent = stale ? "This result is for the run before your change (" + last.flags.strategy + " under " + last.flags.faults +
      ", seed " + last.flags.seed + "); press Run to run what the form says now." : "";
    $("pg-result").classList.toggle("pg-stale", stale);
    $("pg-story").classList.toggle("pg-stale", stale);
    $("pg-story").setAttribute("aria-hidden", stale ? "true" : "false");
  }

  // fillStrategies offers the strategies that run on the broker chosen.
  // The others are named beside it, with the broker that runs them.
  function fillStrategies(keep) {
    var sel = $("pg-strategy"), broker = $("pg-broker").value;
    sel.textContent = "";
    var elsewhere = [];
    choices.strategies.forEach(function (s) {
      if (s.brokers.indexOf(broker) >= 0) sel.appendChild(new Option(s.name, s.name));
      else elsewhere.push(s.name + " (" + s.brokers.join(", ") + ")");
    });
    $("pg-strategy-note").textContent = elsewhere.length ? "Not on the " + broker + " broker, so not listed: " + elsewhere.join(", ") +
      "; choose that broker below to run them." : "";
    if (keep && Array.prototype.some.call(sel.options, function (o) { return o.value === keep; })) sel.value = keep;
    showSummary();
  }
  function showSummary() {
    var name = $("pg-strategy").value;
    var s = choices.strategies.filter(function (x) { return x.name === name; })[0];
    $("pg-summary").textContent = s ? s.summary : "";
  }

  // query is the form's run as the URL carries it.
  function query() {
    var fs = checkedFaults();
    var p = new URLSearchParams();
    p.set("strategy", $("pg-strategy").value);
    p.set("faults", fs.length ? fs.join(",") : choices.none_name);
    p.set("seed", $("pg-seed").value);
    p.set("instances", $("pg-instances").value);
    p.set("events", $("pg-events").value);
    p.set("broker", $("pg-broker").value);
    return p.toString().replace(/%2C/g, ",");
  }

  // setForm sets the form from flags (an outcome's, or the URL's).
  function setForm(f) {
    if (f.broker) { $("pg-broker").value = f.broker; fillStrategies(f.strategy); }
    if (f.strategy) $("pg-strategy").value = f.strategy;
    showSummary();
    if (f.faults) {
      var want = String(f.faults).split(",");
      document.querySelectorAll("input[name=fault]").forEach(function (c) {
        c.checked = want.indexOf(c.value) >= 0 || want.indexOf("all") >= 0;
      });
      showFaults();
    }
    ["seed", "instances", "events"].forEach(function (k) { if (f[k] !== undefined && f[k] !== null && f[k] !== "") $("pg-" + k).value = f[k]; });
  }

  // show shows an outcome: the verdict, the trace hash, the reproduce
  // line and the replay link; the story is drawn by drawStory.
  function show(out, ms, what) {
    last = out;
    $("pg-result").hidden = false;
    $("pg-verdict").textContent = "exactly-once " + out.exactly_once + (out.verdict !== "ok" ? " (" + out.verdict + ")" : "");
    $("pg-counts").textContent = count(out.duplicates, "duplicate", "duplicates") + ", " + out.lost + " lost, " + out.stuck + " stuck" + (out.dead ? ", " + out.dead + " dead-lettered" : "");
    $("pg-checkers").textContent = "porcupine: " + out.porcupine + "; audit: " + out.audit;
    $("pg-hash").textContent = out.trace_hash;
    $("pg-reproduce").textContent = out.reproduce;
    var link = $("pg-link");
    link.href = out.link;
    link.textContent = out.link;
    $("pg-time").textContent = what + " in " + ms.toFixed(1) + " ms";
    $("pg-shrunk").hidden = !out.shrunk;
    $("pg-shrunk").textContent = out.shrunk || "";
    if (story) story.destroy();
    story = null;
    $("pg-story").textContent = "";
    shownForm = query();
    markStale();
  }

  function drawStory(doc) {
    if (doc) story = window.idemsimStory.render($("pg-story"), doc);
  }

  // done ends a call: the buttons back, Shrink only for a failure.
  function done(out, op, ms) {
    busy(false);
    $("pg-shrink").disabled = out.exactly_once !== "VIOLATED";
    say("Done: exactly-once " + out.exactly_once + ". Trace hash " + out.trace_hash + ". Step through the story below with the buttons or the arrow keys.");
    window.playgroundLast = { op: op, ms: ms, outcome: out };
  }

  var generation = 0;

  // call runs op on q after the page has drawn the status line. A run
  // shows its verdict first, then tells its story (which replays the run
  // with its trace kept and tells the fix beside it).
  function call(op, q, what) {
    var gen = ++generation;
    busy(true);
    say(what + "…");
    setTimeout(function () {
      var t0 = performance.now();
      var out = JSON.parse(idemsim[op](q));
      var ms = performance.now() - t0;
      if (out.error) {
        busy(false);
        $("pg-shrink").disabled = true;
        say("Cannot run it: " + out.error, true);
        return;
      }
      if (op === "shrink") {
        setForm(out.flags);
        history.pushState(null, "", out.link);
      }
      show(out, ms, what);
      if (op !== "run") {
        drawStory(out.story);
        done(out, op, ms);
        return;
      }
      say("Exactly-once " + out.exactly_once + ". Telling the story of the run…");
      setTimeout(function () {
        if (gen !== generation) return;
        var t1 = performance.now();
        var told = JSON.parse(idemsim.run(q + "&story=1"));
        var sms = performance.now() - t1;
        if (told.story) {
          drawStory(told.story);
          $("pg-time").textContent += "; its story told in " + sms.toFixed(1) + " ms";
        }
        done(out, op, ms);
      }, 20);
    }, 20);
  }

  function runForm(e) {
    if (e) e.preventDefault();
    var q = query();
    history.pushState(null, "", "playground.html?" + q);
    call("run", q, "Ran the run");
  }

  function shrink() {
    if (!last) return;
    call("shrink", last.link.replace(/^[^?]*\?/, ""), "Shrank the run (as idemsim explain does) and told its story");
  }

  async function sweep() {
    var q = query();
    busy(true);
    var t0 = performance.now();
    $("pg-sweep-result").hidden = false;
    $("pg-sweep-text").textContent = "Running seeds 1..200…";
    var out = JSON.parse(await idemsim.sweep(q + "&seeds=200", function (done, total) {
      $("pg-sweep-text").textContent = "Running seeds 1..200: " + done + " of " + total + " done…";
    }));
    var ms = performance.now() - t0;
    busy(false);
    if (out.error) { $("pg-sweep-text").textContent = "Cannot sweep: " + out.error; return; }
    var text = out.strategy + " under " + out.scenario + ": " + out.violating_runs + " of " + out.runs + " seeds break exactly-once (" +
      count(out.duplicates, "duplicate", "duplicates") + ", " + out.lost + " lost, " + out.stuck + " stuck)";
    text += out.first_failing_seed !== null ? "; the first failing seed is " + out.first_failing_seed + "." : "; none fails.";
    text += " " + out.runs + " runs in " + (ms / 1000).toFixed(2) + " s in this browser.";
    $("pg-sweep-text").textContent = text;
    say("Sweep done: " + out.violating_runs + " of " + out.runs + " seeds fail.");
    window.playgroundSweep = { ms: ms, cell: out };
    if (out.first_failing_seed !== null) {
      var a = document.createElement("a");
      a.href = "playground.html?" + q.replace(/seed=\d+/, "seed=" + out.first_failing_seed);
      a.textContent = "Open the first failing seed";
      a.addEventListener("click", function (e) { e.preventDefault(); fromURL(a.href); });
      $("pg-sweep-text").appendChild(document.createTextNode(" "));
      $("pg-sweep-text").appendChild(a);
    }
  }

  // fromURL runs the run a playground link names, at once.
  function fromURL(href) {
    var u = new URL(href, location.href);
    if (!u.searchParams.get("strategy")) return false;
    var f = {};
    u.searchParams.forEach(function (v, k) { f[k] = v; });
    setForm(f);
    var q = u.search.replace(/^\?/, "");
    if (u.href !== location.href) history.pushState(null, "", u.href);
    call("run", q, "Ran the run");
    return true;
  }

  form.addEventListener("submit", runForm);
  $("pg-shrink").addEventListener("click", shrink);
  $("pg-sweep").addEventListener("click", sweep);
  $("pg-link").addEventListener("click", function (e) { e.preventDefault(); fromURL(this.href); });
  window.addEventListener("popstate", function () { fromURL(location.href); });

  load().then(function () {
    fillForm();
    busy(false);
    $("pg-shrink").disabled = true;
    say("The simulator is ready. Choose a run and press Run.");
    fromURL(location.href);
  }).catch(function (err) {
    say("The simulator could not start: " + err.message + ". Serve the site over http (python3 -m http.server), not from file://.", true);
  });
})();
