// The report's interactive embedding, inlined by keras_nnviz/report/_page.py: points on a canvas;
// drag to pan, wheel to zoom, hover a point for its picture or tokens, colour by label or
// prediction, search by class, index or text. Builds its DOM with createElement/textContent only.
// nvEmbeddings(data) -> {setEpoch(epoch)}: the page's epoch control moves the points too.
function nvEmbeddings(data) {
  "use strict";
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"];
  var views = [];
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function colourOf(k) { return k === null || k === undefined ? "#888" : PALETTE[k % PALETTE.length]; }

  function View(host, emb) {
    var body = host.querySelector(".nv-embed-body");
    var bar = el("div", "nv-embed-tools");
    var by = el("select", "nv-embed-colour");
    by.setAttribute("aria-label", "colour the points by");
    [["label", "colour: label", emb.labels], ["pred", "colour: prediction", emb.preds],
     ["correct", "colour: right / wrong", emb.labels && emb.preds]].forEach(function (o) {
      if (!o[2]) { return; }
      var opt = el("option", "", o[1]);
      opt.value = o[0];
      by.appendChild(opt);
    });
    var search = el("input", "nv-embed-search");
    search.type = "search";
    search.placeholder = emb.texts ? "find: class, #index or a word" : "find: class or #index";
    search.setAttribute("aria-label", "find points");
    var count = el("span", "nv-embed-count", "");
    var reset = el("button", "", "fit");
    reset.type = "button";
    reset.title = "show every point";
    if (by.options.length) { bar.appendChild(by); }
    [search, count, reset].forEach(function (b) { bar.appendChild(b); });
    var frameBox = null, slider = null, frameLabel = null;
    if (emb.frames.length > 1) {
      frameBox = el("div", "nv-frame-controls");
      slider = el("input", "nv-frame-slider");
      slider.type = "range"; slider.min = "0"; slider.max = String(emb.frames.length - 1);
      slider.value = slider.max; slider.step = "1";
      slider.setAttribute("aria-label", emb.title + " frame");
      frameLabel = el("span", "nv-frame-label", "");
      frameBox.appendChild(slider); frameBox.appendChild(frameLabel);
    }
    var wrap = el("div", "nv-embed-wrap");
    var canvas = el("canvas", "nv-embed-canvas");
    var W = 560, H = 420, ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(W * ratio); canvas.height = Math.round(H * ratio);
    canvas.style.width = W + "px"; canvas.style.height = H + "px";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", emb.title + " embedding: drag to pan, wheel to zoom");
    var tip = el("div", "nv-embed-tip");
    tip.style.display = "none";
    var thumb = el("canvas", "nv-embed-thumb");
    thumb.width = 72; thumb.height = 72;
    var tipText = el("div", "nv-embed-tip-text");
    tip.appendChild(thumb); tip.appendChild(tipText);
    wrap.appendChild(canvas); wrap.appendChild(tip);
    var legend = el("div", "nv-embed-legend");
    body.appendChild(bar);
    body.appendChild(wrap);
    if (frameBox) { body.appendChild(frameBox); }
    body.appendChild(legend);

    var ctx = canvas.getContext("2d");
    var sprite = null;
    if (emb.sprite) { sprite = new Image(); sprite.src = emb.sprite.src; }
    var frame = emb.frames.length - 1, xy = emb.frames[frame].xy, n = xy.length / 2;
    var scale = 1, ox = 0, oy = 0;  // view: screen = centre + (point * base * scale) + offset
    var hover = -1, matches = null;
    var base = Math.min(W, H) / 2 * 0.9;

    function mode() { return by.value || null; }
    function classOf(i) {
      var m = mode();
      if (m === "label") { return emb.labels[i]; }
      if (m === "pred") { return emb.preds[i]; }
      if (m === "correct") { return emb.labels[i] === emb.preds[i] ? 2 : 3; }
      return null;
    }
    function name(k) { return emb.classes && emb.classes[k] !== undefined ? emb.classes[k] : String(k); }
    function sx(i) { return W / 2 + xy[2 * i] * base * scale + ox; }
    function sy(i) { return H / 2 - xy[2 * i + 1] * base * scale + oy; }

    function draw() {
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, W, H);
      var order = [];
      for (var i = 0; i < n; i++) { order.push(i); }
      if (matches) {  // matches on top
        order.sort(function (a, b) { return (matches[a] ? 1 : 0) - (matches[b] ? 1 : 0); });
      }
      order.forEach(function (i) {
        var on = !matches || matches[i];
        ctx.globalAlpha = on ? 0.85 : 0.12;
        ctx.fillStyle = colourOf(classOf(i));
        ctx.beginPath();
        ctx.arc(sx(i), sy(i), on && matches ? 4.5 : 3.2, 0, 2 * Math.PI);
        ctx.fill();
        if (on && matches) { ctx.strokeStyle = "#222"; ctx.lineWidth = 1; ctx.stroke(); }
      });
      ctx.globalAlpha = 1;
      if (hover >= 0) {
        ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
        ctx.beginPath(); ctx.arc(sx(hover), sy(hover), 6.5, 0, 2 * Math.PI); ctx.stroke();
      }
      host.setAttribute("data-frame", String(frame));
      host.setAttribute("data-scale", scale.toFixed(3));
    }

    function drawLegend() {
      legend.replaceChildren();
      var m = mode();
      if (!m) { return; }
      var seen = {};
      for (var i = 0; i < n; i++) { seen[classOf(i)] = (seen[classOf(i)] || 0) + 1; }
      Object.keys(seen).map(Number).sort(function (a, b) { return a - b; }).forEach(function (k) {
        var item = el("span", "nv-embed-key");
        var chip = el("span", "nv-embed-chip");
        chip.style.background = colourOf(k);
        item.appendChild(chip);
        var text = m === "correct" ? (k === 2 ? "right" : "wrong") : name(k);
        item.appendChild(document.createTextNode(text + " (" + seen[k] + ")"));
        item.title = "find these points";
        item.addEventListener("click", function () {
          search.value = m === "correct" ? text : "=" + name(k);
          find();
        });
        legend.appendChild(item);
      });
    }

    function find() {
      var q = search.value.trim().toLowerCase();
      if (!q) { matches = null; count.textContent = ""; draw(); host.removeAttribute("data-matches"); return; }
      matches = [];
      var hits = 0;
      for (var i = 0; i < n; i++) {
        var ok = false;
        if (q.charAt(0) === "#") { ok = String(i) === q.slice(1); }
        else if (q.charAt(0) === "=") {
          var want = q.slice(1);
          ok = (emb.labels && name(emb.labels[i]).toLowerCase() === want && mode() !== "pred") ||
            (emb.preds && name(emb.preds[i]).toLowerCase() === want && mode() === "pred");
        } else if (q === "right" || q === "wrong") {
          ok = !!(emb.labels && emb.preds) && ((emb.labels[i] === emb.preds[i]) === (q === "right"));
        } else {
          ok = (emb.labels && name(emb.labels[i]).toLowerCase().indexOf(q) >= 0) ||
            (emb.preds && name(emb.preds[i]).toLowerCase().indexOf(q) >= 0) ||
            (emb.texts && emb.texts[i].toLowerCase().indexOf(q) >= 0);
        }
        matches.push(!!ok);
        if (ok) { hits += 1; }
      }
      count.textContent = hits + " of " + n;
      host.setAttribute("data-matches", String(hits));
      draw();
    }

    function nearest(mx, my) {
      var best = -1, dist = 81;  // within 9 px
      for (var i = 0; i < n; i++) {
        if (matches && !matches[i]) { continue; }
        var dx = sx(i) - mx, dy = sy(i) - my, d = dx * dx + dy * dy;
        if (d < dist) { dist = d; best = i; }
      }
      return best;
    }

    function showTip(i, mx, my) {
      if (i < 0) { tip.style.display = "none"; host.removeAttribute("data-hover"); return; }
      var lines = ["sample #" + i];
      if (emb.labels) { lines.push("label: " + name(emb.labels[i])); }
      if (emb.preds) {
        lines.push("prediction: " + name(emb.preds[i]) +
          (emb.labels && emb.labels[i] !== emb.preds[i] ? " \u2717" : ""));
      }
      tipText.replaceChildren();
      lines.forEach(function (t) { tipText.appendChild(el("div", "", t)); });
      if (emb.texts) { tipText.appendChild(el("div", "nv-embed-tokens", emb.texts[i])); }
      var s = emb.sprite;
      if (sprite && s && s.cols && i < s.cols * s.cols && sprite.complete && sprite.naturalWidth) {
        var tctx = thumb.getContext("2d");
        tctx.imageSmoothingEnabled = false;
        tctx.clearRect(0, 0, 72, 72);
        tctx.drawImage(sprite, (i % s.cols) * s.thumb, Math.floor(i / s.cols) * s.thumb,
          s.thumb, s.thumb, 0, 0, 72, 72);
        thumb.style.display = "";
      } else {
        thumb.style.display = "none";
      }
      tip.style.display = "";
      tip.style.left = Math.min(mx + 14, W - 180) + "px";
      tip.style.top = Math.min(my + 10, H - 60) + "px";
      host.setAttribute("data-hover", String(i));
    }

    var drag = null;
    canvas.addEventListener("mousedown", function (ev) {
      drag = { x: ev.clientX, y: ev.clientY, ox: ox, oy: oy };
      ev.preventDefault();
    });
    window.addEventListener("mouseup", function () { drag = null; });
    canvas.addEventListener("mousemove", function (ev) {
      var r = canvas.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
      if (drag) {
        ox = drag.ox + ev.clientX - drag.x; oy = drag.oy + ev.clientY - drag.y;
        hover = -1; showTip(-1); draw(); return;
      }
      var i = nearest(mx, my);
      if (i !== hover) { hover = i; draw(); }
      showTip(i, mx, my);
    });
    canvas.addEventListener("mouseleave", function () { hover = -1; showTip(-1); draw(); });
    canvas.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = canvas.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top;
      var f = ev.deltaY < 0 ? 1.2 : 1 / 1.2, next = Math.max(0.2, Math.min(60, scale * f));
      f = next / scale;
      // Keep the point under the cursor where it is.
      ox = mx - W / 2 - (mx - W / 2 - ox) * f; oy = my - H / 2 - (my - H / 2 - oy) * f;
      scale = next; hover = -1; showTip(-1); draw();
    }, { passive: false });
    reset.addEventListener("click", function () {
      scale = 1; ox = 0; oy = 0; hover = -1; showTip(-1); draw();
    });
    search.addEventListener("input", find);
    by.addEventListener("change", function () { drawLegend(); if (search.value) { find(); } else { draw(); } });

    function setFrame(k) {
      frame = Math.max(0, Math.min(emb.frames.length - 1, k));
      xy = emb.frames[frame].xy; n = xy.length / 2;
      if (emb.frames[frame].preds) { emb.preds = emb.frames[frame].preds; drawLegend(); }
      if (slider) { slider.value = String(frame); }
      if (frameLabel) { frameLabel.textContent = emb.frames[frame].label || ""; }
      draw();
    }
    if (slider) { slider.addEventListener("input", function () { setFrame(+slider.value); }); }
    if (sprite) { sprite.addEventListener("load", function () { host.setAttribute("data-sprite", "1"); }); }
    drawLegend();
    setFrame(frame);
    return {
      setEpoch: function (epoch) {
        var best = 0;
        emb.frames.forEach(function (f, k) {
          if (f.epoch !== null && f.epoch !== undefined && f.epoch <= epoch) { best = k; }
        });
        if (emb.frames.length > 1) { setFrame(best); }
      }
    };
  }

  document.querySelectorAll(".nv-embed[data-embed]").forEach(function (host) {
    var emb = (data.embeddings || {})[host.getAttribute("data-embed")];
    if (emb && emb.frames && emb.frames.length) { views.push(View(host, emb)); }
  });
  return {
    setEpoch: function (epoch) { views.forEach(function (v) { v.setEpoch(epoch); }); }
  };
}
