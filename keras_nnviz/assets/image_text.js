// The image-text hover view's script (keras_nnviz/plot/crossmodal.py): draws the image on a
// canvas and, while a phrase is hovered or focused, that phrase's map over it (inferno colours, opaque in proportion to the map).
// body[data-shown] names the phrase drawn ("" for the bare image): the browser tests read it.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("nv-data").textContent);
  function bytes(b64) {
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  var W = D.width, H = D.height, pixels = bytes(D.image);
  var maps = D.phrases.map(function (p) { return bytes(p.map); });
  var canvas = document.getElementById("nv-image"), ctx = canvas.getContext("2d");
  var buffer = document.createElement("canvas");
  buffer.width = W; buffer.height = H;
  var bctx = buffer.getContext("2d");

  function draw(k) {
    var img = bctx.createImageData(W, H), a = D.alpha, i, v, c, w;
    for (i = 0; i < W * H; i++) {
      var r = pixels[3 * i], g = pixels[3 * i + 1], b = pixels[3 * i + 2];
      if (k >= 0) {
        v = maps[k][i]; c = D.lut[v]; w = a * v / 255;
        r = (1 - w) * r + w * c[0]; g = (1 - w) * g + w * c[1]; b = (1 - w) * b + w * c[2];
      }
      img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b;
      img.data[4 * i + 3] = 255;
    }
    bctx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(buffer, 0, 0, canvas.width, canvas.height);
    document.body.setAttribute("data-shown", k >= 0 ? D.phrases[k].text : "");
  }

  var list = document.getElementById("nv-phrases");
  D.phrases.forEach(function (p, k) {
    var li = document.createElement("li");
    li.tabIndex = 0;
    var t = document.createElement("span");
    t.className = "nv-text";
    t.textContent = p.text;
    li.appendChild(t);
    if (p.score !== null) {
      var s = document.createElement("span");
      s.className = "nv-score";
      s.textContent = " score " + p.score.toPrecision(3);
      li.appendChild(s);
    }
    function on() {
      Array.prototype.forEach.call(list.children, function (e) { e.classList.remove("nv-on"); });
      li.classList.add("nv-on");
      draw(k);
    }
    function off() { li.classList.remove("nv-on"); draw(-1); }
    li.addEventListener("mouseenter", on);
    li.addEventListener("focus", on);
    li.addEventListener("mouseleave", off);
    li.addEventListener("blur", off);
    list.appendChild(li);
  });
  draw(-1);
}());
