/* kpiengine dashboard: renders the JSON of kpiengine.dashboard.data into the page.
   Plain JavaScript and inline SVG, no libraries and no network except the
   dashboard's own /api/ endpoints in live mode: the HTML report works offline.
   All spec text is inserted with textContent, never as HTML. */
(function () {
  'use strict';
  var MODE = document.body.getAttribute('data-mode') || 'report';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var PALETTE = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bf8700', '#1b7c83', '#bc4c00', '#6e7781', '#e85aad'];
  var QUAD_COLOURS = { star: '#1a7f37', more_visits: '#0969da', better_conversion: '#bf8700', both: '#cf222e' };
  var state = { data: null, node: null, params: {}, status: null };

  // ---------------------------------------------------------------- helpers
  function h(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function s(tag, attrs, children) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.setAttribute('class', v);
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    });
  }
  function append(e, children) {
    if (children === null || children === undefined) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    });
  }
  function body(id) {
    var b = document.querySelector('#' + id + ' .body');
    while (b.firstChild) b.removeChild(b.firstChild);
    return b;
  }
  function empty(reason) { return h('div', { class: 'empty', text: reason }); }
  function isNum(v) { return typeof v === 'number' && isFinite(v); }

  // Axis numbers: the same rules as kpiengine/dashboard/formatting.py, short form.
  function fmt(v, unit) {
    if (!isNum(v)) return '—';
    if (unit === 'percent') return (v * 100).toFixed(Math.abs(v) < 0.1 ? 1 : 0) + '%';
    if (unit === 'duration') return fmtDuration(v);
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + 'B';
    if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
    if (a >= 100 || unit === 'count') return Math.round(v).toLocaleString('en-US');
    return String(Math.round(v * 100) / 100);
  }
  function fmtDuration(sec) {
    var a = Math.abs(sec), sign = sec < 0 ? '-' : '';
    if (a < 60) return sign + Math.round(a) + 's';
    if (a < 3600) return sign + Math.floor(a / 60) + 'm';
    if (a < 86400) return sign + (a / 3600).toFixed(1) + 'h';
    return sign + (a / 86400).toFixed(1) + 'd';
  }
  function arrow(change) {
    if (!change || !isNum(change.abs) || change.abs === 0) return '';
    return change.abs > 0 ? '▲ ' : '▼ ';
  }
  function badge(status) { return h('span', { class: 'badge ' + status, text: status }); }
  // Axis ticks at 1, 2 or 5 times a power of ten, so axes read 0, 50, 100 rather than 0, 47.3, 94.6.
  function niceTicks(lo, hi, count) {
    var raw = (hi - lo) / (count || 4);
    if (!(raw > 0)) return [lo];
    var mag = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; }).filter(function (st) { return st >= raw; })[0];
    var out = [];
    for (var v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step; v += step) out.push(Math.round(v / step) * step);
    return out;
  }
  function niceRange(lo, hi) {
    if (lo === hi) { lo = lo === 0 ? 0 : lo * 0.9; hi = hi === 0 ? 1 : hi * 1.1; }
    var pad = (hi - lo) * 0.08;
    return [lo >= 0 && lo - pad < 0 ? 0 : lo - pad, hi + pad];
  }

  // ---------------------------------------------------------------- charts
  function sparkline(values, toneClass) {
    var w = 110, hgt = 26, pts = [];
    var nums = values.filter(isNum);
    if (nums.length < 2) return s('svg', { class: 'spark', width: w, height: hgt });
    var lo = Math.min.apply(null, nums), hi = Math.max.apply(null, nums);
    if (lo === hi) { lo -= 1; hi += 1; }
    values.forEach(function (v, i) {
      if (!isNum(v)) return;
      pts.push([2 + i * (w - 4) / (values.length - 1), hgt - 3 - (v - lo) / (hi - lo) * (hgt - 6)]);
    });
    var colour = toneClass === 'bad' ? '#cf222e' : toneClass === 'good' ? '#1a7f37' : '#6e7781';
    var last = pts[pts.length - 1];
    return s('svg', { class: 'spark', width: w, height: hgt, viewBox: '0 0 ' + w + ' ' + hgt }, [
      s('polyline', { points: pts.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join(' '),
        fill: 'none', stroke: colour, 'stroke-width': 1.5 }),
      s('circle', { cx: last[0], cy: last[1], r: 2.5, fill: colour })
    ]);
  }

  function lineChart(trend, periods) {
    var W = 440, H = 190, L = 52, R = 10, T = 12, B = 26;
    var vals = [];
    trend.series.forEach(function (sr) { sr.points.forEach(function (p) { if (isNum(p.value)) vals.push(p.value); }); });
    trend.thresholds.forEach(function (t) { [t.value, t.low, t.high].forEach(function (v) { if (isNum(v)) vals.push(v); }); });
    trend.targets.forEach(function (t) { if (isNum(t.value)) vals.push(t.value); });
    var svg = s('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': trend.label });
    if (!vals.length || !periods.length) {
      svg.appendChild(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', fill: '#6e7781', text: 'no data' }));
      return svg;
    }
    var r = niceRange(Math.min.apply(null, vals), Math.max.apply(null, vals));
    var n = periods.length;
    function x(i) { return L + (n === 1 ? (W - L - R) / 2 : i * (W - L - R) / (n - 1)); }
    function y(v) { return T + (1 - (v - r[0]) / (r[1] - r[0])) * (H - T - B); }
    niceTicks(r[0], r[1], 4).forEach(function (v) {
      svg.appendChild(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#eaeef2' }));
      svg.appendChild(s('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#5b636e',
        text: fmt(v, trend.unit) }));
    });
    [0, Math.floor((n - 1) / 2), n - 1].filter(function (i, j, a) { return a.indexOf(i) === j; }).forEach(function (i) {
      var anchor = n > 1 && i === 0 ? 'start' : n > 1 && i === n - 1 ? 'end' : 'middle';
      svg.appendChild(s('text', { x: x(i), y: H - 8, 'text-anchor': anchor, 'font-size': 10, fill: '#5b636e',
        text: periods[i].slice(5) }));
    });
    // the current period: a light band so the eye finds "now"
    svg.appendChild(s('rect', { x: x(n - 1) - 4, y: T, width: 8, height: H - T - B, fill: '#0969da', opacity: 0.08 }));
    trend.markers.forEach(function (m) {
      var i = periods.indexOf(m.period_start);
      if (i < 0) return;
      var col = m.severity === 'critical' ? '#82071e' : '#cf222e';
      svg.appendChild(s('line', { x1: x(i), x2: x(i), y1: T, y2: H - B, stroke: col, 'stroke-dasharray': '2,3', opacity: 0.6 }));
      svg.appendChild(s('path', { d: 'M' + (x(i) - 5) + ',' + T + ' l10,0 l-5,8 z', fill: col, class: 'alert-marker' },
        s('title', { text: 'alert fired: ' + (m.rule || '') + ' ' + JSON.stringify(m.dimensions || {}) })));
    });
    trend.thresholds.forEach(function (t) {
      var col = t.severity === 'critical' ? '#82071e' : '#bf8700';
      if (isNum(t.low) && isNum(t.high)) {
        svg.appendChild(s('rect', { x: L, width: W - L - R, y: y(t.high), height: Math.max(1, y(t.low) - y(t.high)),
          fill: col, opacity: 0.08 }, s('title', { text: t.severity + ' band ' + fmt(t.low, trend.unit) + ' – ' + fmt(t.high, trend.unit) })));
      }
      if (isNum(t.value)) {
        svg.appendChild(s('line', { x1: L, x2: W - R, y1: y(t.value), y2: y(t.value), stroke: col, 'stroke-dasharray': '5,3' },
          s('title', { text: t.severity + ' ' + t.op + ' ' + fmt(t.value, trend.unit) })));
        svg.appendChild(s('text', { x: W - R - 2, y: y(t.value) - 3, 'text-anchor': 'end', 'font-size': 9, fill: col,
          text: t.severity + ' ' + t.op + ' ' + fmt(t.value, trend.unit) }));
      }
    });
    trend.targets.forEach(function (t) {
      svg.appendChild(s('line', { x1: L, x2: W - R, y1: y(t.value), y2: y(t.value), stroke: '#1a7f37', 'stroke-dasharray': '8,3' },
        s('title', { text: t.name + ' ' + fmt(t.value, trend.unit) })));
      svg.appendChild(s('text', { x: L + 4, y: y(t.value) - 3, 'font-size': 9, fill: '#1a7f37', text: t.name + ' ' + fmt(t.value, trend.unit) }));
    });
    trend.series.forEach(function (sr, si) {
      var col = seriesColour(trend, si), totalLine = trend.has_total && si === 0 && trend.series.length > 1;
      var d = '', pen = false;
      sr.points.forEach(function (p, i) {
        if (!isNum(p.value)) { pen = false; return; }
        d += (pen ? 'L' : 'M') + x(i).toFixed(1) + ',' + y(p.value).toFixed(1);
        pen = true;
      });
      svg.appendChild(s('path', { d: d, fill: 'none', stroke: col, 'stroke-width': totalLine ? 1.5 : 2,
        'stroke-dasharray': totalLine ? '4,2' : null, class: 'series' }, s('title', { text: sr.name })));
      var last = sr.points[sr.points.length - 1];
      if (last && isNum(last.value)) {
        svg.appendChild(s('circle', { cx: x(n - 1), cy: y(last.value), r: 3, fill: col },
          s('title', { text: sr.name + ': ' + fmt(last.value, trend.unit) })));
      }
    });
    return svg;
  }

  // With a breakdown the total of a rate is drawn grey and dashed behind its segments.
  function seriesColour(trend, si) {
    if (trend.series.length < 2) return PALETTE[0];
    if (trend.has_total) return si === 0 ? '#57606a' : PALETTE[(si - 1) % PALETTE.length];
    return PALETTE[si % PALETTE.length];
  }

  function legend(trend) {
    if (trend.series.length < 2) return null;
    return h('div', { class: 'legend' }, trend.series.map(function (sr, si) {
      return h('span', { style: '--c:' + seriesColour(trend, si), text: sr.name });
    }));
  }

  function bubbleChart(t) {
    var W = 640, H = 400, L = 60, R = 16, T = 16, B = 40;
    var xs = t.bubbles.map(function (b) { return b.x; }), ys = t.bubbles.map(function (b) { return b.y; });
    var xr = niceRange(Math.min.apply(null, xs), Math.max.apply(null, xs));
    var yr = niceRange(Math.min.apply(null, ys), Math.max.apply(null, ys));
    var ySpan = yr[1] - yr[0];
    yr[1] += ySpan * 0.1;  // room for the quadrant captions above and below the bubbles
    yr[0] -= ySpan * 0.1;
    var maxSize = Math.max.apply(null, t.bubbles.map(function (b) { return b.size; })) || 1;
    function x(v) { return L + (v - xr[0]) / (xr[1] - xr[0]) * (W - L - R); }
    function y(v) { return T + (1 - (v - yr[0]) / (yr[1] - yr[0])) * (H - T - B); }
    var svg = s('svg', { class: 'chart bubbles', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'team bubble chart' });
    niceTicks(xr[0], xr[1], 5).forEach(function (xv) {
      svg.appendChild(s('text', { x: x(xv), y: H - B + 14, 'text-anchor': 'middle', 'font-size': 10, fill: '#5b636e', text: fmt(xv, t.x.unit) }));
    });
    niceTicks(yr[0], yr[1], 5).filter(function (yv) { return yv >= 0 || Math.min.apply(null, ys) < 0; }).forEach(function (yv) {
      svg.appendChild(s('text', { x: L - 4, y: y(yv) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#5b636e', text: fmt(yv, t.y.unit) }));
    });
    svg.appendChild(s('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: '#8c959f' }));
    svg.appendChild(s('line', { x1: L, x2: L, y1: T, y2: H - B, stroke: '#8c959f' }));
    svg.appendChild(s('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', 'font-size': 12, fill: '#1f2328', text: t.x.label + ' →' }));
    svg.appendChild(s('text', { x: 14, y: (T + H - B) / 2, 'text-anchor': 'middle', 'font-size': 12, fill: '#1f2328',
      transform: 'rotate(-90 14 ' + (T + H - B) / 2 + ')', text: t.y.label + ' →' }));
    // quadrant lines at the medians
    svg.appendChild(s('line', { x1: x(t.median_x), x2: x(t.median_x), y1: T, y2: H - B, stroke: '#57606a', 'stroke-dasharray': '6,4', class: 'median' }));
    svg.appendChild(s('line', { x1: L, x2: W - R, y1: y(t.median_y), y2: y(t.median_y), stroke: '#57606a', 'stroke-dasharray': '6,4', class: 'median' }));
    svg.appendChild(s('text', { x: x(t.median_x) + 3, y: T + 10, 'font-size': 10, fill: '#57606a', text: 'median ' + t.median_x_display }));
    svg.appendChild(s('text', { x: W - R - 2, y: y(t.median_y) - 3, 'text-anchor': 'end', 'font-size': 10, fill: '#57606a', text: 'median ' + t.median_y_display }));
    var corners = { more_visits: [L + 6, T + 14, 'start'], star: [W - R - 6, T + 14, 'end'],
      both: [L + 6, H - B - 6, 'start'], better_conversion: [W - R - 6, H - B - 6, 'end'] };
    Object.keys(corners).forEach(function (q) {
      var c = corners[q];
      svg.appendChild(s('text', { x: c[0], y: c[1] + (q === 'star' || q === 'more_visits' ? 12 : 0), 'text-anchor': c[2], 'font-size': 11,
        fill: QUAD_COLOURS[q], 'font-weight': 600, text: t.quadrants[q] + ' (' + t.counts[q] + ')' }));
    });
    t.bubbles.forEach(function (b) {
      var rad = 4 + 16 * Math.sqrt(Math.max(0, b.size) / maxSize);
      var g = s('g', { class: 'bubble', 'data-name': b.name, 'data-quadrant': b.quadrant });
      g.appendChild(s('circle', { cx: x(b.x), cy: y(b.y), r: rad, fill: QUAD_COLOURS[b.quadrant], 'fill-opacity': 0.35,
        stroke: QUAD_COLOURS[b.quadrant] }, s('title', { text: b.name + ': ' + t.x.label + ' ' + b.x_display + ', ' +
        t.y.label + ' ' + b.y_display + (t.size ? ', ' + t.size.label + ' ' + b.size_display : '') })));
      if (b.labelled) g.appendChild(s('text', { x: x(b.x), y: y(b.y) - rad - 2, 'text-anchor': 'middle', 'font-size': 10, fill: '#1f2328', text: b.name }));
      svg.appendChild(g);
    });
    return svg;
  }

  // ---------------------------------------------------------------- panels
  function renderHeader(d) {
    var m = d.meta;
    document.getElementById('title').textContent = m.project + ' — KPI dashboard';
    document.title = m.project + ' — KPI dashboard';
    var txt = m.grain + ' ' + m.current_label + (m.previous ? '  vs  ' + m.previous_label : '') +
      (m.by ? '  ·  by ' + m.by : '');
    document.getElementById('period-label').textContent = txt;
    var src = m.source || {};
    document.getElementById('source').textContent = (src.text || '') + (MODE === 'report' ? '  ·  offline report' : '');
    renderControls(m);
  }

  function select(name, label, options, value, onchange) {
    var sel = h('select', { name: name, onchange: onchange });
    options.forEach(function (o) {
      var opt = h('option', { value: o[0], text: o[1] });
      if (String(o[0]) === String(value === null || value === undefined ? '' : value)) opt.selected = true;
      sel.appendChild(opt);
    });
    return h('label', null, [label, sel]);
  }

  function renderControls(m) {
    var c = document.getElementById('controls');
    while (c.firstChild) c.removeChild(c.firstChild);
    if (MODE !== 'live') return;
    // a period of one grain means nothing at another: changing the grain starts from the latest period
    function set(key) { return function (ev) { state.params[key] = ev.target.value; if (key === 'grain') delete state.params.period; load(); }; }
    c.appendChild(select('grain', 'Grain', m.grains.map(function (g) { return [g, g]; }), m.grain, set('grain')));
    c.appendChild(select('period', 'Period', m.periods.slice().reverse().map(function (p) { return [p.value, p.label]; }), m.current, set('period')));
    c.appendChild(select('by', 'Breakdown', [['none', 'total only']].concat(m.dimensions.map(function (x) { return [x, x]; })), m.by || 'none', set('by')));
    c.appendChild(select('bubble_by', 'Bubbles by', m.dimensions.map(function (x) { return [x, x]; }), m.options.bubble_by, set('bubble_by')));
    c.appendChild(h('label', null, ['From', h('input', { type: 'date', name: 'start', value: m.options.start || '', onchange: set('start') })]));
    c.appendChild(h('label', null, ['To', h('input', { type: 'date', name: 'end', value: m.options.end || '', onchange: set('end') })]));
    c.appendChild(h('button', { type: 'button', text: 'Refresh', onclick: function () { load(); } }));
  }

  function renderAttention(d) {
    var b = body('attention'), a = d.attention;
    if (!a.items.length) { b.appendChild(h('div', { class: 'allgood', text: 'Nothing is firing and no KPI got worse against ' + d.meta.previous_label + '.' })); return; }
    var ul = h('ul', { class: 'attention' });
    a.items.forEach(function (it) {
      ul.appendChild(h('li', { class: it.status === 'pending' ? 'pending' : '', 'data-kpi': it.kpi,
        onclick: function () { selectNode(it.process); document.getElementById('detail').scrollIntoView(); } },
        [it.status !== 'ok' ? badge(it.status) : null, it.text]));
    });
    b.appendChild(ul);
    if (a.total > a.items.length) b.appendChild(h('div', { class: 'note', text: (a.total - a.items.length) + ' smaller moves not shown' }));
  }

  function tile(t) {
    return h('div', { class: 'tile status-' + t.status, 'data-kpi': t.kpi, title: t.description || t.label }, [
      h('div', { class: 'lbl' }, [state.data.meta.alerts_available ? h('span', { class: 'dot ' + t.status, title: 'alert status: ' + t.status }) : null, ' ', t.label]),
      h('div', { class: 'val', text: t.short }),
      h('div', { class: 'chg ' + t.tone, text: arrow(t.change) + t.change.text }),
      sparkline(t.spark.map(function (p) { return p.value; }), t.tone),
      t.worst ? h('div', { class: 'worst', title: (state.data.meta.by || '') + ' ' + t.worst.name + ': ' + t.worst.display + ', ' +
        t.worst.change.text + ' vs previous (' + t.worst.previous_display + ')',
        text: '⚠ ' + t.worst.name + ' ' + t.worst.display + ' (' + t.worst.change.text + ')' }) : null
    ]);
  }

  function nodeCard(p, id) {
    var n = p.nodes[id];
    var card = h('div', { class: 'node status-' + n.status + (state.node === id ? ' selected' : ''), 'data-node': id,
      tabindex: 0, role: 'button', 'aria-label': n.label,
      onclick: function (ev) { ev.stopPropagation(); selectNode(id); },
      onkeydown: function (ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); ev.stopPropagation(); selectNode(id); } } }, [
      h('div', { class: 'node-head' }, [h('span', { class: 'dot ' + n.status }), n.label,
        h('span', { class: 'level', text: 'L' + n.level }),
        n.attention ? h('span', { class: 'attn', text: n.attention + ' need attention' }) : null]),
      n.kpis.length ? h('div', { class: 'tiles' }, n.kpis.map(function (k) { return tile(p.tiles[k]); })) : null
    ]);
    var kids = n.children.filter(function (c) { return p.nodes[c]; });
    if (kids.length) card.appendChild(h('div', { class: 'children' }, kids.map(function (c) { return nodeCard(p, c); })));
    return card;
  }

  function renderProcess(d) {
    var b = body('process'), p = d.process;
    if (!p.roots.length) { b.appendChild(empty('The spec has no process map and no KPIs.')); return; }
    p.roots.forEach(function (r) { b.appendChild(h('div', { class: 'tree-root' }, nodeCard(p, r))); });
  }

  function defaultNode(p) {
    if (state.node && p.nodes[state.node]) return state.node;
    if (state.params.node && p.nodes[state.params.node]) return state.params.node;
    var att = state.data.attention.items[0];
    if (att && att.process && p.nodes[att.process]) return att.process;
    return p.roots[0];
  }

  function selectNode(id) {
    if (!id || !state.data.process.nodes[id]) return;
    state.node = id;
    if (MODE === 'live') { state.params.node = id; keepAddress(); }
    document.querySelectorAll('#process .node').forEach(function (e) {
      e.classList.toggle('selected', e.getAttribute('data-node') === id);
    });
    renderDetail(state.data);
    renderTrends(state.data);
  }

  function breakdownTable(t, by) {
    var alerts = state.data.meta.alerts_available;
    var tbl = h('table', { class: 'data breakdown' }, h('tr', null, [h('th', { text: by }), h('th', { class: 'num', text: 'value' }),
      h('th', { class: 'num', text: 'previous' }), h('th', { class: 'num', text: 'change' }), alerts ? h('th', { text: 'alert' }) : null,
      h('th', { text: 'trend' })]));
    t.breakdown.forEach(function (r) {
      tbl.appendChild(h('tr', { class: r.notable || r.status === 'firing' ? 'bad-row' : '', 'data-name': r.name }, [
        h('td', { text: r.name }), h('td', { class: 'num', text: r.display }), h('td', { class: 'num', text: r.previous_display }),
        h('td', { class: 'num ' + r.tone, text: arrow(r.change) + r.change.text }), alerts ? h('td', null, badge(r.status)) : null,
        h('td', null, sparkline(r.spark, r.tone))]));
    });
    return tbl;
  }

  function renderDetail(d) {
    var b = body('detail'), p = d.process;
    var id = defaultNode(p);
    if (!id) { b.appendChild(empty('Click a process above.')); return; }
    state.node = id;
    var n = p.nodes[id];
    b.appendChild(h('div', { class: 'note', text: n.path.join('  ›  ') }));
    if (n.description) b.appendChild(h('div', { text: n.description }));
    if (!n.subtree_kpis.length) { b.appendChild(empty('No KPI is measured at this process yet.')); return; }
    var trends = {};
    d.trends.kpis.forEach(function (t) { trends[t.kpi] = t; });
    n.subtree_kpis.forEach(function (k) {
      var t = p.tiles[k];
      var left = h('div', null, [
        h('div', { style: 'font-weight:600' }, [t.label, ' ', d.meta.alerts_available ? badge(t.status) : null]),
        h('div', { class: 'big', text: t.display }),
        h('div', { class: t.tone, text: arrow(t.change) + t.change.text + ' vs ' + d.meta.previous_label + ' (' + t.previous_display + ')' }),
        h('div', { class: 'meta', text: (t.direction === 'lower' ? 'lower is better' : 'higher is better') + (t.owner ? ' · owner ' + t.owner : '') +
          (t.formula ? ' · = ' + t.formula : '') }),
        t.description ? h('div', { class: 'meta', text: t.description }) : null,
        t.playbook ? h('div', { class: 'playbook', text: 'Playbook: ' + t.playbook }) : null,
        t.has_data ? null : h('div', { class: 'empty', text: d.meta.notes.values || 'no values for this KPI in the chosen range' })
      ]);
      var right = t.breakdown.length ? breakdownTable(t, d.meta.by) :
        (trends[k] ? h('div', null, [lineChart(trends[k], d.trends.periods), legend(trends[k])]) : null);
      b.appendChild(h('div', { class: 'detail-kpi', 'data-kpi': k }, [left, right]));
    });
    document.querySelector('#detail h2').textContent = 'Details: ' + n.label;
  }

  function renderTrends(d) {
    var b = body('trends'), p = d.process;
    var wanted = state.node && p.nodes[state.node] ? p.nodes[state.node].subtree_kpis : null;
    var grid = h('div', { class: 'chart-grid' });
    d.trends.kpis.forEach(function (t) {
      if (wanted && wanted.indexOf(t.kpi) < 0) return;
      grid.appendChild(h('div', { class: 'chart-card', 'data-kpi': t.kpi }, [h('h3', { text: t.label }), lineChart(t, d.trends.periods), legend(t),
        t.hidden_series ? h('div', { class: 'note', text: t.hidden_series + ' smaller series hidden' }) : null]));
    });
    if (!grid.childNodes.length) { b.appendChild(empty('No KPI at this process.')); return; }
    b.appendChild(h('div', { class: 'note', text: (wanted ? 'KPIs of ' + p.nodes[state.node].label + '. ' : '') +
      'Dashed lines: thresholds (amber warning, dark red critical) and targets (green); red triangles: periods where an alert fired.' }));
    b.appendChild(grid);
  }

  function funnelColumn(col, maxTop) {
    var c = h('div', { class: 'funnel-col', 'data-period': col.period }, h('h3', { text: col.label }));
    col.total.forEach(function (st, i) {
      var width = maxTop && isNum(st.entities) ? Math.max(1, 100 * st.entities / maxTop) : 0;
      c.appendChild(h('div', { class: 'funnel-step', 'data-step': st.id }, [
        h('div', { class: 'cap' }, [h('span', { text: st.label }), st.tier ? h('span', { class: 'tier', text: st.tier }) : null]),
        h('div', { class: 'barrow' }, [h('div', { class: 'bar', style: 'width:' + (width * 0.8) + '%' }), h('span', { class: 'n', text: st.display })]),
        i > 0 ? h('div', { class: 'conv', text: st.from_previous_display + ' of previous step · ' + st.from_top_display + ' of top' +
          (st.median_display ? ' · median ' + st.median_display : '') }) : null
      ]));
    });
    return c;
  }

  function renderFunnel(d) {
    var b = body('funnel'), f = d.funnel;
    if (f.empty) { b.appendChild(empty(f.reason)); return; }
    f.funnels.forEach(function (fn) {
      b.appendChild(h('h3', { text: fn.label }));
      if (fn.attribution) b.appendChild(h('div', { class: 'note', text: 'Counting: ' + fn.attribution + '.' }));
      var maxTop = 0;
      fn.columns.forEach(function (c) { if (c.total[0] && isNum(c.total[0].entities)) maxTop = Math.max(maxTop, c.total[0].entities); });
      b.appendChild(h('div', { class: 'funnel-cols' }, fn.columns.map(function (c) { return funnelColumn(c, maxTop); })));
      var cur = fn.columns[fn.columns.length - 1];
      if (cur && cur.breakdown.length) {
        var head = [h('th', { text: fn.by })].concat(fn.steps.slice(1).map(function (st) { return h('th', { class: 'num', text: st.label || st.id }); }));
        var tbl = h('table', { class: 'data' }, h('tr', null, head));
        cur.breakdown.forEach(function (r) {
          tbl.appendChild(h('tr', null, [h('td', { text: r.name })].concat(r.stages.slice(1).map(function (st) {
            return h('td', { class: 'num', text: st.from_previous_display }); }))));
        });
        b.appendChild(h('div', { class: 'note', text: 'Conversion from the step before, ' + cur.label + ', by ' + fn.by }));
        b.appendChild(tbl);
      }
    });
  }

  function renderTeam(d) {
    var b = body('team'), t = d.team;
    document.querySelector('#team h2').textContent = 'Team';
    if (t.empty) { b.appendChild(empty(t.reason)); return; }
    document.querySelector('#team h2').textContent = 'Team: ' + t.y.label + ' vs ' + t.x.label + ' by ' + t.by;
    b.appendChild(h('div', { class: 'note', text: t.period_label + '. One bubble per ' + t.by + (t.size ? ', size = ' + t.size.label : '') +
      '. Dashed lines are the medians: left of the line needs more visits, below it needs better conversion.' }));
    b.appendChild(bubbleChart(t));
  }

  function renderWhy(d) {
    var b = body('why'), w = d.why;
    document.querySelector('#why h2').textContent = w.empty ? 'Why it changed' : 'Why ' + w.label + ' changed';
    if (MODE === 'live') {
      b.appendChild(h('div', { class: 'controls' }, select('kpi', 'Explain', [['', 'the worst mover']].concat(d.meta.kpis.map(function (k) {
        return [k.kpi, k.label]; })), d.meta.options.kpi, function (ev) { state.params.kpi = ev.target.value; load(); })));
    }
    if (w.empty) { b.appendChild(empty(w.reason)); return; }
    b.appendChild(h('div', { class: 'why-summary' }, [h('b', { text: w.label + ': ' + w.from_display + ' → ' + w.to_display + ' (' + w.change_text + ')' }),
      h('div', { class: 'note', text: w.from_label + ' → ' + w.to_label })]));
    if (w.summary) b.appendChild(h('div', { class: 'why-summary', text: w.summary }));
    var maxAbs = 0;
    w.contributions.forEach(function (c) { if (isNum(c.value)) maxAbs = Math.max(maxAbs, Math.abs(c.value)); });
    w.contributions.forEach(function (c) {
      var pct = maxAbs ? 50 * Math.abs(c.value) / maxAbs : 0;
      var bar = h('div', { class: 'why-bar' }, h('span', { style: (c.value < 0 ? 'right:50%;' : 'left:50%;') + 'width:' + pct + '%;background:' +
        (c.tone === 'bad' ? '#cf222e' : c.tone === 'good' ? '#1a7f37' : '#8c959f') }));
      b.appendChild(h('div', { class: 'why-row', 'data-name': c.name }, [h('span', { text: c.name }), bar, h('span', { class: 'num ' + (c.tone || ''), text: c.display })]));
    });
  }

  function renderAlerts(d) {
    var b = body('alerts'), a = d.alerts;
    if (a.empty) { b.appendChild(empty(a.reason)); return; }
    b.appendChild(h('div', { class: 'note', text: a.counts.firing + ' firing · ' + a.counts.pending + ' pending · ' + a.counts.silenced + ' silenced' }));
    if (a.active.length) {
      var tbl = h('table', { class: 'data' }, h('tr', null, ['state', 'severity', 'KPI', 'where', 'value', 'since'].map(function (x) { return h('th', { text: x }); })));
      a.active.forEach(function (r) {
        tbl.appendChild(h('tr', { title: r.message }, [h('td', null, badge(r.silenced ? 'silenced' : r.state)), h('td', null, badge(r.severity)),
          h('td', { text: r.label }), h('td', { text: r.scope }), h('td', { class: 'num', text: r.display }), h('td', { text: (r.since || '').slice(0, 16).replace('T', ' ') })]));
      });
      b.appendChild(tbl);
    } else {
      b.appendChild(h('div', { class: 'allgood', text: 'No alert is firing or pending.' }));
    }
    if (a.silences.length) {
      b.appendChild(h('h3', { text: 'Silences' }));
      var st = h('table', { class: 'data' }, h('tr', null, ['matchers', 'until', 'by', 'comment'].map(function (x) { return h('th', { text: x }); })));
      a.silences.forEach(function (si) {
        st.appendChild(h('tr', null, [h('td', { text: JSON.stringify(si.matchers || {}) }), h('td', { text: (si.ends_at || '').slice(0, 16).replace('T', ' ') }),
          h('td', { text: si.created_by || '' }), h('td', { text: si.comment || '' })]));
      });
      b.appendChild(st);
    }
  }

  function renderError(message) {
    var b = body('attention');
    b.appendChild(h('div', { class: 'empty error', style: 'color:#cf222e;font-style:normal', text: message }));
  }

  function render(d) {
    state.data = d;
    renderHeader(d);
    renderAttention(d);
    renderProcess(d);
    state.node = defaultNode(d.process);
    document.querySelectorAll('#process .node').forEach(function (e) {
      e.classList.toggle('selected', e.getAttribute('data-node') === state.node);
    });
    renderDetail(d);
    renderFunnel(d);
    renderTeam(d);
    renderWhy(d);
    renderAlerts(d);
    renderTrends(d);
    document.body.setAttribute('data-ready', String(Date.now()));
  }

  // ---------------------------------------------------------------- live mode
  function query() {
    var q = [];
    Object.keys(state.params).forEach(function (k) {
      if (state.params[k] !== '' && state.params[k] !== null && state.params[k] !== undefined) q.push(encodeURIComponent(k) + '=' + encodeURIComponent(state.params[k]));
    });
    return q.join('&');
  }

  function keepAddress() {
    var qs = query();
    if (window.history && window.history.replaceState) window.history.replaceState(null, '', qs ? '?' + qs : window.location.pathname);
  }

  function load() {
    var qs = query();
    keepAddress();
    document.body.setAttribute('data-loading', '1');
    return fetch('/api/dashboard' + (qs ? '?' + qs : ''), { cache: 'no-store' }).then(function (r) {
      return r.json().then(function (j) { return [r.ok, j]; });
    }).then(function (res) {
      document.body.removeAttribute('data-loading');
      if (!res[0]) { renderError(res[1].error || 'the dashboard could not be built'); return; }
      render(res[1]);
      state.status = res[1].meta.source && res[1].meta.source.stamp;
    }).catch(function (e) {
      document.body.removeAttribute('data-loading');
      renderError('cannot reach the kpi serve process: ' + e);
    });
  }

  // A new `kpi run` (or a spec edit) changes the stamp: reload the data when it does.
  function watch() {
    fetch('/api/status', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (st) {
      if (state.status !== null && st.stamp !== state.status) load();
    }).catch(function () { /* server stopped: keep showing the last data */ });
  }

  function start() {
    if (MODE === 'live') {
      var usp = new URLSearchParams(window.location.search);
      usp.forEach(function (v, k) { state.params[k] = v; });
      load();
      setInterval(watch, 15000);
    } else {
      var node = document.getElementById('dashboard-data');
      render(JSON.parse(node.textContent));
    }
  }
  start();
})();
