// The attention explorer's script (keras_nnviz/plot/attention_html.py): draws the weights.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("nv-data").textContent);
  function decode(b64) {
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  var layers = D.layers.map(function (l) { l.values = decode(l.data); return l; });
  var state = { layer: 0, head: 0, query: 0, geom: null, hover: null };
  var $ = function (id) { return document.getElementById(id); };

  function matrix(li, head) {
    var L = layers[li], n = L.tq * L.tk, out = new Float32Array(n), h, i;
    if (head >= 0) { out.set(L.values.subarray(head * n, (head + 1) * n)); return out; }
    for (h = 0; h < L.heads; h++) for (i = 0; i < n; i++) out[i] += L.values[h * n + i] / L.heads;
    return out;
  }
  function maxOf(a) {
    var m = 0;
    for (var i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
    return m;
  }
  function colour(lut, v, vmax) {
    var k = vmax > 0 ? Math.round(Math.min(Math.max(v / vmax, 0), 1) * 255) : 0;
    return lut[k];
  }
  function dark(hex) {
    var r = parseInt(hex.substr(1, 2), 16), g = parseInt(hex.substr(3, 2), 16),
        b = parseInt(hex.substr(5, 2), 16);
    return 0.299 * r + 0.587 * g + 0.114 * b < 140;
  }
  function option(sel, value, text) {
    var o = document.createElement("option"); o.value = value; o.textContent = text;
    sel.appendChild(o);
  }

  function fillControls() {
    var L = layers[state.layer], hs = $("nv-head"), qs = $("nv-query"), i;
    hs.innerHTML = ""; qs.innerHTML = "";
    for (i = 0; i < L.heads; i++) option(hs, i, "head " + i);
    if (L.heads > 1) option(hs, -1, "mean of heads");
    if (state.head >= L.heads) state.head = 0;
    hs.value = state.head;
    for (i = 0; i < L.tq; i++) option(qs, i, i + ": " + L.qtok[i]);
    if (state.query >= L.tq) state.query = 0;
    qs.value = state.query;
  }

  function drawMatrix(m, vmax) {
    var L = layers[state.layer], cv = $("nv-matrix"), ctx = cv.getContext("2d");
    var dpr = window.devicePixelRatio || 1, i, j;
    ctx.font = "11px sans-serif";
    var cell = Math.max(4, Math.min(32, Math.floor(460 / Math.max(L.tq, L.tk))));
    var step = cell >= 11 ? 1 : Math.ceil(11 / cell);
    var left = 0, top = 0;
    for (i = 0; i < L.tq; i += step) left = Math.max(left, ctx.measureText(L.qtok[i]).width);
    for (j = 0; j < L.tk; j += step) top = Math.max(top, ctx.measureText(L.ktok[j]).width);
    left = Math.ceil(left) + 8; top = Math.ceil(top) + 8;
    var w = left + cell * L.tk + 4, h = top + cell * L.tq + 4;
    cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
    cv.style.width = w + "px"; cv.style.height = h + "px";
    ctx = cv.getContext("2d"); ctx.scale(dpr, dpr);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    for (i = 0; i < L.tq; i++) for (j = 0; j < L.tk; j++) {
      ctx.fillStyle = colour(D.viridis, m[i * L.tk + j], vmax);
      ctx.fillRect(left + j * cell, top + i * cell, cell, cell);
    }
    ctx.fillStyle = "#222"; ctx.font = "11px sans-serif"; ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (i = 0; i < L.tq; i += step) ctx.fillText(L.qtok[i], left - 4, top + (i + 0.5) * cell);
    ctx.textAlign = "left";
    for (j = 0; j < L.tk; j += step) {
      ctx.save(); ctx.translate(left + (j + 0.5) * cell, top - 4); ctx.rotate(-Math.PI / 2);
      ctx.fillText(L.ktok[j], 0, 0); ctx.restore();
    }
    ctx.strokeStyle = "#e4003a"; ctx.lineWidth = 2;
    ctx.strokeRect(left, top + state.query * cell, cell * L.tk, cell);
    state.geom = { left: left, top: top, cell: cell, m: m };
    var stops = [];
    for (i = 0; i <= 8; i++) stops.push(D.viridis[Math.round(i * 255 / 8)]);
    $("nv-gradient").style.background = "linear-gradient(to right," + stops.join(",") + ")";
    $("nv-vmax").textContent = vmax.toFixed(3);
  }

  // One colour rule on the page: the matrix, the tokens and the thumbnails all run from 0 to
  // the largest weight of what they show together (the matrix; all layers for the thumbnails),
  // each with its legend, so a pale token never means a strong weight somewhere else.
  function drawText(m, vmax) {
    var L = layers[state.layer], box = $("nv-text"), row = m.subarray(
      state.query * L.tk, (state.query + 1) * L.tk), j;
    box.innerHTML = "";
    for (j = 0; j < L.tk; j++) {
      var s = document.createElement("span"), c = colour(D.text, row[j], vmax);
      s.textContent = L.ktok[j];
      s.style.background = c; s.style.color = dark(c) ? "#fff" : "#111";
      s.title = L.ktok[j] + ": " + row[j].toFixed(4);
      if (L.tq === L.tk && j === state.query) s.className = "q";
      s.dataset.index = j;
      box.appendChild(s);
    }
    var stops = [];
    for (j = 0; j <= 8; j++) stops.push(D.text[Math.round(j * 255 / 8)]);
    $("nv-text-gradient").style.background = "linear-gradient(to right," + stops.join(",") + ")";
    $("nv-text-vmax").textContent = vmax.toFixed(3);
  }

  // BertViz's head view: queries on the left, keys on the right, a line per weight (opacity:
  // weight / the largest shown; colour: head). Hovering a query keeps only its lines; long
  // sequences show the chosen query's lines only (T x T lines would swamp the page).
  var HEAD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var NS = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function drawLines() {
    var L = layers[state.layer], svg = $("nv-lines"), i, j, k;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var heads = [];
    if (state.head >= 0) heads.push(state.head); else for (k = 0; k < L.heads; k++) heads.push(k);
    var mats = heads.map(function (hd) { return matrix(state.layer, hd); });
    var vmax = 0;
    mats.forEach(function (m) { vmax = Math.max(vmax, maxOf(m)); });
    vmax = vmax || 1;
    var rowH = 18, colW = 120, gap = 170, w = 2 * colW + gap;
    var h = Math.max(L.tq, L.tk) * rowH + 8;
    svg.setAttribute("width", w); svg.setAttribute("height", h);
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    var many = L.tq * L.tk * heads.length > 20000;
    var only = state.hover !== null ? state.hover : (many ? state.query : null);
    var lines = svgEl("g", {});
    svg.appendChild(lines);
    mats.forEach(function (m, n) {
      var colour = HEAD_COLOURS[heads[n] % HEAD_COLOURS.length];
      for (i = 0; i < L.tq; i++) {
        if (only !== null && i !== only) continue;
        for (j = 0; j < L.tk; j++) {
          var a = m[i * L.tk + j] / vmax;
          if (a < 0.02) continue;
          lines.appendChild(svgEl("line", {
            x1: colW, y1: (i + 0.5) * rowH + 4, x2: colW + gap, y2: (j + 0.5) * rowH + 4,
            stroke: colour, "stroke-opacity": a.toFixed(3), "stroke-width": 2,
            "class": "nv-line", "data-head": heads[n], "data-query": i, "data-key": j
          }));
        }
      }
    });
    for (i = 0; i < L.tq; i++) {
      var q = svgEl("text", {
        x: colW - 6, y: (i + 0.5) * rowH + 8, "text-anchor": "end", "class": "nv-hq",
        "data-index": i
      }, L.qtok[i]);
      if (i === state.query) q.setAttribute("font-weight", "bold");
      svg.appendChild(q);
    }
    for (j = 0; j < L.tk; j++) {
      svg.appendChild(svgEl("text", {
        x: colW + gap + 6, y: (j + 0.5) * rowH + 8, "class": "nv-hk"
      }, L.ktok[j]));
    }
    var legend = $("nv-lines-legend");
    legend.replaceChildren();
    heads.forEach(function (hd) {
      var s = document.createElement("span");
      s.className = "nv-swatch";
      s.style.background = HEAD_COLOURS[hd % HEAD_COLOURS.length];
      legend.appendChild(s);
      legend.appendChild(document.createTextNode("head " + hd + "  "));
    });
    legend.appendChild(document.createTextNode(
      "· line opacity: weight, 0 … " + vmax.toFixed(3) +
      (many && state.hover === null ? " · the chosen query's lines only" : "")));
  }

  function drawThumbs() {
    var box = $("nv-thumbs"), maxHeads = 0, li, h, all = 0;
    layers.forEach(function (L) {
      maxHeads = Math.max(maxHeads, L.heads);
      all = Math.max(all, maxOf(L.values));
    });
    var table = document.createElement("table"), head = document.createElement("tr");
    head.appendChild(document.createElement("th"));
    for (h = 0; h < maxHeads; h++) {
      var th = document.createElement("th"); th.textContent = "head " + h; head.appendChild(th);
    }
    table.appendChild(head);
    for (li = 0; li < layers.length; li++) {
      var L = layers[li], tr = document.createElement("tr"), name = document.createElement("td");
      name.textContent = L.name; tr.appendChild(name);
      for (h = 0; h < L.heads; h++) {
        var td = document.createElement("td"), cv = document.createElement("canvas");
        var m = matrix(li, h), vmax = all || 1, ctx, img, k;
        cv.width = L.tk; cv.height = L.tq; cv.className = "nv-thumb";
        cv.dataset.layer = li; cv.dataset.head = h; cv.title = L.name + ", head " + h;
        ctx = cv.getContext("2d"); img = ctx.createImageData(L.tk, L.tq);
        for (k = 0; k < m.length; k++) {
          var c = colour(D.viridis, m[k], vmax);
          img.data[4 * k] = parseInt(c.substr(1, 2), 16);
          img.data[4 * k + 1] = parseInt(c.substr(3, 2), 16);
          img.data[4 * k + 2] = parseInt(c.substr(5, 2), 16);
          img.data[4 * k + 3] = 255;
        }
        ctx.putImageData(img, 0, 0);
        td.appendChild(cv); tr.appendChild(td);
      }
      table.appendChild(tr);
    }
    box.appendChild(table);
    $("nv-thumbs-vmax").textContent = all.toFixed(3);
  }

  function render() {
    var L = layers[state.layer], m = matrix(state.layer, state.head), vmax = maxOf(m);
    drawMatrix(m, vmax || 1);
    drawText(m, vmax || 1);
    drawLines();
    var thumbs = document.querySelectorAll(".nv-thumb");
    for (var i = 0; i < thumbs.length; i++) {
      var t = thumbs[i], on = +t.dataset.layer === state.layer && +t.dataset.head === state.head;
      t.className = on ? "nv-thumb sel" : "nv-thumb";
    }
    $("nv-info").textContent = L.name + " \u00b7 " + (state.head < 0 ? "mean of heads" :
      "head " + state.head) + " \u00b7 query " + state.query + " '" + L.qtok[state.query] +
      "' \u00b7 largest weight " + vmax.toFixed(3);
    document.body.setAttribute("data-rendered", String(+(document.body.getAttribute(
      "data-rendered") || 0) + 1));
  }

  layers.forEach(function (L, i) { option($("nv-layer"), i, L.name); });
  $("nv-layer").addEventListener("change", function (e) {
    state.layer = +e.target.value; fillControls(); render();
  });
  $("nv-head").addEventListener("change", function (e) { state.head = +e.target.value; render(); });
  $("nv-query").addEventListener("change", function (e) {
    state.query = +e.target.value; render();
  });
  $("nv-text").addEventListener("click", function (e) {
    var i = e.target.dataset ? e.target.dataset.index : undefined;
    if (i !== undefined && layers[state.layer].tq === layers[state.layer].tk) {
      state.query = +i; $("nv-query").value = state.query; render();
    }
  });
  $("nv-thumbs").addEventListener("click", function (e) {
    if (!e.target.dataset || e.target.dataset.layer === undefined) return;
    state.layer = +e.target.dataset.layer; state.head = +e.target.dataset.head;
    $("nv-layer").value = state.layer; fillControls(); render();
  });
  $("nv-lines").addEventListener("mouseover", function (e) {
    var i = e.target.getAttribute && e.target.getAttribute("data-index");
    if (i !== null && i !== undefined && state.hover !== +i) { state.hover = +i; drawLines(); }
  });
  $("nv-lines").addEventListener("mouseleave", function () {
    if (state.hover !== null) { state.hover = null; drawLines(); }
  });
  $("nv-lines").addEventListener("click", function (e) {
    var i = e.target.getAttribute && e.target.getAttribute("data-index");
    if (i !== null && i !== undefined) {
      state.query = +i; $("nv-query").value = state.query; render();
    }
  });
  var cv = $("nv-matrix"), tip = $("nv-tip");
  function cellAt(e) {
    var g = state.geom, L = layers[state.layer], r = cv.getBoundingClientRect();
    var j = Math.floor((e.clientX - r.left - g.left) / g.cell);
    var i = Math.floor((e.clientY - r.top - g.top) / g.cell);
    return (i >= 0 && j >= 0 && i < L.tq && j < L.tk) ? [i, j] : null;
  }
  cv.addEventListener("mousemove", function (e) {
    var c = cellAt(e), L = layers[state.layer];
    if (!c) { tip.style.display = "none"; return; }
    tip.textContent = L.qtok[c[0]] + " \u2192 " + L.ktok[c[1]] + ": " +
      state.geom.m[c[0] * L.tk + c[1]].toFixed(4);
    tip.style.left = (e.clientX + 12) + "px"; tip.style.top = (e.clientY + 12) + "px";
    tip.style.display = "block";
  });
  cv.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  cv.addEventListener("click", function (e) {
    var c = cellAt(e);
    if (c) { state.query = c[0]; $("nv-query").value = state.query; render(); }
  });
  drawThumbs();
  fillControls();
  render();
})();
