/* kpiengine dashboard: renders the JSON of kpiengine.dashboard.views into the page.
   Charts are Apache ECharts (vendored, inlined in the offline report), drawn with its SVG
   renderer and its `aria` option, which gives every chart a text description of its data.
   No request leaves the page except the dashboard's own /api/ endpoints in live mode.
   All spec text is inserted with textContent, never as HTML. */
(function () {
  'use strict';
  var MODE = document.body.getAttribute('data-mode') || 'report';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var CJK = /[\u3400-\u9fff\uf900-\ufaff]+/g;
  var dark = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : { matches: false };
  var state = { data: null, node: null, params: {}, status: null, charts: [], drill: null, loads: 0 };

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
      if (k === 'text') append(e, label(v));
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
  // Spec text in Chinese inside an English page: mark each CJK run with its language, so screen
  // readers switch voice and browsers pick a CJK font for it.
  function label(text) {
    text = String(text);
    var out = document.createDocumentFragment(), last = 0, m;
    CJK.lastIndex = 0;
    while ((m = CJK.exec(text))) {
      if (m.index > last) out.appendChild(document.createTextNode(text.slice(last, m.index)));
      var span = document.createElement('span');
      span.setAttribute('lang', 'zh');
      span.textContent = m[0];
      out.appendChild(span);
      last = m.index + m[0].length;
    }
    if (last < text.length) out.appendChild(document.createTextNode(text.slice(last)));
    return out;
  }
  function body(id) {
    var b = document.querySelector('#' + id + ' .body');
    while (b.firstChild) b.removeChild(b.firstChild);
    return b;
  }
  function empty(reason) { return h('p', { class: 'empty', text: reason }); }
  function note(text) { return h('p', { class: 'note', text: text }); }
  function isNum(v) { return typeof v === 'number' && isFinite(v); }
  function announce(text) { document.getElementById('status').textContent = text; }
  function badge(status) { return h('span', { class: 'badge ' + status, text: status }); }
  function arrow(change) {
    if (!change || !isNum(change.abs) || change.abs === 0) return '';
    return change.abs > 0 ? '▲ ' : '▼ ';
  }
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function palette() {
    return dark.matches ? ['#58a6ff', '#ff7b72', '#3fb950', '#d2a8ff', '#d29922', '#39c5cf', '#ffa657', '#9da7b3', '#f778ba']
      : ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#9a6700', '#1b7c83', '#bc4c00', '#57606a', '#bf3989'];
  }

  // Axis numbers in one style per axis: the decimals follow the axis's span, never "-0".
  function axisFormatter(unit, lo, hi) {
    var span = Math.abs((hi || 0) - (lo || 0));
    return function (v) {
      if (Math.abs(v) < 1e-12) v = 0;
      if (unit === 'percent') return (v * 100).toFixed(span * 100 < 5 ? 1 : 0) + '%';
      if (unit === 'duration') return fmtDuration(v);
      var a = Math.abs(v);
      if (a >= 1e9) return (v / 1e9).toFixed(1) + 'B';
      if (a >= 1e6) return (v / 1e6).toFixed(span >= 1e7 ? 0 : 1) + 'M';
      if (a >= 1e4) return (v / 1e3).toFixed(span >= 1e5 ? 0 : 1) + 'k';
      return v.toLocaleString('en-US', { maximumFractionDigits: span < 10 ? 2 : span < 100 ? 1 : 0 });
    };
  }
  function fmtDuration(sec) {
    var a = Math.abs(sec), sign = sec < 0 ? '-' : '';
    if (a < 60) return sign + Math.round(a) + 's';
    if (a < 3600) return sign + Math.round(a / 60) + 'm';
    if (a < 86400) return sign + (a / 3600).toFixed(1).replace(/\.0$/, '') + 'h';
    return sign + (a / 86400).toFixed(1).replace(/\.0$/, '') + 'd';
  }
  function fmtValue(v, unit) {
    if (!isNum(v)) return '—';
    if (unit === 'percent') return (v * 100).toFixed(1) + '%';
    if (unit === 'count') return Math.round(v).toLocaleString('en-US');
    if (unit === 'duration') return fmtDuration(v);
    return v.toLocaleString('en-US', { maximumFractionDigits: Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2 });
  }
  function extent(values) {
    var nums = values.filter(isNum);
    return nums.length ? [Math.min.apply(null, nums), Math.max.apply(null, nums)] : [0, 1];
  }

  // ---------------------------------------------------------------- charts (ECharts)
  function chart(el, option, onClick) {
    if (!window.echarts) { el.appendChild(empty('The chart library did not load.')); return null; }
    var c = window.echarts.init(el, dark.matches ? 'dark' : null, { renderer: 'svg' });
    option.backgroundColor = 'transparent';
    option.color = option.color || palette();
    option.textStyle = { fontFamily: css('--font') };
    option.aria = { enabled: true, label: { enabled: true, description: option.ariaDescription } };
    delete option.ariaDescription;
    option.animation = false;  // numbers, not a show: and a screenshot is taken of what is final
    var names = option.legend ? option.series.map(function (sr) { return sr.name; }) : [];
    // The legend is HTML buttons under the chart: they wrap on a phone, never overlap the plot,
    // and a keyboard can toggle each series.
    if (option.legend) option.legend = { show: false };
    c.setOption(option);
    if (onClick) c.on('click', onClick);
    state.charts.push(c);
    el.setAttribute('role', 'img');
    if (names.length > 1) {
      // ECharts hands the palette out in order to the series without a colour of their own
      // (the dashed total is grey): the swatches must follow the same count, or east reads as central.
      var colours = [], next = 0;
      option.series.forEach(function (sr) {
        var own = sr.itemStyle && sr.itemStyle.color;
        colours.push(own || option.color[next++ % option.color.length]);
      });
      var row = h('div', { class: 'legend-row' });
      names.forEach(function (name, i) {
        row.appendChild(h('button', { type: 'button', class: 'series-toggle', 'aria-pressed': 'true',
          onclick: function (ev) {
            var on = ev.currentTarget.getAttribute('aria-pressed') !== 'true';
            ev.currentTarget.setAttribute('aria-pressed', String(on));
            c.dispatchAction({ type: 'legendToggleSelect', name: name });
          } }, [h('span', { class: 'swatch', style: 'background:' + colours[i], 'aria-hidden': 'true' }), label(name)]));
      });
      el.parentNode.insertBefore(row, el.nextSibling);
    }
    return c;
  }
  function disposeCharts() {
    state.charts.forEach(function (c) { c.dispose(); });
    state.charts = [];
  }
  window.addEventListener('resize', function () { state.charts.forEach(function (c) { c.resize(); }); });
  if (dark.addEventListener) dark.addEventListener('change', function () { if (state.data) render(state.data); });

  function sparkline(values, tone, text) {
    var w = 110, hgt = 26, pts = [];
    var nums = values.filter(isNum);
    var svg = s('svg', { class: 'spark', width: w, height: hgt, viewBox: '0 0 ' + w + ' ' + hgt, role: 'img',
      'aria-label': text || 'no trend' });
    if (nums.length < 2) return svg;
    var lo = Math.min.apply(null, nums), hi = Math.max.apply(null, nums);
    if (lo === hi) { lo -= 1; hi += 1; }
    values.forEach(function (v, i) {
      if (isNum(v)) pts.push([2 + i * (w - 4) / (values.length - 1), hgt - 3 - (v - lo) / (hi - lo) * (hgt - 6)]);
    });
    var colour = tone === 'bad' ? css('--bad') : tone === 'good' ? css('--good') : css('--flat');
    var last = pts[pts.length - 1];
    svg.appendChild(s('polyline', { points: pts.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join(' '),
      fill: 'none', stroke: colour, 'stroke-width': 1.5 }));
    svg.appendChild(s('circle', { cx: last[0], cy: last[1], r: 2.5, fill: colour }));
    return svg;
  }
  function sparkText(values, unit, grain) {
    var nums = values.filter(isNum);
    if (nums.length < 2) return 'not enough periods for a trend';
    var r = extent(nums);
    return 'trend over ' + values.length + ' ' + grain + 's: from ' + fmtValue(nums[0], unit) + ' to ' +
      fmtValue(nums[nums.length - 1], unit) + ', low ' + fmtValue(r[0], unit) + ', high ' + fmtValue(r[1], unit);
  }

  function periodLabels(periods) {
    var byValue = {};
    state.data.meta.periods.forEach(function (p) { byValue[p.value] = p.axis || p.label; });
    return periods.map(function (p) { return byValue[p] || p; });
  }

  function trendChart(el, trend, periods) {
    var labels = periodLabels(periods);
    var all = [];
    // a series starts at its first value (`start`, see kpiengine/dashboard/compact.py): pad it back
    var padded = trend.series.map(function (sr) { return new Array(sr.start || 0).fill(null).concat(sr.values); });
    padded.forEach(function (v) { all = all.concat(v); });
    trend.thresholds.forEach(function (t) { all.push(t.value, t.low, t.high); });
    trend.targets.forEach(function (t) { all.push(t.value); });
    var r = extent(all);
    var f = axisFormatter(trend.unit, r[0], r[1]);
    var lines = [];
    trend.thresholds.forEach(function (t) {
      if (isNum(t.value)) lines.push({ yAxis: t.value, name: t.severity + ' ' + t.op + ' ' + f(t.value) + ' (' + t.rule + ')',
        lineStyle: { color: t.severity === 'critical' ? css('--critical') : css('--pending'), type: 'dashed' } });
    });
    trend.targets.forEach(function (t) {
      lines.push({ yAxis: t.value, name: t.name + ' ' + f(t.value), lineStyle: { color: css('--good'), type: 'dashed' } });
    });
    var marks = trend.markers.map(function (m) {
      var i = periods.indexOf(m.period_start);
      return i < 0 ? null : { coord: [i, r[1]], name: 'alert ' + (m.rule || '') + ' fired', symbol: 'triangle', symbolRotate: 180,
        symbolSize: 10, itemStyle: { color: m.severity === 'critical' ? css('--critical') : css('--bad') } };
    }).filter(Boolean);
    var series = trend.series.map(function (sr, i) {
      var total = trend.has_total && i === 0 && trend.series.length > 1;
      return { name: sr.name, type: 'line', data: padded[i], connectNulls: false, showSymbol: padded[i].length < 40, symbolSize: 5,
        lineStyle: { width: total ? 1.5 : 2, type: total ? 'dashed' : 'solid' },
        itemStyle: total ? { color: css('--muted') } : undefined,
        markLine: i === 0 && lines.length ? { symbol: 'none', silent: true, label: { show: false }, data: lines } : undefined,
        markPoint: i === 0 && marks.length ? { data: marks, label: { show: false } } : undefined };
    });
    return chart(el, {
      ariaDescription: trend.label + ' by ' + state.data.meta.grain + ', ' + trend.series.length + ' series.',
      grid: { left: 8, right: 12, top: 12, bottom: 8, containLabel: true },
      legend: trend.series.length > 1 ? {} : undefined,
      tooltip: { trigger: 'axis', confine: true, axisPointer: { type: 'cross', label: { formatter: function (p) {
        return p.axisDimension === 'y' ? f(p.value) : labels[p.value] || p.value; } } },
        valueFormatter: function (v) { return fmtValue(v, trend.unit); } },
      xAxis: { type: 'category', data: labels, boundaryGap: false, axisLabel: { hideOverlap: true, fontSize: 10 } },
      yAxis: { type: 'value', scale: trend.unit !== 'count', axisLabel: { hideOverlap: true, formatter: f, fontSize: 10 } },
      series: series
    }, function (p) {
      if (p.componentType !== 'series') return;
      var sr = trend.series[p.seriesIndex];
      drill(trend.kpi, trend.label, periods[p.dataIndex], sr.dimensions);
    });
  }

  // ---------------------------------------------------------------- panels (the list of views)
  // Each panel: id, title, the view of /api/dashboard it draws, its render function and where it sits
  // ("pair" puts two panels side by side on wide screens). A new view is one entry here and one in
  // kpiengine/dashboard/views.py.
  var PANELS = [
    { id: 'attention', title: 'Needs attention', render: renderAttention },
    { id: 'process', title: 'Process map', hint: 'choose a process to see its KPIs', render: renderProcess },
    { id: 'detail', title: 'Details', render: renderDetail },
    { id: 'rows', title: 'Rows behind the number', render: renderRows },
    { id: 'why', title: 'Why it changed', render: renderWhy, pair: 'a' },
    { id: 'alerts', title: 'Alerts', render: renderAlerts, pair: 'a' },
    { id: 'compare', title: 'Compare periods', render: renderCompare },
    { id: 'funnel', title: 'Funnel', render: renderFunnel },
    { id: 'matrix', title: 'Product matrix', render: renderMatrix, pair: 'b' },
    { id: 'team', title: 'Team', render: renderTeam, pair: 'b' },
    { id: 'trends', title: 'Trends', render: renderTrends }
  ];

  function buildLayout() {
    var main = document.getElementById('main'), nav = document.getElementById('nav');
    if (main.childNodes.length) return;
    var pairs = {};
    PANELS.forEach(function (p) {
      var sec = h('section', { class: 'panel', id: p.id, 'aria-labelledby': p.id + '-h' }, [
        h('h2', { id: p.id + '-h' }, [h('span', { class: 'title', text: p.title }), p.hint ? h('small', { text: p.hint }) : null]),
        h('div', { class: 'body' })]);
      if (p.id === 'rows') sec.hidden = true;
      if (p.pair) {
        if (!pairs[p.pair]) { pairs[p.pair] = h('div', { class: 'grid2' }); main.appendChild(pairs[p.pair]); }
        pairs[p.pair].appendChild(sec);
      } else main.appendChild(sec);
      if (p.id !== 'rows') nav.appendChild(h('a', { href: '#' + p.id, text: p.title }));
    });
    // the Review view is its own printable page (kpiengine/dashboard/review_page.py), served live only
    if (MODE === 'live') nav.appendChild(h('a', { href: '/review', class: 'to-review', text: 'Review' }));
  }
  function setTitle(id, text) { document.querySelector('#' + id + ' h2 .title').textContent = ''; document.querySelector('#' + id + ' h2 .title').appendChild(label(text)); }

  function renderHeader(d) {
    var m = d.meta;
    document.getElementById('title').textContent = m.project + ' — KPI dashboard';
    document.title = m.project + ' — KPI dashboard';
    var txt = m.grain + ' ' + m.current_label + (m.previous ? '  vs  ' + m.previous_label : '') +
      (m.by ? '  ·  by ' + m.by : '') + (m.options.filter ? '  ·  only ' + m.options.filter.replace(/=/g, ' = ') : '') +
      (m.options.where ? '  ·  where ' + m.options.where : '');
    var pl = document.getElementById('period-label');
    pl.textContent = '';
    pl.appendChild(label(txt));
    var src = m.source || {};
    document.getElementById('source').textContent = (src.text || '') + (MODE === 'report' ? '  ·  offline report' : '');
    renderFreshness(m);
    renderControls(m);
  }

  // Which period is shown and why, and which models are stale (docs/periods.md): numbers that are not final say so.
  function renderFreshness(m) {
    var old = document.getElementById('freshness');
    if (old) old.parentNode.removeChild(old);
    var lines = [];
    if (m.period_note) lines.push(h('span', { class: 'period-note' + (m.current_complete ? '' : ' partial'), text: 'Showing ' + m.period_note + '.' }));
    (m.stale || []).forEach(function (t) { lines.push(h('span', { class: 'stale-note', role: 'status', text: '⚠ ' + t })); });
    (m.model_health || []).forEach(function (x) {
      if (x.status === 'ok') return;
      lines.push(h('span', { class: 'health-note ' + x.status, 'data-model': x.model, text: 'Model ' + x.model + ': data check ' +
        (x.status === 'critical' ? 'failing (critical)' : 'failing') + (x.note ? ' — ' + x.note : '') }));
    });
    if (!lines.length) return;
    var box = h('p', { id: 'freshness', class: 'freshness' }, lines);
    var src = document.getElementById('source');
    src.parentNode.insertBefore(box, src.nextSibling);
  }

  function select(name, text, options, value, onchange) {
    var id = 'opt-' + name;
    var sel = h('select', { name: name, id: id, onchange: onchange });
    options.forEach(function (o) {
      var opt = h('option', { value: o[0], text: o[1] });
      if (String(o[0]) === String(value === null || value === undefined ? '' : value)) opt.selected = true;
      sel.appendChild(opt);
    });
    return h('label', { for: id }, [text, sel]);
  }

  function renderControls(m) {
    var c = document.getElementById('controls');
    while (c.firstChild) c.removeChild(c.firstChild);
    if (MODE !== 'live') return;
    c.addEventListener('submit', function (ev) { ev.preventDefault(); });
    // a period of one grain means nothing at another: changing the grain starts from the latest period
    function set(key) {
      return function (ev) {
        state.params[key] = ev.target.value;
        if (key === 'grain') { delete state.params.period; delete state.params.compare; }
        if (key === 'period') delete state.params.compare;
        load();
      };
    }
    var periods = m.periods.slice().reverse().map(function (p) { return [p.value, p.label]; });
    c.appendChild(select('grain', 'Grain', m.grains.map(function (g) { return [g, g]; }), m.grain, set('grain')));
    c.appendChild(select('period', 'Period', periods, m.current, set('period')));
    c.appendChild(select('compare', 'Compare with', periods.filter(function (p) { return p[0] !== m.current; }), m.previous, set('compare')));
    c.appendChild(select('by', 'Breakdown', [['none', 'total only']].concat(m.dimensions.map(function (x) { return [x, x]; })), m.by || 'none', set('by')));
    c.appendChild(select('filter', 'Filter', [['', 'everything']].concat(m.filter_options.map(function (f) { return [f.value, f.label]; })),
      m.options.filter || '', set('filter')));
    // the same SQL filter as `kpi run --where`, over dimension names; a bad one comes back as a banner
    c.appendChild(h('label', { for: 'opt-where' }, ['Where', h('input', { type: 'text', id: 'opt-where', name: 'where',
      value: m.options.where || '', placeholder: "region = 'east'", spellcheck: 'false', onchange: set('where') })]));
    c.appendChild(select('bubble_by', 'Bubbles by', m.dimensions.map(function (x) { return [x, x]; }), m.options.bubble_by, set('bubble_by')));
    c.appendChild(h('label', { for: 'opt-start' }, ['From', h('input', { type: 'date', id: 'opt-start', name: 'start', value: m.options.start || '', onchange: set('start') })]));
    c.appendChild(h('label', { for: 'opt-end' }, ['To', h('input', { type: 'date', id: 'opt-end', name: 'end', value: m.options.end || '', onchange: set('end') })]));
    c.appendChild(h('button', { type: 'button', text: 'Refresh', onclick: function () { load(); } }));
  }

  function renderAttention(d) {
    var b = body('attention'), a = d.attention;
    if (a.alerts_scope === 'as_of') b.appendChild(note(a.alerts_known === false ? 'Alert states of ' + d.meta.current_label +
      ' are unknown: kpi check had not judged that period yet. Only KPI moves are ranked.' :
      'Alert states as they stood in ' + d.meta.current_label + ' (from the alert log).'));
    if (!a.items.length) { b.appendChild(h('p', { class: 'allgood', text: 'Nothing is firing and no final KPI value got worse against ' + d.meta.previous_label + '.' })); return; }
    var ul = h('ul', { class: 'attention' });
    a.items.forEach(function (it) {
      ul.appendChild(h('li', { class: it.status === 'pending' ? 'pending' : '', 'data-kpi': it.kpi },
        h('button', { type: 'button', onclick: function () {
          selectNode(it.process); document.getElementById('detail').scrollIntoView(); document.querySelector('#detail h2').focus();
        } }, [it.status !== 'ok' ? badge(it.status) : null, it.status !== 'ok' ? ' ' : null, label(it.text)])));
    });
    b.appendChild(ul);
    b.appendChild(note('Only final values are ranked: maturing funnel cohorts and partial periods wait until they are complete.' +
      (a.total > a.items.length ? ' ' + (a.total - a.items.length) + ' smaller moves not shown.' : '')));
  }

  function tile(t) {
    var grain = state.data.meta.grain;
    return h('div', { class: 'tile status-' + t.status + (t.state ? ' not-final ' + t.state : '') + (t.health ? ' health-failing' : ''), 'data-kpi': t.kpi,
      'data-counting': t.counting, title: t.state_text || null }, [
      h('div', { class: 'lbl' }, [state.data.meta.alerts_available ? h('span', { class: 'dot ' + t.status, role: 'img', 'aria-label': 'alert status ' + t.status }) : null,
        ' ', label(t.label)]),
      h('div', { class: 'val', text: t.short }),
      h('div', { class: 'chg ' + t.tone, text: arrow(t.change) + t.change.text }),
      t.health ? h('div', { class: 'state health-bad', text: '⚠ ' + t.health }) : null,
      t.state ? h('div', { class: 'state', title: t.counting_text }, [badge(t.state), ' ', t.counting ? 'by ' + t.counting : '']) :
        t.counting ? h('div', { class: 'state note', title: t.counting_text, text: 'counted by ' + t.counting }) : null,
      sparkline(t.spark, t.tone, sparkText(t.spark, t.unit, grain)),
      t.worst ? h('div', { class: 'worst', text: '⚠ ' + t.worst.name + ' ' + t.worst.display + ' (' + t.worst.change.text + ')' }) : null
    ]);
  }

  function nodeCard(p, id) {
    var n = p.nodes[id];
    var card = h('div', { class: 'node status-' + n.status + (state.node === id ? ' selected' : ''), 'data-node': id }, [
      h('button', { type: 'button', class: 'node-head', 'aria-pressed': String(state.node === id),
        onclick: function (ev) { ev.stopPropagation(); selectNode(id); } },
        [h('span', { class: 'dot ' + n.status, role: 'img', 'aria-label': 'status ' + n.status }), label(n.label),
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
      var on = e.getAttribute('data-node') === id;
      e.classList.toggle('selected', on);
      e.querySelector('.node-head').setAttribute('aria-pressed', String(on));
    });
    disposeCharts();
    renderDetail(state.data);
    renderTrends(state.data);
    redrawOtherCharts(state.data);
    announce('Showing the KPIs of ' + state.data.process.nodes[id].label);
  }

  // A table with header cells, a caption and pages of `size` rows.
  function pagedTable(caption, head, rows, size, rowFn) {
    var wrap = h('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': caption });
    var page = 0, pages = Math.max(1, Math.ceil(rows.length / size));
    function draw() {
      while (wrap.firstChild) wrap.removeChild(wrap.firstChild);
      var tbl = h('table', { class: 'data' }, [h('caption', { text: caption }),
        h('thead', null, h('tr', null, head.map(function (c) {
          return h('th', { scope: 'col', class: c.num ? 'num' : null, text: c.text }); })))]);
      var tb = h('tbody');
      rows.slice(page * size, page * size + size).forEach(function (r) { tb.appendChild(rowFn(r)); });
      tbl.appendChild(tb);
      wrap.appendChild(tbl);
      if (pages > 1) {
        wrap.appendChild(h('div', { class: 'pager' }, [
          h('button', { type: 'button', text: 'previous', disabled: page === 0 ? 'disabled' : null, onclick: function () { page--; draw(); } }),
          h('span', { text: 'page ' + (page + 1) + ' of ' + pages + ' (' + rows.length + ' rows)' }),
          h('button', { type: 'button', text: 'next', disabled: page >= pages - 1 ? 'disabled' : null, onclick: function () { page++; draw(); } })]));
      }
    }
    draw();
    return wrap;
  }
  function rowHead(text) { return h('th', { scope: 'row', text: text }); }

  function breakdownTable(t, by, full) {
    var alerts = state.data.meta.alerts_available, grain = state.data.meta.grain;
    var head = [{ text: by }, { text: 'value', num: true }, { text: 'previous', num: true }, { text: 'change', num: true }]
      .concat(alerts ? [{ text: 'alert' }] : []).concat(full ? [] : [{ text: 'trend' }]);
    var rows = full || t.breakdown;
    var caption = t.label + ' by ' + by + (full ? ', all ' + rows.length : t.breakdown_total > rows.length ?
      ': the ' + rows.length + ' worst and largest of ' + t.breakdown_total : '');
    var wrap = h('div', null, pagedTable(caption, head, rows, 25, function (r) {
      if (Array.isArray(r)) r = { name: r[0], display: r[1], previous_display: r[2], change: { text: r[3] }, tone: r[4], status: r[5], state: r[6] };
      return h('tr', { class: r.notable || r.status === 'firing' ? 'bad-row' : null, 'data-name': r.name }, [
        rowHead(r.name), h('td', { class: 'num', text: r.display }), h('td', { class: 'num', text: r.previous_display }),
        h('td', { class: 'num ' + r.tone, text: (r.change.abs !== undefined ? arrow(r.change) : '') + r.change.text + (r.state ? ' (' + r.state + ')' : '') }),
        alerts ? h('td', null, badge(r.status)) : null,
        full ? null : h('td', null, sparkline(r.spark, r.tone, sparkText(r.spark, t.unit, grain)))]);
    }));
    if (!full && t.breakdown_total > t.breakdown.length) {
      wrap.appendChild(h('button', { type: 'button', class: 'link', text: 'show all ' + t.breakdown_total + ' ' + by + ' values',
        onclick: function () { showAll(t, by, wrap); } }));
    }
    return wrap;
  }

  function showAll(t, by, wrap) {
    function put(rows) {
      var full = breakdownTable(t, by, rows);
      wrap.parentNode.replaceChild(full, wrap);
      announce('Showing all ' + rows.length + ' ' + by + ' values of ' + t.label);
    }
    var embedded = state.data.breakdowns && state.data.breakdowns.kpis[t.kpi];
    if (embedded) { put(embedded); return; }
    if (MODE !== 'live') return;
    var q = query({ kpi: t.kpi });
    fetch('/api/breakdown?' + q, { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (j) {
      if (j.kpis && j.kpis[t.kpi]) put(j.kpis[t.kpi]);
    });
  }

  function renderDetail(d) {
    var b = body('detail'), p = d.process;
    var id = defaultNode(p);
    if (!id) { b.appendChild(empty('Choose a process above.')); return; }
    state.node = id;
    var n = p.nodes[id];
    setTitle('detail', 'Details: ' + n.label);
    b.appendChild(h('p', { class: 'note', text: n.path.join('  ›  ') }));
    if (n.description) b.appendChild(h('p', { text: n.description }));
    if (!n.subtree_kpis.length) { b.appendChild(empty('No KPI is measured at this process yet.')); return; }
    var trends = {};
    d.trends.kpis.forEach(function (t) { trends[t.kpi] = t; });
    n.subtree_kpis.forEach(function (k) {
      var t = p.tiles[k];
      var left = h('div', null, [
        h('h3', null, [label(t.label), ' ', d.meta.alerts_available ? badge(t.status) : null, t.state ? ' ' : null, t.state ? badge(t.state) : null]),
        h('div', { class: 'big', text: t.display }),
        h('div', { class: t.tone, text: arrow(t.change) + t.change.text + ' vs ' + d.meta.previous_label + ' (' + t.previous_display + ')' }),
        t.state_text ? h('div', { class: 'meta', text: t.state_text }) : null,
        h('div', { class: 'meta', text: (t.direction === 'lower' ? 'lower is better' : 'higher is better') +
          (t.counting ? ' · counted by cohort (funnel ' + t.funnel + ')' : '') + (t.owner ? ' · owner ' + t.owner : '') +
          (t.formula ? ' · = ' + t.formula : '') }),
        t.description ? h('div', { class: 'meta', text: t.description }) : null,
        t.playbook ? h('div', { class: 'playbook', text: 'Playbook: ' + t.playbook }) : null,
        t.has_data ? (MODE === 'live' ? h('button', { type: 'button', class: 'link', text: 'rows behind ' + d.meta.current_label,
          onclick: function () { drill(k, t.label, d.meta.current, {}); } }) : null)
          : h('div', { class: 'empty', text: d.meta.notes.values || 'no values for this KPI in the chosen range' })
      ]);
      var right = t.breakdown.length ? breakdownTable(t, d.meta.by) : null;
      if (!right && trends[k]) {
        right = h('div', { class: 'chart' });
        b.appendChild(h('div', { class: 'detail-kpi', 'data-kpi': k }, [left, right]));
        trendChart(right, trends[k], d.trends.periods);
        return;
      }
      b.appendChild(h('div', { class: 'detail-kpi', 'data-kpi': k }, [left, right]));
    });
  }

  function renderTrends(d) {
    var b = body('trends'), p = d.process;
    var wanted = state.node && p.nodes[state.node] ? p.nodes[state.node].subtree_kpis : null;
    var cards = [];
    d.trends.kpis.forEach(function (t) {
      if (wanted && wanted.indexOf(t.kpi) < 0) return;
      cards.push(t);
    });
    if (!cards.length) { b.appendChild(empty('No KPI at this process.')); return; }
    b.appendChild(note((wanted ? 'KPIs of ' + p.nodes[state.node].label + '. ' : '') +
      'Hover or tap for every series at a period; click a point for the rows behind it. Dashed lines: thresholds (amber warning, dark red critical) and targets (green); triangles: periods where an alert fired.'));
    var grid = h('div', { class: 'chart-grid' });
    b.appendChild(grid);
    cards.forEach(function (t) {
      var el = h('div', { class: 'chart' });
      grid.appendChild(h('div', { class: 'chart-card', 'data-kpi': t.kpi }, [h('h3', { text: t.label }), el,
        t.hidden_series ? note(t.hidden_series + ' smaller series hidden') : null]));
      trendChart(el, t, d.trends.periods);
    });
  }

  // ---------------------------------------------------------------- funnel
  function funnelControls(fn) {
    if (MODE !== 'live') return null;
    var w = fn.spec_window_seconds, days = [7, 14, 30, 60, 90];
    var opts = [['', 'spec window' + (w ? ' (' + fmtDuration(w) + ')' : '')]].concat(days.map(function (x) { return [x + 'd', x + ' days']; }));
    var current = state.params.funnel_window || '';
    return h('div', { class: 'controls' }, [
      select('funnel_view', 'Count by', [['cohort', 'cohort (entry period)'], ['event', 'event (when it happened)']], fn.view,
        function (ev) { state.params.funnel_view = ev.target.value; load(); }),
      select('funnel_window', 'Conversion window', opts, current, function (ev) { state.params.funnel_window = ev.target.value; load(); })]);
  }

  function renderFunnel(d) {
    var b = body('funnel'), f = d.funnel;
    if (f.empty) { b.appendChild(empty(f.reason)); return; }
    f.funnels.forEach(function (fn) {
      b.appendChild(h('h3', null, [label(fn.label), ' ', h('span', { class: 'counting', text: fn.view + ' view' })]));
      var ctl = funnelControls(fn);
      if (ctl) b.appendChild(ctl);
      b.appendChild(note('Counting: ' + fn.attribution + '; conversion window ' + fn.window_display + '.' +
        (fn.maturing_note ? ' ' + fn.maturing_note + '.' : '')));
      var cols = fn.columns;
      if (!cols.length) { b.appendChild(empty('No funnel data in the chosen range.')); return; }
      var steps = fn.steps.map(function (st) { return st.label + (st.tier ? ' (' + st.tier + ')' : ''); });
      var el = h('div', { class: 'chart' });
      b.appendChild(el);
      chart(el, {
        ariaDescription: fn.label + ': entities per stage, ' + cols.map(function (c) { return c.label; }).join(' and ') + '.',
        grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
        legend: {},
        tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, confine: true },
        xAxis: { type: 'value', splitNumber: 3, axisLabel: { hideOverlap: true, formatter: axisFormatter('count', 0, extent(cols[cols.length - 1].total.map(function (s) { return s.entities; }))[1]), fontSize: 10 } },
        yAxis: { type: 'category', inverse: true, data: steps, axisLabel: { width: 120, overflow: 'break', fontSize: 11 } },
        series: cols.map(function (c) {
          return { name: c.label + (c.maturing ? ' (maturing)' : ''), type: 'bar', data: c.total.map(function (s) { return s.entities; }),
            label: { show: true, position: 'right', fontSize: 10, formatter: function (p) { return fmtValue(p.value, 'count'); } } };
        })
      });
      var cur = cols[cols.length - 1], prev = cols.length > 1 ? cols[0] : null;
      var head = [{ text: 'stage' }, { text: cur.label, num: true }, { text: 'drop-off', num: true }, { text: 'from previous', num: true },
        { text: 'from top', num: true }, { text: 'median time', num: true }].concat(prev ? [{ text: prev.label + ' from previous', num: true }] : []);
      b.appendChild(pagedTable(fn.label + ': stages in ' + cur.label + (cur.maturing ? ' (maturing cohort)' : '') +
        (cur.worst_step !== null ? '; the weakest step is marked' : ''), head, cur.total.map(function (st, i) { return i; }), 25, function (i) {
        var st = cur.total[i], p = prev ? prev.total[i] : null;
        return h('tr', { class: i === cur.worst_step ? 'weakest' : null, 'data-step': st.id }, [
          rowHead(st.label + (st.tier ? ' · ' + st.tier : '') + (i === cur.worst_step ? ' (weakest step)' : '')),
          h('td', { class: 'num', text: st.display }),
          h('td', { class: 'num', text: i ? fmtValue(st.drop_off, 'count') : '—' }),
          h('td', { class: 'num', text: i ? st.from_previous_display : '—' }),
          h('td', { class: 'num', text: st.from_top_display }),
          h('td', { class: 'num', text: st.median_display || '—' }),
          prev ? h('td', { class: 'num', text: i ? p.from_previous_display : '—' }) : null]);
      }));
      countingNotes(fn, cur).forEach(function (n) { b.appendChild(n); });
      if (cur.breakdown.length) {
        var bhead = [{ text: fn.by }].concat(fn.steps.map(function (st, i) { return { text: i ? st.label + ' from previous' : st.label, num: true }; }));
        b.appendChild(pagedTable('Conversion from the step before in ' + cur.label + ', by ' + fn.by +
          '; marked: the step where a value falls furthest below the total', bhead, cur.breakdown, 25, function (r) {
          return h('tr', { 'data-name': r.name }, [rowHead(r.name)].concat(r.rates.map(function (rate, i) {
            var worst = i === r.worst;
            return h('td', { class: 'num' + (worst ? ' worst-cell' : ''), title: worst ? r.worst_gap_display + ' against the total' : null,
              text: i ? rate + (worst ? ' ▼' : '') : r.displays[0] });
          })));
        }));
      }
      if (fn.distribution) {
        b.appendChild(h('h3', { text: 'Time to convert, ' + fn.distribution_label }));
        var del = h('div', { class: 'chart' });
        b.appendChild(del);
        chart(del, {
          ariaDescription: 'Time to convert between stages in ' + fn.distribution_label + ', entities per duration bucket.',
          grid: { left: 8, right: 12, top: 10, bottom: 8, containLabel: true }, legend: {},
          tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, confine: true },
          xAxis: { type: 'category', data: fn.distribution.buckets, axisLabel: { hideOverlap: true, fontSize: 10 } },
          yAxis: { type: 'value', minInterval: 1, axisLabel: { formatter: axisFormatter('count', 0, 100), fontSize: 10 } },
          series: fn.distribution.steps.map(function (st) { return { name: 'to ' + st.label, type: 'bar', data: st.counts }; })
        });
        b.appendChild(note('Entities that reached each stage in ' + fn.distribution_label + ', by the time the step took (from the stage before' +
          (fn.ordered ? '' : ', unordered funnel: from entry') + ').'));
      }
    });
  }

  // The tiles count these stages by event, this panel by cohort: say so next to both numbers.
  function countingNotes(fn, cur) {
    var out = [];
    cur.total.forEach(function (st) {
      ((fn.twins || {})[st.id] || []).forEach(function (tw) {
        if (tw.value === st.entities) return;
        var here = fn.view === 'cohort' ? 'by cohort (entities that entered in ' + cur.label + ' and reached it within ' + fn.window_display + ')'
          : 'by event, each entity once (those that reached it in ' + cur.label + ' within ' + fn.window_display + ' of entering)';
        out.push(h('p', { class: 'note counting-note', 'data-step': st.id, 'data-kpi': tw.kpi }, label(
          'Two counts of ' + st.label + ' in ' + cur.label + ': ' + st.display + ' here, ' + here + '; ' + tw.display +
          ' on the tile ' + tw.label + ', by event (every one that happened in ' + cur.label + ').')));
      });
    });
    return out;
  }

  function renderMatrix(d) {
    var b = body('matrix'), m = d.matrix;
    if (m.empty) { b.appendChild(empty(m.reason)); return; }
    m.funnels.forEach(function (f) {
      b.appendChild(h('h3', null, [label(f.label), ' ', h('span', { class: 'counting', text: f.view + ' view' })]));
      if (f.summary) b.appendChild(h('p', { class: 'matrix-summary', text: f.summary }));
      var head = [{ text: 'tier' }, { text: 'stage' }, { text: 'volume', num: true }, { text: 'conversion', num: true },
        { text: (f.previous_label || 'previous'), num: true }, { text: 'change', num: true }, { text: 'drop-off', num: true }];
      b.appendChild(pagedTable('Product tiers free → brand with the funnel stage each carries, ' + f.period_label +
        (f.weakest_tier ? '; the weakest tier is marked' : ''), head, f.rows, 25, function (r) {
        if (!r.stage) return h('tr', { 'data-tier': r.tier }, [rowHead(r.tier), h('td', { colspan: 6, class: 'note', text: r.note })]);
        return h('tr', { class: r.weakest ? 'weakest' : null, 'data-tier': r.tier }, [rowHead(r.tier + (r.weakest ? ' (weakest)' : '')),
          h('td', { text: r.stage_label }), h('td', { class: 'num', text: r.display }), h('td', { class: 'num', text: r.from_previous_display }),
          h('td', { class: 'num', text: r.previous_display }), h('td', { class: 'num ' + r.tone, text: r.change.text }),
          h('td', { class: 'num', text: r.step ? r.drop_off_display : '—' })]);
      }));
    });
  }

  // ---------------------------------------------------------------- team
  function renderTeam(d) {
    var b = body('team'), t = d.team;
    setTitle('team', 'Team');
    if (t.empty) { b.appendChild(empty(t.reason)); return; }
    setTitle('team', 'Team: ' + t.y.label + ' vs ' + t.x.label + ' by ' + t.by);
    b.appendChild(note(t.period_label + '. One bubble per ' + t.by + (t.group_by ? ', coloured by ' + t.group_by : '') +
      '. Dashed lines are the medians: left of the line needs more visits, below it needs better conversion.'));
    if (d.meta.notes.team_colour) b.appendChild(note(d.meta.notes.team_colour.charAt(0).toUpperCase() + d.meta.notes.team_colour.slice(1) + '.'));
    var groups = t.group_by ? t.groups : ['all'];
    var maxSize = Math.max.apply(null, t.bubbles.map(function (x) { return x.size; }).concat([1]));
    function radius(v) { return 6 + 30 * Math.sqrt(Math.max(0, v) / maxSize); }
    var xr = extent(t.bubbles.map(function (x) { return x.x; })), yr = extent(t.bubbles.map(function (x) { return x.y; }));
    var fx = axisFormatter(t.x.unit, xr[0], xr[1]), fy = axisFormatter(t.y.unit, yr[0], yr[1]);
    var el = h('div', { class: 'chart tall' });
    b.appendChild(el);
    chart(el, {
      ariaDescription: 'Team bubbles: ' + t.y.label + ' against ' + t.x.label + ', ' + t.bubbles.length + ' ' + t.by + ' values.',
      grid: { left: 8, right: 16, top: 34, bottom: 24, containLabel: true },
      legend: groups.length > 1 ? {} : undefined,
      tooltip: { trigger: 'item', confine: true, formatter: function (p) {
        var x = p.data.bubble;
        return x.name + (x.group ? ' (' + t.group_by + ' ' + x.group + ')' : '') + '<br>' + t.x.label + ' ' + x.x_display + '<br>' + t.y.label + ' ' + x.y_display +
          (t.size ? '<br>' + t.size.label + ' ' + x.size_display : '') + '<br>' + t.quadrants[x.quadrant];
      } },
      xAxis: { type: 'value', name: t.x.label, nameLocation: 'middle', nameGap: 24, scale: true, axisLabel: { hideOverlap: true, formatter: fx, fontSize: 10 } },
      yAxis: { type: 'value', name: t.y.label, nameLocation: 'end', nameTextStyle: { align: 'left' }, scale: true,
        axisLabel: { formatter: fy, fontSize: 10 } },
      series: groups.map(function (g, gi) {
        return { name: g, type: 'scatter', data: t.bubbles.filter(function (x) { return !t.group_by || x.group === g; }).map(function (x) {
          return { value: [x.x, x.y], name: x.name, bubble: x, symbolSize: radius(x.size), label: { show: !!x.labelled } };
        }), itemStyle: { opacity: 0.6 }, emphasis: { focus: 'self' },
          label: { formatter: function (p) { return p.data.name; }, position: 'top', fontSize: 10, color: css('--ink') },
          labelLayout: { hideOverlap: true },
          markLine: gi === 0 ? { symbol: 'none', silent: true, lineStyle: { type: 'dashed', color: css('--muted') },
            label: { show: false }, data: [{ xAxis: t.median_x }, { yAxis: t.median_y }] } : undefined };
      })
    }, function (p) {
      if (p.data && p.data.bubble) drill(t.x.kpi, t.x.label, t.period, p.data.bubble.dimensions);
    });
    var legend = h('div', { class: 'legend-row' }, [h('span', { text: 'Medians (dashed): ' + t.x.label + ' ' + t.median_x_display + ', ' +
      t.y.label + ' ' + t.median_y_display + '.' }), h('span', { text: (t.size ? 'Bubble area: ' + t.size.label : 'Bubble size: equal') })]);
    (t.size_legend || []).forEach(function (sz) {
      var r = radius(sz.value);
      legend.appendChild(h('span', null, [h('span', { class: 'size-dot', style: 'width:' + r + 'px;height:' + r + 'px', 'aria-hidden': 'true' }), sz.display]));
    });
    Object.keys(t.quadrants).forEach(function (q) { legend.appendChild(h('span', { text: t.quadrants[q] + ': ' + t.counts[q] })); });
    b.appendChild(legend);
    var order = t.bubbles.slice().sort(function (a, c) { return (c.distance || 0) - (a.distance || 0); });
    var details = h('details', null, [h('summary', { text: 'The ' + t.bubbles.length + ' bubbles as a table' })]);
    details.appendChild(pagedTable('Team, farthest from the medians first', [{ text: t.by }].concat(t.group_by ? [{ text: t.group_by }] : [])
      .concat([{ text: t.x.label, num: true }, { text: t.y.label, num: true }]).concat(t.size ? [{ text: t.size.label, num: true }] : [])
      .concat([{ text: 'quadrant' }]), order, 25, function (x) {
      return h('tr', { 'data-name': x.name }, [h('th', { scope: 'row' }, MODE === 'live' ? h('button', { type: 'button', class: 'link', text: x.name,
        onclick: function () { drill(t.x.kpi, t.x.label, t.period, x.dimensions); } }) : label(x.name))]
        .concat(t.group_by ? [h('td', { text: x.group })] : [])
        .concat([h('td', { class: 'num', text: x.x_display }), h('td', { class: 'num', text: x.y_display })])
        .concat(t.size ? [h('td', { class: 'num', text: x.size_display })] : []).concat([h('td', { text: t.quadrants[x.quadrant] })]));
    }));
    b.appendChild(details);
  }

  // ---------------------------------------------------------------- why, alerts, compare
  function renderWhy(d) {
    var b = body('why'), w = d.why;
    setTitle('why', w.empty ? 'Why it changed' : 'Why ' + w.label + ' changed');
    if (MODE === 'live') {
      b.appendChild(h('div', { class: 'controls' }, select('kpi', 'Explain', [['', 'the worst mover']].concat(d.meta.kpis.map(function (k) {
        return [k.kpi, k.label]; })), d.meta.options.kpi, function (ev) { state.params.kpi = ev.target.value; load(); })));
    }
    if (w.empty) { b.appendChild(empty(w.reason)); return; }
    b.appendChild(h('div', { class: 'why-summary' }, [h('b', { text: w.label + ': ' + w.from_display + ' → ' + w.to_display + ' (' + w.change_text + ')' }),
      note(w.from_label + ' → ' + w.to_label)]));
    if (w.summary) b.appendChild(h('p', { class: 'why-summary', text: w.summary }));
    (w.groups || []).forEach(function (g) {
      var maxAbs = 0;
      g.items.forEach(function (c) { if (isNum(c.value)) maxAbs = Math.max(maxAbs, Math.abs(c.value)); });
      var box = h('div', { class: 'why-group', 'data-kind': g.kind }, [h('h3', { text: g.title }), note(g.note + '; they add up to ' + w.change_text + '.')]);
      g.items.forEach(function (c) {
        var pct = maxAbs ? 50 * Math.abs(c.value) / maxAbs : 0;
        var tone = g.kind === 'driver' ? c.effect_tone : c.tone;
        var bar = h('div', { class: 'why-bar', 'aria-hidden': 'true' }, h('span', { style: (c.value < 0 ? 'right:50%;' : 'left:50%;') + 'width:' + pct + '%;background:' +
          (tone === 'bad' ? css('--bad') : tone === 'good' ? css('--good') : css('--flat')) }));
        var name = g.kind === 'driver' ? [label(c.name), ' ', h('span', { class: c.tone, text: '(' + c.move + ': ' + c.detail + ')' })] : [label(c.name),
          c.effect ? h('span', { class: 'note', text: ' ' + c.effect }) : null];
        box.appendChild(h('div', { class: 'why-row', 'data-name': c.name, 'data-kind': g.kind }, [h('span', null, name), bar,
          h('span', { class: 'num ' + (tone || ''), text: c.display })]));
      });
      b.appendChild(box);
    });
    if (w.method) b.appendChild(note('Method: ' + w.method + '.'));
    (w.notes || []).forEach(function (n) { b.appendChild(h('p', { class: 'note why-note', text: n.charAt(0).toUpperCase() + n.slice(1) + '.' })); });
  }

  function renderAlerts(d) {
    var b = body('alerts'), a = d.alerts;
    if (a.empty) { b.appendChild(empty(a.reason)); return; }
    if (a.scope === 'as_of' && !a.known) {  // no counts of zero for a period nobody judged
      b.appendChild(empty('Unknown for ' + d.meta.current_label + ': kpi check first judged ' + (a.evaluated || 'a later period') +
        ', and the alert log holds no state for earlier periods.'));
      return;
    }
    b.appendChild(note((a.scope === 'as_of' ? 'As of ' + d.meta.current_label + ', replayed from the alert log' +
      (a.known ? '' : ' (kpi check had not judged that period yet: states unknown)') : 'Now (the latest period kpi check judged' +
      (a.evaluated ? ': ' + a.evaluated : '') + ')') + ': ' + a.counts.firing + ' firing · ' + a.counts.pending + ' pending · ' + a.counts.silenced + ' silenced.'));
    if (a.active.length) {
      b.appendChild(pagedTable('Alerts firing and pending', [{ text: 'state' }, { text: 'rule' }, { text: 'severity' }, { text: 'KPI' }, { text: 'where' },
        { text: 'value', num: true }, { text: 'since' }], a.active, 25, function (r) {
        return h('tr', null, [h('td', null, badge(r.silenced ? 'silenced' : r.state)), h('th', { scope: 'row', text: r.rule }), h('td', null, badge(r.severity)),
          h('td', { text: r.label }), h('td', { text: r.scope }), h('td', { class: 'num', text: r.display }),
          h('td', { text: (r.since || '').slice(0, 16).replace('T', ' ') })]);
      }));
    } else {
      b.appendChild(h('p', { class: 'allgood', text: 'No alert was firing or pending.' }));
    }
    if (a.silences.length) {
      b.appendChild(h('h3', { text: 'Silences' }));
      b.appendChild(pagedTable('Active silences', [{ text: 'matchers' }, { text: 'until' }, { text: 'by' }, { text: 'comment' }], a.silences, 25, function (si) {
        return h('tr', null, [h('th', { scope: 'row', text: JSON.stringify(si.matchers || {}) }), h('td', { text: (si.ends_at || '').slice(0, 16).replace('T', ' ') }),
          h('td', { text: si.created_by || '' }), h('td', { text: si.comment || '' })]);
      }));
    }
  }

  function renderCompare(d) {
    var b = body('compare'), c = d.compare;
    if (c.empty) { b.appendChild(empty(c.reason)); return; }
    setTitle('compare', 'Compare ' + c.current_label + ' with ' + c.previous_label);
    if (MODE === 'live') b.appendChild(note('Pick the second period with "Compare with" at the top.'));
    b.appendChild(pagedTable('Every KPI in both periods' + (d.meta.options.filter ? ', only ' + d.meta.options.filter : ''),
      [{ text: 'KPI' }, { text: c.current_label, num: true }, { text: c.previous_label, num: true }, { text: 'change', num: true }], c.rows, 50, function (r) {
        return h('tr', { 'data-kpi': r.kpi }, [rowHead(r.label), h('td', { class: 'num', text: r.current_display }),
          h('td', { class: 'num', text: r.previous_display }),
          h('td', { class: 'num ' + r.tone, text: arrow(r.change) + r.change.text + (r.state ? ' (' + r.state + ')' : '') })]);
      }));
  }

  // ---------------------------------------------------------------- rows behind a number
  function drill(kpi, text, period, dims, input) {
    if (MODE !== 'live') {
      state.drill = { offline: true, label: text };
    } else {
      state.drill = { kpi: kpi, label: text, period: period, dims: dims || {}, input: input || '' };
    }
    renderRows(state.data);
    var sec = document.getElementById('rows');
    sec.scrollIntoView();
    sec.querySelector('h2').setAttribute('tabindex', '-1');
    sec.querySelector('h2').focus();
  }
  function dimsText(dims) {
    return Object.keys(dims).map(function (k) { return k + '=' + (dims[k] === null ? '∅' : dims[k]); }).join(',');
  }
  function renderRows() {
    var sec = document.getElementById('rows'), b = body('rows'), r = state.drill;
    if (!r) { sec.hidden = true; return; }
    sec.hidden = false;
    b.appendChild(h('button', { type: 'button', class: 'link', text: 'close', onclick: function () { state.drill = null; renderRows(); } }));
    if (r.offline) { b.appendChild(empty('The rows behind ' + r.label + ' come from the warehouse: open this view with `kpi serve`.')); return; }
    var q = query({ kpi: r.kpi, period: r.period, dims: dimsText(r.dims), input: r.input });
    b.appendChild(note('Loading the rows behind ' + r.label + '…'));
    fetch('/api/rows?' + q, { cache: 'no-store' }).then(function (res) { return res.json().then(function (j) { return [res.ok, j]; }); }).then(function (res) {
      if (state.drill !== r) return;
      b = body('rows');
      b.appendChild(h('button', { type: 'button', class: 'link', text: 'close', onclick: function () { state.drill = null; renderRows(); } }));
      if (!res[0]) { b.appendChild(empty(res[1].error)); return; }
      var j = res[1];
      var where = Object.keys(j.dimensions).map(function (k) { return k + ' ' + j.dimensions[k]; }).join(', ');
      b.appendChild(h('p', null, [label((j.input === j.kpi ? j.label : r.label + ' ← ' + j.label) + ', ' + j.period + (where ? ', ' + where : '') +
        ': model ' + j.model + (j.filter ? ' where ' + j.filter : '') + '. ' + (j.truncated ? 'The first ' + j.limit + ' rows.' : j.rows.length + ' rows.'))]));
      if (j.inputs.length > 1) {
        b.appendChild(h('div', { class: 'controls' }, select('drill_input', 'Rows of', j.inputs.map(function (k) { return [k, k]; }), j.input,
          function (ev) { drill(r.kpi, r.label, r.period, r.dims, ev.target.value); })));
      }
      b.appendChild(h('p', null, h('a', { href: '/api/rows.csv?' + query({ kpi: r.kpi, period: r.period, dims: dimsText(r.dims), input: j.input }),
        download: j.input + '_' + j.period + '.csv', text: 'Download these rows as CSV' })));
      b.appendChild(pagedTable('Rows of ' + j.model, j.columns.map(function (c) { return { text: c }; }), j.rows, 25, function (row) {
        return h('tr', null, row.map(function (v, i) { return i === 0 ? rowHead(v === null ? '∅' : String(v)) : h('td', { text: v === null ? '∅' : String(v) }); }));
      }));
      announce(j.rows.length + ' rows loaded');
    });
  }

  // ---------------------------------------------------------------- render
  function renderError(message) {
    var e = document.getElementById('error');
    e.hidden = !message;
    e.textContent = message || '';
  }

  function redrawOtherCharts(d) {
    renderFunnel(d);
    renderTeam(d);
  }

  function render(d) {
    state.data = d;
    buildLayout();
    disposeCharts();
    renderHeader(d);
    renderAttention(d);
    renderProcess(d);
    state.node = defaultNode(d.process);
    document.querySelectorAll('#process .node').forEach(function (e) {
      var on = e.getAttribute('data-node') === state.node;
      e.classList.toggle('selected', on);
      e.querySelector('.node-head').setAttribute('aria-pressed', String(on));
    });
    PANELS.forEach(function (p) { if (['attention', 'process'].indexOf(p.id) < 0) p.render(d); });
    if (d.funnel && d.funnel.pending) return;  // ready once loadRest filled the pending panels
    document.body.setAttribute('data-ready', String(Date.now()));
    announce('Dashboard for ' + d.meta.current_label + (d.meta.by ? ' by ' + d.meta.by : '') + ' loaded');
  }

  // ---------------------------------------------------------------- live mode
  function query(extra) {
    var q = [], all = {};
    Object.keys(state.params).forEach(function (k) { all[k] = state.params[k]; });
    Object.keys(extra || {}).forEach(function (k) { all[k] = extra[k]; });
    Object.keys(all).forEach(function (k) {
      if (all[k] !== '' && all[k] !== null && all[k] !== undefined) q.push(encodeURIComponent(k) + '=' + encodeURIComponent(all[k]));
    });
    return q.join('&');
  }

  function keepAddress() {
    var qs = query();
    if (window.history && window.history.replaceState) window.history.replaceState(null, '', qs ? '?' + qs : window.location.pathname);
  }

  // A bad option in the address (say ?grain=fortnight) is shown, dropped, and the page loads with its default.
  // The first screen comes first (part=first): "why it changed" and the funnel panels, below the fold
  // and the costliest queries when no stored run covers the address, follow in a second request (loadRest).
  function load(errorText) {
    keepAddress();
    var seq = ++state.loads;
    document.body.setAttribute('data-loading', '1');
    return fetch('/api/dashboard?' + query({ part: 'first' }), { cache: 'no-store' }).then(function (r) {
      return r.json().then(function (j) { return [r.ok, j]; });
    }).then(function (res) {
      if (seq !== state.loads) return;  // a newer choice is loading: its answer is the one to show
      if (!res[0]) {
        var opt = res[1].option;
        if (opt && state.params[opt] !== undefined) { delete state.params[opt]; return load(res[1].error); }
        document.body.removeAttribute('data-loading');
        renderError(res[1].error || 'the dashboard could not be built');
        return;
      }
      renderError(errorText ? errorText + ' — showing the default instead.' : null);
      render(res[1]);
      state.status = res[1].meta.source && res[1].meta.source.stamp;
      if (res[1].funnel && res[1].funnel.pending) return loadRest(res[1], seq);
      document.body.removeAttribute('data-loading');
    }).catch(function (e) {
      document.body.removeAttribute('data-loading');
      renderError('cannot reach the kpi serve process: ' + e);
    });
  }

  var LATER = ['why', 'funnel', 'matrix'];  // the views of part=rest (kpiengine/dashboard/views.py LATER_VIEWS)

  function loadRest(d, seq) {
    LATER.forEach(function (id) { document.getElementById(id).setAttribute('aria-busy', 'true'); });
    function show() {
      renderWhy(d);
      renderFunnel(d);
      renderMatrix(d);
      LATER.forEach(function (id) { document.getElementById(id).removeAttribute('aria-busy'); });
      document.body.removeAttribute('data-loading');
      document.body.setAttribute('data-ready', String(Date.now()));
      announce('Dashboard for ' + d.meta.current_label + (d.meta.by ? ' by ' + d.meta.by : '') + ' loaded');
    }
    return fetch('/api/dashboard?' + query({ part: 'rest' }), { cache: 'no-store' }).then(function (r) {
      return r.json().then(function (j) { return [r.ok, j]; });
    }).then(function (res) {
      if (seq !== state.loads || state.data !== d) return;
      LATER.forEach(function (id) {
        d[id] = res[0] ? res[1][id] : { empty: true, reason: res[1].error || 'this panel could not be computed' };
      });
      show();
    }).catch(function (e) {
      if (seq !== state.loads) return;
      LATER.forEach(function (id) { d[id] = { empty: true, reason: 'cannot reach the kpi serve process: ' + e }; });
      show();
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
      render(JSON.parse(document.getElementById('dashboard-data').textContent));
    }
  }
  start();
})();
