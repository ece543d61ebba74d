// The architecture graph page's script (keras_nnviz/plot/architecture.py).
(function(){
var D=JSON.parse(document.getElementById('nv-data').textContent);
var byId={};D.nodes.forEach(function(n){byId[n.id]=n;});
var open={};var selected=null;var tools=null;var last=null;
function show(id){var n=byId[id];var box=document.getElementById('nv-info');box.textContent='';
 var rows=[['layer',n.id],['type',n.type],['output shape',n.shape],
  ['parameters',n.params.toLocaleString()]];
 if(n.group){rows.push(['inside',n.group]);}
 var dl=document.createElement('dl');rows.forEach(function(r){var dt=document.createElement('dt');
  dt.textContent=r[0];var dd=document.createElement('dd');dd.textContent=r[1];
  dl.appendChild(dt);dl.appendChild(dd);});box.appendChild(dl);}
function draw(){var k=tools.key(open,last);var svg=D.svgs[k];if(svg===undefined){svg=D.svgs[D.fallback];}
 var host=document.getElementById('nv-graph');
 host.replaceChildren(new DOMParser().parseFromString(svg,'image/svg+xml').documentElement);
 host.querySelectorAll('.nv-node,.nv-group').forEach(function(el){
  el.addEventListener('click',function(ev){ev.stopPropagation();
   var g=el.getAttribute('data-group');
   if(g&&(el.classList.contains('nv-group')||el.classList.contains('nv-closed'))){
    open[g]=!open[g];last=g;draw();return;}
   selected=el.getAttribute('data-id');show(selected);draw();});
  if(selected&&el.getAttribute('data-id')===selected){el.classList.add('nv-selected');}});
 if(tools){tools.decorate();}
 document.body.setAttribute('data-rendered',String(+(document.body.getAttribute('data-rendered')||0)+1));}
var tools=nvGraphTools(function(bar){var w=document.getElementById('nv-wrap');
 w.parentNode.insertBefore(bar,w);},document.getElementById('nv-graph'),D,{
 openTo:function(id){tools.ancestors(id).forEach(function(g){open[g]=true;});
  last=tools.ancestors(id)[0]||null;draw();},
 openAll:function(flag){D.groups.forEach(function(g){open[g]=flag;});last=null;draw();},
 select:function(id){selected=id;show(id);draw();}});
draw();
})();
