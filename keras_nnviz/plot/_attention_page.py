"""The body of the page behind :func:`keras_nnviz.plot.attention_html`.

The body's one user string, the title, is filled in escaped; :func:`keras_nnviz.html.document`
assembles the page with its style sheet and script, package data files (``assets/attention.css``,
``assets/attention.js``). The script is plain ES5-style JavaScript with no libraries (nothing to
fetch): it decodes the float32 weights from base64, draws the matrix and the layer × head
thumbnails on canvases, shades the tokens, and redraws on every change of layer, head or query.
``body[data-rendered]`` counts the renders, which the browser tests wait on.
"""

BODY = """<h1 id="nv-title">{title}</h1>
<div class="nv-controls">
  <label>Layer <select id="nv-layer"></select></label>
  <label>Head <select id="nv-head"></select></label>
  <label>Query token <select id="nv-query"></select></label>
  <span id="nv-info"></span>
</div>
<div class="nv-main">
  <div class="nv-panel">
    <h2>Attention matrix
      <small>rows: queries, columns: keys; click a row to pick the query</small></h2>
    <canvas id="nv-matrix"></canvas>
    <div class="nv-bar"><span>0</span><div id="nv-gradient" class="nv-gradient"></div>
      <span id="nv-vmax"></span></div>
  </div>
  <div class="nv-panel nv-textpanel">
    <h2>Tokens
      <small>shaded by attention from the query (outlined), on the matrix's scale; click one
      to pick it</small></h2>
    <div id="nv-text"></div>
    <div class="nv-bar"><span>0</span><div id="nv-text-gradient" class="nv-gradient"></div>
      <span id="nv-text-vmax"></span></div>
  </div>
</div>
<div class="nv-panel">
  <h2>Head view
    <small>queries left, keys right; hover a query for its lines, click it to pick it; choose
    "mean of heads" to see every head in its colour</small></h2>
  <svg id="nv-lines" xmlns="http://www.w3.org/2000/svg"></svg>
  <div id="nv-lines-legend" class="nv-bar"></div>
</div>
<div class="nv-panel">
  <h2>All layers and heads
    <small>one colour scale for all, 0 &hellip; <span id="nv-thumbs-vmax"></span> (viridis, as
    the matrix); click to open</small></h2>
  <div id="nv-thumbs"></div>
</div>
<div id="nv-tip"></div>
"""
