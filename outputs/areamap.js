/* pucha area map: phone tools and the 摸底 (listing) mode. Inlined into every area
   HTML by pucha.outputs.webmap; works from file:// with no network. Reads
   window.PUCHA_AREA = {map, area, village, plan_people, pph, gcj, buildings:[{id, n, y, x,
   wy, wx, fl, p}]}. Records stay in this browser (localStorage) until exported. */
document.addEventListener('DOMContentLoaded', function () {
  'use strict';
  var A = window.PUCHA_AREA, M = window[A.map];
  var STAT = ['已核实', '空置', '拆除', '在建', '非住宅', '无法进入'];
  var KEY = 'pucha-listing:' + A.area, byN = {}, byId = {};
  A.buildings.forEach(function (b) { byN[b.n] = b; byId[b.id] = b; });
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function say(t) { var m = $('pucha-msg'); m.textContent = t; m.style.display = t ? 'block' : 'none';
    if (t) { clearTimeout(say.t); say.t = setTimeout(function () { say(''); }, 4000); } }

  /* ---- header: collapsed on phones (under 12% of the screen) ---- */
  var head = $('pucha-head');
  if (window.innerWidth < 1000 || window.innerHeight < 700) { head.classList.add('min'); }

  /* ---- layout: the legend stacks above the attribution; the 摸底 bar above both ---- */
  function layout() {
    var corner = document.querySelector('.leaflet-bottom.leaflet-right'), lg = $('pucha-legend');
    if (corner && lg && lg.parentNode !== corner) {
      corner.insertBefore(lg, corner.firstChild); lg.classList.add('leaflet-control');
      L.DomEvent.disableClickPropagation(lg);
    }
    var top = window.innerHeight;
    ['.leaflet-control-attribution', '.leaflet-control-scale'].forEach(function (s) {
      var e = document.querySelector(s); if (e) { top = Math.min(top, e.getBoundingClientRect().top); }
    });
    $('pucha-lstbar').style.bottom = (window.innerHeight - top + 4) + 'px';
  }
  layout(); window.addEventListener('resize', layout);

  /* ---- labels without collisions: numbers first (route order), moved aside with a
     leader line when they would cover one another, hidden at this zoom when no place is
     free; neighbour codes shrink to their 3 digits, then hide ---- */
  function hits8(r, d) {
    var out = [[0, 0]];
    [1, 2].forEach(function (k) {
      var a = (r * k) + d;
      [[0, -a], [a, 0], [0, a], [-a, 0], [a, -a], [a, a], [-a, a], [-a, -a]].forEach(function (o) {
        out.push(o);
      });
    });
    return out;
  }
  function meets(a, b) { return a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b; }
  function rect(e) { var r = e.getBoundingClientRect();
    return {l: r.left, r: r.right, t: r.top, b: r.bottom}; }
  function moved(r, dx, dy) { return {l: r.l + dx, r: r.r + dx, t: r.t + dy, b: r.b + dy}; }
  function declutter() {
    /* reset, then read every box once, place in memory, then write (one layout) */
    var sel = document.body.classList.contains('pucha-lst-on') ? '.pucha-hit' : '.pucha-num';
    var nums = Array.prototype.slice.call(document.querySelectorAll(sel));
    var nbs = Array.prototype.slice.call(document.querySelectorAll('.pucha-nb'));
    var fixed = Array.prototype.slice.call(document.querySelectorAll('.pucha-start'));
    nums.forEach(function (e) { e.style.transform = ''; e.style.visibility = '';
      var l = e.querySelector('.pucha-lead'); if (l) { l.remove(); } });
    nbs.forEach(function (e) { e.style.visibility = ''; e.classList.remove('short'); });
    nums.sort(function (a, b) { return parseInt(a.textContent, 10) - parseInt(b.textContent, 10) ||
      (a.textContent < b.textContent ? -1 : 1); });
    var nb = nums.map(rect), nbb = nbs.map(rect), nbshort = nbs.map(function (e) {
      var c = e.querySelector('b'); return c ? rect(c) : null; });
    var placed = fixed.map(rect);
    var W = window.innerWidth, H = window.innerHeight, todo = [];
    nums.forEach(function (e, k) {
      var b0 = nb[k], w = b0.r - b0.l;
      if (b0.r < 0 || b0.l > W || b0.b < 0 || b0.t > H) { return; }  /* off screen */
      var cand = hits8(w, 2), ok = null;
      for (var i = 0; i < cand.length && !ok; i++) {
        var bb = moved(b0, cand[i][0], cand[i][1]);
        if (!placed.some(function (p) { return meets(p, bb); })) { ok = [cand[i], bb]; }
      }
      if (!ok) { todo.push([e, null, w]); return; }
      placed.push(ok[1]); todo.push([e, ok[0], w]);
    });
    var nbdo = [];
    nbs.forEach(function (e, k) {
      var bb = nbb[k];
      if (placed.some(function (p) { return meets(p, bb); })) {
        bb = nbshort[k];
        if (!bb || placed.some(function (p) { return meets(p, bb); })) { nbdo.push([e, 'hide']); return; }
        nbdo.push([e, 'short']);
      }
      placed.push(bb);
    });
    todo.forEach(function (t) {
      var e = t[0], o = t[1], w = t[2];
      if (!o) { e.style.visibility = 'hidden'; return; }
      var dx = o[0], dy = o[1];
      if (!dx && !dy) { return; }
      e.style.transform = 'translate(' + dx + 'px,' + dy + 'px)';
      var len = Math.sqrt(dx * dx + dy * dy) - w / 2, ang = Math.atan2(-dy, -dx) * 180 / Math.PI;
      var lead = el('i', {'class': 'pucha-lead'});
      lead.style.width = Math.max(0, len) + 'px';
      lead.style.transform = 'rotate(' + ang + 'deg)';
      e.appendChild(lead);
    });
    nbdo.forEach(function (t) {
      if (t[1] === 'hide') { t[0].style.visibility = 'hidden'; } else { t[0].classList.add('short'); }
    });
  }
  M.on('zoomend moveend', declutter);
  window.addEventListener('resize', declutter);
  declutter();

  /* ---- GPS: show once, or follow ---- */
  var mk = null, circ = null, watch = null;
  function shift(lat, lon) {
    if (A.gcj && window.puchaGcj) { var s = window.puchaGcj(lon, lat); return [s[1], s[0]]; }
    return [lat, lon];
  }
  function show(p, pan) {
    var ll = shift(p.coords.latitude, p.coords.longitude);
    if (mk) { M.removeLayer(mk); M.removeLayer(circ); }
    circ = L.circle(ll, {radius: p.coords.accuracy || 20, color: '#0a0', weight: 1,
      fillOpacity: 0.1, interactive: false}).addTo(M);
    mk = L.circleMarker(ll, {radius: 7, color: '#fff', weight: 2, fillColor: '#0a0',
      fillOpacity: 1, interactive: false}).addTo(M);
    if (pan) { M.setView(ll, Math.max(M.getZoom(), 17)); }
  }
  function gpsErr(e) { say('无法定位：' + e.message); }
  var GOPT = {enableHighAccuracy: true, timeout: 15000, maximumAge: 30000};
  $('pucha-follow').addEventListener('click', function (ev) {
    ev.preventDefault(); ev.stopPropagation();
    var b = $('pucha-follow');
    if (watch !== null) { navigator.geolocation.clearWatch(watch); watch = null;
      b.classList.remove('on'); say('已停止跟随'); return; }
    if (!navigator.geolocation) { say('此设备不支持定位'); return; }
    b.classList.add('on'); say('跟随我的位置');
    watch = navigator.geolocation.watchPosition(function (p) { show(p, true); }, gpsErr, GOPT);
  });

  /* ---- find a building by its number; next building along the route ---- */
  var cur = 0, hl = null;
  function go(n) {
    var b = byN[n];
    if (!b) { say('没有编号 ' + n + ' 的建筑（1–' + A.buildings.length + '）'); return false; }
    cur = n;
    if (hl) { M.removeLayer(hl); }
    hl = L.circleMarker([b.y, b.x], {radius: 18, color: '#ff0', weight: 5, fill: false,
      interactive: false}).addTo(M);
    M.setView([b.y, b.x], Math.max(M.getZoom(), 18));
    say(n + ' 号 · ' + (b.name || '建筑') + ' · ' + (b.p === null ? '—' : b.p) + ' 人');
    return true;
  }
  $('pucha-next').addEventListener('click', function (ev) {
    ev.preventDefault(); ev.stopPropagation();
    go(cur >= A.buildings.length ? 1 : cur + 1);
  });
  $('pucha-find').addEventListener('click', function (ev) {
    ev.preventDefault(); ev.stopPropagation();
    var f = $('pucha-findbox'); f.classList.toggle('open');
    if (f.classList.contains('open')) { $('pucha-findnum').focus(); }
  });
  $('pucha-findbox').addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (go(parseInt($('pucha-findnum').value, 10))) { $('pucha-findbox').classList.remove('open'); }
  });

  /* ---- 摸底: records in localStorage ---- */
  function device() {
    var d = localStorage.getItem('pucha-device');
    if (!d) {
      var a = new Uint8Array(8); (window.crypto || window.msCrypto).getRandomValues(a);
      d = Array.prototype.map.call(a, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
      localStorage.setItem('pucha-device', d);
    }
    return d;
  }
  function load() { try { return JSON.parse(localStorage.getItem(KEY) || '{}').records || []; }
    catch (e) { return []; } }
  function store(recs) { localStorage.setItem(KEY, JSON.stringify({records: recs})); }
  function rkey(r) { var p = r.properties, c = r.geometry.coordinates;
    return p.building_id !== null ? 'b:' + p.building_id : 'n:' + c[0].toFixed(6) + ',' + c[1].toFixed(6); }
  function pad(x) { return (x < 10 ? '0' : '') + x; }
  function stamp(d) {
    var o = -d.getTimezoneOffset(), s = o >= 0 ? '+' : '-'; o = Math.abs(o);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + s +
      pad(Math.floor(o / 60)) + ':' + pad(o % 60);
  }
  function unshift(lat, lon) {  /* GCJ-02 map position -> WGS84 (two fixed-point steps) */
    if (!(A.gcj && window.puchaGcj)) { return [lat, lon]; }
    var wl = lon, wa = lat;
    for (var i = 0; i < 3; i++) { var s = window.puchaGcj(wl, wa); wl += lon - s[0]; wa += lat - s[1]; }
    return [wa, wl];
  }
  function put(rec) {
    var recs = load(), k = rkey(rec), out = [];
    recs.forEach(function (r) { if (rkey(r) !== k) { out.push(r); } });
    out.push(rec); store(out); refresh();
  }
  function people(p) {
    if (p.status === '拆除') { return 0; }
    if (p.people !== null) { return p.people; }
    if (p.households !== null) { return Math.round(p.households * A.pph); }
    return (p.status === '空置' || p.status === '非住宅') ? 0 : null;
  }

  /* ---- the tap targets and the progress line ---- */
  M.createPane('puchaLst'); M.getPane('puchaLst').style.zIndex = 650;
  var hits = L.layerGroup(), news = L.layerGroup(), on = false, placing = false;
  function refresh() {
    var recs = load(), seen = {}, ppl = 0, n = 0;
    recs.forEach(function (r) {
      var p = r.properties, q = people(p);
      if (p.building_id !== null && byId[p.building_id]) { seen[p.building_id] = p.status; }
      if (q !== null) { ppl += q; } else if (p.building_id !== null && byId[p.building_id] &&
        byId[p.building_id].p !== null) { ppl += byId[p.building_id].p; }
    });
    n = Object.keys(seen).length;
    var added = recs.filter(function (r) { return r.properties.building_id === null; }).length;
    $('pucha-prog').textContent = '已走访 ' + n + '/' + A.buildings.length + ' 栋' +
      (added ? ' · 新增 ' + added + ' 栋' : '') + ' · 已登记 ' + ppl + ' 人 / 计划 ' +
      A.plan_people + ' 人';
    hits.clearLayers(); news.clearLayers();
    A.buildings.forEach(function (b) {
      var s = seen[b.id], cls = 'pucha-hit' + (s ? ' done' : '');
      var m = L.marker([b.y, b.x], {pane: 'puchaLst', icon: L.divIcon({className: 'pucha-hiticon',
        html: '<div class="' + cls + '" data-n="' + b.n + '">' + b.n + '</div>', iconSize: [0, 0]})});
      m.on('click', function () { form(b, null); });
      hits.addLayer(m);
    });
    recs.forEach(function (r) {
      if (r.properties.building_id !== null) { return; }
      var c = r.geometry.coordinates, ll = shift(c[1], c[0]);
      var m = L.marker(ll, {pane: 'puchaLst', icon: L.divIcon({className: 'pucha-hiticon',
        html: '<div class="pucha-hit new">+</div>', iconSize: [0, 0]})});
      m.on('click', function () { form(null, r); });
      news.addLayer(m);
    });
    if (on) { declutter(); }
  }
  function setMode(v) {
    on = v; document.body.classList.toggle('pucha-lst-on', on); layout();
    $('pucha-listing').classList.toggle('on', on);
    if (on) { hits.addTo(M); news.addTo(M); refresh(); } else { M.removeLayer(hits); M.removeLayer(news); }
    declutter();
  }
  $('pucha-listing').addEventListener('click', function (ev) {
    ev.preventDefault(); ev.stopPropagation(); setMode(!on);
  });
  $('pucha-add').addEventListener('click', function (ev) {
    ev.preventDefault(); ev.stopPropagation();
    placing = !placing; $('pucha-add').classList.toggle('on', placing);
    say(placing ? '点击地图上新建筑的位置' : '');
  });
  M.on('popupopen', function (e) {  /* in 摸底 mode a tapped building opens its form */
    if (!on || placing) { return; }
    var td = e.popup.getElement() && e.popup.getElement().querySelector('.pucha-pop td + td');
    var b = td && byN[parseInt(td.textContent, 10)];
    if (b) { M.closePopup(e.popup); form(b, null); }
  });
  M.on('click', function (e) {
    if (!on || !placing) { return; }
    placing = false; $('pucha-add').classList.remove('on'); say('');
    var w = unshift(e.latlng.lat, e.latlng.lng);
    form(null, {type: 'Feature', geometry: {type: 'Point', coordinates:
      [Math.round(w[1] * 1e7) / 1e7, Math.round(w[0] * 1e7) / 1e7]}, properties: null});
  });

  /* ---- the form ---- */
  var FIELDS = [['dwellings', '住房单元'], ['households', '户数'], ['people', '人数'],
    ['floors', '层数（与图不同时填）']];
  function form(b, rec) {
    var f = $('pucha-form'), old = null;
    if (b) {
      load().forEach(function (r) { if (r.properties.building_id === b.id) { old = r.properties; } });
      $('pucha-form-title').textContent = b.n + ' 号 · ' + (b.name || '建筑') +
        (b.fl ? ' · 图上 ' + b.fl + ' 层' : '');
    } else {
      old = rec.properties;
      $('pucha-form-title').textContent = '新增建筑（图上没有）';
    }
    f.elements.status.value = old ? old.status : '';
    FIELDS.forEach(function (x) { f.elements[x[0]].value = old && old[x[0]] !== null ? old[x[0]] : ''; });
    f.elements.note.value = old && old.note ? old.note : '';
    f._b = b; f._rec = rec; f.classList.add('open'); $('pucha-form-err').textContent = '';
  }
  $('pucha-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var f = $('pucha-form'), p = {building_id: f._b ? f._b.id : null, area_code: A.area};
    p.status = f.elements.status.value;
    if (STAT.indexOf(p.status) < 0) { $('pucha-form-err').textContent = '请选择状态'; return; }
    for (var i = 0; i < FIELDS.length; i++) {
      var v = f.elements[FIELDS[i][0]].value.trim();
      if (v !== '' && !/^[0-9]{1,5}$/.test(v)) { $('pucha-form-err').textContent =
        FIELDS[i][1] + ' 请填不小于 0 的整数'; return; }
      p[FIELDS[i][0]] = v === '' ? null : parseInt(v, 10);
    }
    if (p.floors === 0) { p.floors = null; }
    var note = f.elements.note.value.trim().slice(0, 200);
    p.note = note || null; p.recorded_at = stamp(new Date()); p.device = device();
    var c = f._b ? [f._b.wx, f._b.wy] : f._rec.geometry.coordinates;
    put({type: 'Feature', geometry: {type: 'Point', coordinates: c}, properties: p});
    f.classList.remove('open'); say('已保存');
  });
  $('pucha-form-cancel').addEventListener('click', function () { $('pucha-form').classList.remove('open'); });

  /* ---- export / import of one GeoJSON file ---- */
  $('pucha-export').addEventListener('click', function (ev) {
    ev.preventDefault();
    var d = new Date(), recs = load();
    var name = A.area + '_' + d.getFullYear() + pad(d.getMonth() + 1) + pad(d.getDate()) + '-' +
      pad(d.getHours()) + pad(d.getMinutes()) + pad(d.getSeconds()) + '.geojson';
    var doc = {type: 'FeatureCollection', pucha_listing: 1, area_code: A.area,
      exported_at: stamp(d), features: recs};
    var url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 1)], {type: 'application/geo+json'}));
    var a = el('a', {href: url, download: name}); document.body.appendChild(a); a.click();
    setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 1000);
    say('已导出 ' + recs.length + ' 条记录：' + name + '，请交给普查指导员');
  });
  $('pucha-import').addEventListener('change', function (ev) {
    var file = ev.target.files[0]; if (!file) { return; }
    var rd = new FileReader();
    rd.onload = function () {
      try {
        var doc = JSON.parse(rd.result), recs = load(), idx = {}, n = 0;
        recs.forEach(function (r, i) { idx[rkey(r)] = i; });
        (doc.features || []).forEach(function (r) {
          if (!r || !r.properties || r.properties.area_code !== A.area) { return; }
          var k = rkey(r);
          if (k in idx) { if (recs[idx[k]].properties.recorded_at >= r.properties.recorded_at) { return; }
            recs[idx[k]] = r; } else { idx[k] = recs.length; recs.push(r); }
          n++;
        });
        store(recs); refresh(); say('已导入 ' + n + ' 条记录');
      } catch (e) { say('文件无法读取：' + e.message); }
      ev.target.value = '';
    };
    rd.readAsText(file);
  });
  if (load().length) { refresh(); }
});
