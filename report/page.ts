/**
 * The page around the sections: styles, the charting library inlined, the charts' data as JSON and
 * the few lines that draw them. A Content-Security-Policy forbids every fetch, so the file renders
 * the same offline, attached to an email or years from now.
 */
import type { ChartSpec } from './charts';
import { html, Html, scriptJson, scriptSource } from './html';

const STYLE = `
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --band: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.muted, .omitted { color: var(--muted); } .omitted { font-style: italic; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; } dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.chart { position: relative; height: 340px; margin: 8px 0 12px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; } th, td { border-bottom: 1px solid var(--line); padding: 3px 10px; text-align: left; }
th { background: var(--band); } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.chosen td, tr.front td { font-weight: 600; } tr.ineligible td { color: var(--muted); }
code { font-size: 12px; } .scroll { max-height: 420px; overflow: auto; }
#report-error { color: #b42318; font-weight: 600; }
.warning { color: #b42318; font-weight: 600; } tr.warn td { background: #fef3f2; }
`;

/**
 * Runs in the page: a tooltip that names the point, a plugin that writes `mark`s beside their
 * points (reference models, the chosen grid point), then one Chart per canvas. Each chart's
 * outcome is written to the body's data attributes, which the browser test reads.
 */
const BOOT = `
(function () {
  var specs = JSON.parse(document.getElementById('report-charts').textContent);
  var defaultLabel = Chart.defaults.plugins.tooltip.callbacks.label;
  Chart.defaults.plugins.tooltip.callbacks.label = function (ctx) {
    var raw = ctx.raw;
    if (raw && typeof raw === 'object' && raw.label) {
      return ctx.dataset.label + ': ' + raw.label + ' (' + (+raw.x.toPrecision(4)) + ', ' + (+raw.y.toPrecision(4)) + ')';
    }
    return defaultLabel.call(this, ctx);
  };
  var marks = {
    id: 'pointMarks',
    afterDatasetsDraw: function (chart) {
      var g = chart.ctx;
      g.save();
      g.font = '12px system-ui, sans-serif';
      g.fillStyle = '#1f2328';
      g.textBaseline = 'middle';
      chart.data.datasets.forEach(function (ds, i) {
        var meta = chart.getDatasetMeta(i);
        if (meta.hidden) return;
        ds.data.forEach(function (p, j) {
          var el = meta.data[j];
          if (!p || !p.mark || !el) return;
          // Beside the point, or before it where the text would leave the plot area.
          var right = el.x + 9 + g.measureText(p.mark).width <= chart.chartArea.right;
          g.textAlign = right ? 'left' : 'right';
          g.fillText(p.mark, right ? el.x + 9 : el.x - 9, el.y - 9);
        });
      });
      g.restore();
    }
  };
  var rendered = 0;
  specs.forEach(function (spec) {
    try {
      spec.config.plugins = [marks];
      new Chart(document.getElementById(spec.id), spec.config);
      rendered++;
    } catch (err) {
      console.error('chart ' + spec.id + ': ' + err);
      document.getElementById('report-error').textContent = 'A chart failed to render: ' + err;
    }
  });
  document.body.dataset.charts = String(specs.length);
  document.body.dataset.chartsRendered = String(rendered);
})();
`;

export interface PageInput {
  title: string;
  body: Html;
  charts: ChartSpec[];
  /** The charting library's browser build (UMD), inlined whole. */
  chartLibrary: string;
}

export function renderPage(p: PageInput): string {
  const csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";
  return `<!doctype html>
${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title}</title>
<style>${new Html(STYLE)}</style>
</head>
<body>
<main>
${p.body}
<p id="report-error" role="alert"></p>
</main>
<script>${new Html(scriptSource(p.chartLibrary))}</script>
<script type="application/json" id="report-charts">${new Html(scriptJson(p.charts))}</script>
<script>${new Html(BOOT)}</script>
</body>
</html>
`}`;
}
