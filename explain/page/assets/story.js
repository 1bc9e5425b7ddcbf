// The story page's script: it draws one story document (the JSON of
// package page's Doc) and moves through its steps. It computes nothing
// about the run: every state, mark and word comes from the document,
// which Go derived from the run's facts. Only what changed between two
// steps is found here, by comparing the two states the document gives.
//
// idemsimStory.render(container, doc) draws a document into a container;
// a playground can call it with a document of its own.
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    setAll(e, attrs, children);
    return e;
  }
  function sv(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAll(e, attrs, children);
    return e;
  }
  function setAll(e, attrs, children) {
    for (var k in attrs || {}) {
      if (attrs[k] === null || attrs[k] === undefined) continue;
      if (k === "text") e.textContent = attrs[k];
      else if (k === "class") e.setAttribute("class", attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
  }

  function idSet(ids) { return "{" + (ids || []).join(",") + "}"; }
  function others(n) { return n ? " (+" + n + " other" + (n === 1 ? "" : "s") + ")" : ""; }
  function timesWord(n) {
    return n === 0 ? "not applied" : n === 1 ? "applied once" : n === 2 ? "applied twice" : "applied " + n + " times";
  }

  // where says where a message is, in words.
  function where(m) {
    switch (m.where) {
      case "queued": return "in the queue, waiting for a delivery";
      case "delivered": return "delivered to instance " + m.inst + ", not acked yet";
      case "lost": return "lost on its way to instance " + m.inst;
      case "acked": return "acked by instance " + m.inst + ": done";
      case "dead-lettered": return "dead-lettered: never delivered again";
    }
    return m.where;
  }

  // groups lists the parts of a state as groups of cells, each cell with a
  // stable key (so that two states can be compared), a label and a value.
  function groups(s) {
    var out = [];
    var inst = { title: "Instances", cols: ["instance", "status", "handling"], rows: [] };
    if (s.memories) inst.cols.push(s.memories.replace(/ies$/, "y").replace(/s$/, ""));
    (s.instances || []).forEach(function (i) {
      var row = [
        { key: "i" + i.inst + ".status", value: i.status },
        { key: "i" + i.inst + ".handling", value: i.handling ? "m" + i.handling.msg + " (event " + i.handling.event + "), since " + i.handling.since : (i.status === "up" ? "idle" : "-") }
      ];
      if (s.memories) row.push({ key: "i" + i.inst + ".memory", value: i.status === "up" ? idSet(i.memory) : "gone (" + i.status + ")" });
      inst.rows.push({ head: "instance " + i.inst, cells: row });
    });
    out.push(inst);
    if (s.queue) {
      var q = { title: "Broker's queue", cols: ["message", "where it is", "deliveries"], rows: [] };
      s.queue.forEach(function (m) {
        q.rows.push({ head: "m" + m.msg + " (event " + m.event + ")", cells: [
          { key: "q.m" + m.msg + ".where", value: where(m) },
          { key: "q.m" + m.msg + ".deliveries", value: String(m.deliveries) }] });
      });
      if (!s.queue.length) q.empty = "no message of these events published yet";
      out.push(q);
    }
    if (s.partitions) {
      var p = { title: "Log's partitions", cols: ["partition", "owner", "committed offset", "records (offset: message)"], rows: [] };
      s.partitions.forEach(function (pt) {
        p.rows.push({ head: "partition " + pt.part, cells: [
          { key: "p" + pt.part + ".owner", value: pt.owner < 0 ? "none" : "instance " + pt.owner + " (generation " + pt.gen + ")" },
          { key: "p" + pt.part + ".committed", value: String(pt.committed) },
          { key: "p" + pt.part + ".records", value: pt.records.length ? pt.records.map(function (r) { return r.offset + ": m" + r.msg + " (e" + r.event + ")"; }).join(", ") : "none" }] });
      });
      out.push(p);
    }
    if (s.marks) {
      var mk = { title: "Redis marks", cols: ["event", "its mark"], rows: [] };
      var seen = {};
      s.marks.marks.forEach(function (m) {
        if (seen[m.event] && !m.live) return;
        seen[m.event] = true;
        mk.rows.push({ head: "e" + m.event, cells: [{ key: "mark.e" + m.event, value: m.live ? "in Redis" + (m.expires ? " (expires at " + m.expires + ")" : "") : "not in Redis" }] });
      });
      if (s.marks.others) mk.note = others(s.marks.others).trim() + " with a mark";
      out.push(mk);
    }
    if (s.kv) {
      var kv = { title: "Redis keys (" + s.kv.label + ")", cols: ["key", "value"], rows: [] };
      s.kv.keys.forEach(function (k) {
        kv.rows.push({ head: k.name, cells: [{ key: "kv." + k.name, value: (k.set ? "{" + k.members.join(",") + "}" : k.value) + (k.until ? " (until " + k.until + ")" : "") }] });
      });
      if (!s.kv.keys.length) kv.empty = "none";
      out.push(kv);
    }
    if (s.ids) {
      var ids = { title: "Processed-ids table", cols: ["event", "its id"], rows: [] };
      s.ids.ids.forEach(function (i) {
        ids.rows.push({ head: "e" + i.event, cells: [{ key: "id.e" + i.event, value: i.yes ? "in the table" : "not in the table" }] });
      });
      if (s.ids.others) ids.note = others(s.ids.others).trim() + " in the table";
      out.push(ids);
    }
    var lg = { title: s.ledger.label === "charges" ? "Charges (the payment provider)" : "Ledger", cols: ["event", "effects"], rows: [] };
    s.ledger.rows.forEach(function (r) {
      lg.rows.push({ head: "e" + r.event, cells: [{ key: "ledger.e" + r.event, value: "×" + r.count + " (" + timesWord(r.count) + (r.count > 1 ? ": a duplicate" : "") + ")" }] });
    });
    if (s.ledger.others) lg.note = others(s.ledger.others).trim() + " with an effect";
    out.push(lg);
    return out;
  }

  function values(s) {
    var v = {};
    if (!s) return v;
    groups(s).forEach(function (g) { g.rows.forEach(function (r) { r.cells.forEach(function (c) { v[c.key] = c.value; }); }); });
    return v;
  }

  // stateView draws a state as tables, marking the cells whose value
  // differs from the state before (prev) with the word "changed".
  function stateView(s, prev, idPrefix) {
    var before = values(prev);
    var box = el("div", { class: "state" });
    groups(s).forEach(function (g) {
      var sec = el("section", { class: "group" });
      sec.appendChild(el("h4", { text: g.title }));
      var t = el("table");
      var hr = el("tr");
      g.cols.forEach(function (c) { hr.appendChild(el("th", { scope: "col", text: c })); });
      t.appendChild(el("thead", {}, [hr]));
      var tb = el("tbody");
      g.rows.forEach(function (r) {
        var tr = el("tr");
        tr.appendChild(el("th", { scope: "row", text: r.head }));
        r.cells.forEach(function (c) {
          var changed = prev && before[c.key] !== c.value;
          var td = el("td", { "data-cell": c.key, class: changed ? "changed" : null }, [el("span", { class: "value", text: c.value })]);
          if (changed) td.appendChild(el("span", { class: "tag", text: "changed" }));
          tr.appendChild(td);
        });
        tb.appendChild(tr);
      });
      t.appendChild(tb);
      sec.appendChild(t);
      if (g.empty && !g.rows.length) sec.appendChild(el("p", { class: "muted", text: g.empty }));
      if (g.note) sec.appendChild(el("p", { class: "muted", text: g.note }));
      box.appendChild(sec);
    });
    return box;
  }

  // glyph draws a kind of mark at (x, y): its shape, sized as in the
  // picture, and, for a kind whose shape and size another kind of the page
  // shares (the picture tells them apart by colour), a mark of its own
  // (variant 1: a dot in the middle; 2: a ring around; 3: both), so that
  // no two kinds differ by colour alone.
  function glyph(g, variant, x, y) {
    var r = Math.max(3.5, Math.min(7, g.size * 1.1));
    var out = sv("g", {}, [shape(g.shape, x, y, r, g.color)]);
    if (variant & 1) out.appendChild(sv("circle", { cx: x, cy: y, r: 1.6, fill: "#000", stroke: "#fff", "stroke-width": 0.8 }));
    if (variant & 2) out.appendChild(sv("circle", { cx: x, cy: y, r: r + 2.6, fill: "none", stroke: g.color, "stroke-width": 1.2 }));
    return out;
  }

  // shape draws a glyph of the timeline's legend at (x, y).
  function shape(name, x, y, r, color) {
    var filled = { circle: 1, pyramid: 1, box: 1 }[name];
    var common = { fill: filled ? color : "#fff", stroke: color, "stroke-width": 1.6 };
    function poly(pts) { return sv("polygon", Object.assign({ points: pts.map(function (p) { return (x + p[0] * r) + "," + (y + p[1] * r); }).join(" ") }, common)); }
    switch (name) {
      case "ring": case "circle": return sv("circle", Object.assign({ cx: x, cy: y, r: r }, common));
      case "triangle": case "pyramid": return poly([[0, -1.1], [1, 0.8], [-1, 0.8]]);
      case "square": case "box": return sv("rect", Object.assign({ x: x - r, y: y - r, width: 2 * r, height: 2 * r }, common));
      case "cross": return sv("path", { d: "M" + (x - r) + " " + (y - r) + "L" + (x + r) + " " + (y + r) + "M" + (x - r) + " " + (y + r) + "L" + (x + r) + " " + (y - r), stroke: color, "stroke-width": 2.4 });
      case "plus": return sv("path", { d: "M" + (x - r) + " " + y + "L" + (x + r) + " " + y + "M" + x + " " + (y - r) + "L" + x + " " + (y + r), stroke: color, "stroke-width": 2.4 });
      case "bar": return sv("rect", { x: x - r * 1.6, y: y - r * 0.6, width: r * 3.2, height: r * 1.2, fill: "url(#hatch-" + r + ")", stroke: color });
    }
    return sv("circle", Object.assign({ cx: x, cy: y, r: r }, common));
  }

  // TERMS are the words the page uses, each with what it means, in
  // plain words: a reader new to the subject finds them here. They come
  // from Go (package page's Terms), which puts them in this slot, so that
  // the site's index shows the same list.
  var TERMS = /* Terms, from Go */ [];

  // termsBox draws TERMS as a small box the reader can fold away.
  function termsBox() {
    var dl = el("dl");
    TERMS.forEach(function (t) { dl.appendChild(el("dt", { text: t.word })); dl.appendChild(el("dd", { text: t.meaning })); });
    return el("details", { class: "terms", id: "terms" }, [el("summary", { text: "Terms used on this page" }), dl]);
  }

  function render(root, doc) {
    var tl = doc.timeline;
    var n = doc.steps.length;
    var cur = 1;
    var all = false;
    root.textContent = "";

    // The run and its verdict.
    var head = el("header", {}, [
      el("h1", { text: doc.heading }),
      el("p", { class: "lede", text: doc.header }),
      doc.copies ? el("p", { class: "callout", id: "copies", role: "note" }, [el("strong", { text: "No redelivery: " }), doc.copies]) : null,
      el("p", { class: "muted", text: doc.key + " Move with the buttons or the arrow keys (← →, Home, End)." }),
      termsBox()
    ]);
    root.appendChild(head);

    var status = el("p", { id: "step-status", class: "status", role: "status", "aria-live": "polite" });
    function button(label, key, act) {
      var b = el("button", { type: "button", "data-key": key, text: label });
      b.addEventListener("click", act);
      return b;
    }
    var allBtn = button("Show all steps", "all", function () { all = !all; show(); });
    var nav = el("nav", { class: "controls", "aria-label": "steps" }, [
      button("|◀ First", "first", function () { go(1); }),
      button("◀ Previous", "prev", function () { go(cur - 1); }),
      button("Next ▶", "next", function () { go(cur + 1); }),
      button("Last ▶|", "last", function () { go(n); }),
      allBtn, status
    ]);
    root.appendChild(nav);

    var main = el("div", { class: "main" });
    var stepsBox = el("section", { class: "steps", "aria-label": "the story's steps" }, [el("h2", { text: "The steps" })]);
    var list = el("ol", { id: "steps" });
    doc.steps.forEach(function (st) {
      var li = el("li", { "data-step": st.n, value: st.n, tabindex: "-1" }, [
        el("span", { class: "when", text: st.at }), " ",
        el("span", { class: "actor", text: st.actor }), " ",
        el("span", { class: "text", text: st.text }),
        el("span", { class: "now", text: " ◀ this step" })
      ]);
      li.addEventListener("click", function () { go(st.n); });
      list.appendChild(li);
    });
    stepsBox.appendChild(list);
    main.appendChild(stepsBox);

    var stateBox = el("section", { class: "statebox", "aria-label": "the state after the step" });
    main.appendChild(stateBox);
    root.appendChild(main);

    // The timeline, drawn from the document's marks.
    var tlBox = el("section", { class: "timeline", "aria-label": "timeline" });
    root.appendChild(tlBox);
    var svg = null, cursor = null, markEls = [];
    if (tl) {
      tlBox.appendChild(el("h2", { text: "The timeline" }));
      tlBox.appendChild(el("p", { class: "muted", text: tl.title + ". Each mark is a fact of the run; a number above a mark is the step that tells it. Click a mark (or focus it with Tab and press Enter) to go to its step." }));
      var L = 110, R = 20, T = 34, laneH = 40, W = 1000;
      var H = T + laneH * tl.lanes.length + 34;
      var X = function (p) { return L + p * (W - L - R); };
      var Y = function (lane) { return T + laneH * lane + laneH / 2; };
      svg = sv("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "group", "aria-label": "timeline of the run: one lane per instance, the broker and the stores", id: "timeline" });
      var defs = sv("defs");
      // Spans are hatched, each kind at its own angle, so that they differ
      // without colour.
      var spanKinds = [];
      tl.spans.forEach(function (s) { if (spanKinds.indexOf(s.kind) < 0) spanKinds.push(s.kind); });
      tl.legend.forEach(function (g) {
        if (g.shape !== "bar") return;
        var k = spanKinds.indexOf(g.kind);
        var pat = sv("pattern", { id: "hatch-" + k, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(" + (45 + 45 * k) + ")" }, [
          sv("rect", { width: 6, height: 6, fill: g.color, "fill-opacity": 0.35 }),
          sv("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: g.color, "stroke-width": 2 })]);
        defs.appendChild(pat);
      });
      svg.appendChild(defs);
      tl.lanes.forEach(function (name, k) {
        svg.appendChild(sv("line", { x1: L, x2: W - R, y1: Y(k), y2: Y(k), stroke: "#ccc" }));
        svg.appendChild(sv("text", { x: L - 8, y: Y(k) + 4, "text-anchor": "end", class: "lane" , text: name }));
      });
      tl.ticks.forEach(function (t) {
        svg.appendChild(sv("line", { x1: X(t.pos), x2: X(t.pos), y1: H - 30, y2: H - 26, stroke: "#555" }));
        svg.appendChild(sv("text", { x: X(t.pos), y: H - 14, "text-anchor": "middle", class: "tick", text: t.label }));
      });
      tl.gaps.forEach(function (g) {
        svg.appendChild(sv("line", { x1: X(g.pos), x2: X(g.pos), y1: T - 6, y2: H - 30, stroke: "#999", "stroke-dasharray": "3 3" }));
        svg.appendChild(sv("text", { x: X(g.pos) + 3, y: H - 34, class: "tick", text: g.label }));
      });
      svg.appendChild(sv("text", { x: (L + W) / 2, y: H - 2, "text-anchor": "middle", class: "tick", text: tl.axis }));
      tl.spans.forEach(function (s) {
        var k = spanKinds.indexOf(s.kind);
        var r = sv("rect", { x: X(s.from), y: Y(s.lane) - 9, width: Math.max(2, X(s.to) - X(s.from)), height: 18, fill: "url(#hatch-" + k + ")" }, [sv("title", { text: s.kind + " (" + tl.lanes[s.lane] + ")" })]);
        svg.appendChild(r);
      });
      tl.notes.forEach(function (t) {
        svg.appendChild(sv("text", { x: X(t.pos), y: Y(t.lane) + 18, class: "note", text: t.text }));
      });
      cursor = sv("g", { class: "cursor", "aria-hidden": "true" });
      svg.appendChild(cursor);
      var entryOf = {}, variantOf = {}, looks = {};
      tl.legend.forEach(function (g) {
        entryOf[g.kind] = g;
        var look = g.shape + "/" + Math.max(3.5, Math.min(7, g.size * 1.1)).toFixed(2);
        variantOf[g.kind] = looks[look] || 0;
        looks[look] = (looks[look] || 0) + 1;
      });
      // Step numbers above the marks that tell them, as the picture has
      // them.
      // A label that would overlap the one before it on its lane goes a
      // row higher.
      var rows = {};
      tl.labels.slice().sort(function (a, b) { return a.lane - b.lane || a.pos - b.pos; }).forEach(function (l) {
        var w = 6.5 * l.text.length + 4;
        var x = Math.min(Math.max(X(l.pos), L + w / 2), W - R - w / 2 + 12);
        var ends = rows[l.lane] = rows[l.lane] || [];
        var row = 0;
        while (row < 2 && ends[row] !== undefined && ends[row] > x - w / 2) row++;
        ends[row] = x + w / 2;
        svg.appendChild(sv("text", { x: x, y: Y(l.lane) - 12 - 11 * row, "text-anchor": "middle", class: "steplabel", text: l.text }));
      });
      tl.marks.forEach(function (m, idx) {
        var label = m.kind + ", " + tl.lanes[m.lane] + ", at " + m.at + ": " + (m.told ? (m.steps.length > 1 ? "steps " + m.steps.join(" and ") : "step " + m.step) : "after step " + m.step + " (no step of its own)");
        var g = sv("g", { class: "mark", tabindex: 0, role: "button", "aria-label": label, "data-step": m.step, "data-steps": m.told ? m.steps.join(",") : "", "data-mark": idx, "data-told": m.told ? "1" : "0" }, [
          sv("title", { text: label }),
          sv("circle", { cx: X(m.pos), cy: Y(m.lane), r: 11, class: "halo" }),
          glyph(entryOf[m.kind], variantOf[m.kind], X(m.pos), Y(m.lane))
        ]);
        // A mark two steps tell goes to the first, then to the next.
        var act = function () {
          var ss = m.told ? m.steps : [m.step];
          var i = ss.indexOf(cur);
          go(i >= 0 && i + 1 < ss.length ? ss[i + 1] : ss[0]);
        };
        g.addEventListener("click", act);
        g.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); e.stopPropagation(); act(); }
        });
        svg.appendChild(g);
        markEls.push(g);
      });
      tlBox.appendChild(svg);
      var legend = el("ul", { class: "legend", "aria-label": "what the marks mean" });
      tl.legend.forEach(function (g) {
        var k = spanKinds.indexOf(g.kind);
        var icon = sv("svg", { width: 22, height: 20, viewBox: "0 -2 22 20", "aria-hidden": "true" }, [
          g.shape === "bar" ? sv("rect", { x: 1, y: 4, width: 20, height: 8, fill: "url(#hatch-" + k + ")", stroke: g.color }) : glyph(g, variantOf[g.kind], 11, 8)]);
        legend.appendChild(el("li", {}, [icon, " " + g.kind]));
      });
      legend.appendChild(el("li", {}, [el("span", { class: "steplabel", text: "N" }), " step N of the story"]));
      tlBox.appendChild(legend);
    }

    // The violation, the why, the fix and how to replay.
    var end = el("section", { class: "verdict", "aria-label": "the verdict" }, [
      el("h2", { text: doc.kind === "ok" ? "What happened" : "What went wrong" }),
      el("p", {}, [el("strong", { text: doc.kind === "ok" ? "Outcome: " : "Violation: " }), doc.violation]),
      doc.whole_run ? el("p", {}, [el("strong", { text: "The whole run: " }), doc.whole_run]) : null,
      el("p", {}, [el("strong", { text: "Why: " }), doc.why]),
      doc.note ? el("p", { class: "muted" }, [el("strong", { text: "Note: " }), doc.note]) : null
    ]);
    if (doc.fix) {
      var fl = el("ol", { class: "fixsteps" });
      doc.fix.steps.forEach(function (s) { fl.appendChild(el("li", {}, [el("span", { class: "when", text: s.at }), " ", el("span", { class: "actor", text: s.actor }), " ", s.text])); });
      end.appendChild(el("h3", { text: "The fix" }));
      end.appendChild(el("p", { text: doc.fix.verdict[0].toUpperCase() + doc.fix.verdict.slice(1) + ":" }));
      end.appendChild(fl);
      end.appendChild(el("p", {}, ["Replay it with: ", el("code", { text: doc.fix.reproduce })]));
    }
    end.appendChild(el("p", {}, ["Reproduce this run with: ", el("code", { id: "reproduce", text: doc.reproduce })]));
    end.appendChild(el("p", {}, ["Its trace hash: ", el("code", { id: "trace-hash", text: doc.trace_hash })]));
    root.appendChild(end);

    if (doc.history) {
      root.appendChild(el("section", { class: "history", "aria-label": "the checker's view" }, [
        el("h2", { text: "The checker's view" }),
        el("p", {}, ["The same run as the linearizability checker porcupine sees it: ",
          el("a", { href: doc.history, id: "history-link", text: "the run's history (history.html)" }),
          ". There each instance's handling of a delivery is a bar from its start to its end, named after the operation the checker tests (attempt(e1) for \"handle event 1\"); the checker looks for an order of those bars in which every event takes effect once, and shows where none exists. The faults of the run are annotated on the rows."])
      ]));
    }

    function go(k) {
      cur = Math.max(1, Math.min(n, k));
      show();
    }

    function show() {
      var st = doc.steps[cur - 1];
      status.textContent = "Step " + cur + " of " + n + (all ? " (all steps shown)" : "");
      allBtn.textContent = all ? "Show steps up to this one" : "Show all steps";
      allBtn.setAttribute("aria-pressed", all ? "true" : "false");
      // At the last step every step is listed already: the button would
      // change nothing a reader can see, so it says so instead.
      allBtn.disabled = !all && cur === n;
      allBtn.title = allBtn.disabled ? "Every step is listed already: this is the last one" :
        all ? "List the steps up to the current one only" :
          "List every step of the story; the state panels stay at the current step";
      root.setAttribute("data-step", cur);
      Array.prototype.forEach.call(list.children, function (li) {
        var k = +li.getAttribute("data-step");
        li.hidden = !all && k > cur;
        li.classList.toggle("current", k === cur);
        if (k === cur) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
      });
      var prev = cur > 1 ? doc.steps[cur - 2].state : doc.initial;
      stateBox.textContent = "";
      stateBox.appendChild(el("h2", { text: "After step " + cur + " (" + st.at + ")" }));
      stateBox.appendChild(el("p", { class: "steptext" }, [el("strong", { text: st.actor + ": " }), st.text]));
      var cols = el("div", { class: "cols" + (doc.fix ? " two" : "") });
      var mine = el("div", { class: "col", id: "col-story" }, [
        el("h3", { text: doc.run.strategy + " (this run)" }),
        stateView(st.state, prev),
        el("p", { class: "line" }, [el("span", { class: "muted", text: "The text story's state line here: " }),
          el("code", { text: st.line ? "[" + st.line + "]" : "(none: what it shows did not change)" })])
      ]);
      cols.appendChild(mine);
      if (doc.fix) {
        var f = doc.fix;
        var fprev = cur > 1 ? f.states[cur - 2] : null;
        var done = f.steps.slice(0, f.through[cur - 1]);
        var fs = el("ol", { class: "fixsofar" });
        done.forEach(function (s) { fs.appendChild(el("li", {}, [el("span", { class: "when", text: s.at }), " ", el("span", { class: "actor", text: s.actor }), " ", s.text])); });
        var same = f.same && f.same[cur - 1];
        cols.appendChild(el("div", { class: "col", id: "col-fix" }, [
          el("h3", { text: f.strategy + " (the fix), at the same moment" }),
          el("p", { class: "muted", id: "fix-same", "data-same": same ? "1" : "0", text: same ?
            "So far the two runs are the same, record for record: both sides show the same broker, instances and ledger." :
            "From here the two runs differ: " + f.strategy + " makes other store calls, which take their own time, so its steps come at other moments." }),
          el("p", { class: "muted", text: "The same run (same seed, instances, events and faults) under " + f.strategy + ", at " + st.at + ". Its decisive steps so far:" }),
          done.length ? fs : el("p", { class: "muted", text: "none yet" }),
          stateView(f.states[cur - 1], fprev)
        ]));
      }
      stateBox.appendChild(cols);
      if (svg) {
        cursor.textContent = "";
        var spot = tl.steps[cur - 1];
        var L = 110, R = 20, W = 1000;
        var x = L + spot.pos * (W - L - R);
        cursor.appendChild(sv("line", { x1: x, x2: x, y1: 14, y2: svg.viewBox.baseVal.height - 30, class: "cursorline" }));
        cursor.appendChild(sv("text", { x: x, y: 12, "text-anchor": "middle", class: "cursortext", text: "step " + cur }));
        markEls.forEach(function (g) {
          var on = g.getAttribute("data-steps").split(",").indexOf(String(cur)) >= 0;
          g.classList.toggle("current", on);
        });
      }
    }

    function onKey(e) {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
      var t = e.target && e.target.tagName;
      if (t === "INPUT" || t === "SELECT" || t === "TEXTAREA") return;
      var k = { ArrowRight: cur + 1, ArrowLeft: cur - 1, Home: 1, End: n }[e.key];
      if (k === undefined) return;
      e.preventDefault();
      go(k);
    }
    document.addEventListener("keydown", onKey);
    show();
    return { go: go, current: function () { return cur; }, destroy: function () { document.removeEventListener("keydown", onKey); } };
  }

  window.idemsimStory = { render: render, groups: groups };
  var data = document.getElementById("story-data");
  var app = document.getElementById("app");
  if (data && app) {
    var doc = JSON.parse(data.textContent);
    window.storyPage = render(app, doc);
    window.storyPage.doc = doc;
  }
})();
