import { createHash } from 'node:crypto'

/**
 * The dashboard's only stylesheet, served as /ui/assets/dashboard.css. It lives in a module, not a
 * .css file, because `tsc -b` copies no assets into dist; the strict CSP forbids inline styles.
 */
export const stylesheet = `
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f7f8fa; --card: #fff; --accent: #3451b2; --danger: #b42318; --ok: #067647; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.top { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; font-size: 16px; color: var(--fg); }
nav { display: flex; gap: 4px; flex: 1; }
nav a { padding: 6px 10px; border-radius: 6px; color: var(--fg); }
nav a[aria-current="page"] { background: #eef2ff; color: var(--accent); font-weight: 600; }
.who { display: flex; align-items: center; gap: 12px; color: var(--muted); }
.who form { margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 16px; }
h2 { font-size: 16px; margin: 28px 0 10px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px; margin-bottom: 16px; }
.card > p:first-child { margin-top: 0; }
.card > p:last-child { margin-bottom: 0; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f2f4f7; font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.memory-text { font-size: 16px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 0 0 12px; }
pre { margin: 0; padding: 10px; background: #f2f4f7; border-radius: 6px; overflow: auto; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 7px; border-radius: 999px; font-size: 11px; font-weight: 600; background: #eef2ff; color: var(--accent); }
.badge.warn { background: #fef0c7; color: #93370d; }
.badge.danger { background: #fee4e2; color: var(--danger); }
.badge.ok { background: #dcfae6; color: var(--ok); }
form.filters { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px 14px; align-items: end; }
form.filters .wide { grid-column: 1 / -1; }
form.filters .span3 { grid-column: span 3; }
form.filters + form.filters { margin-top: 12px; }
form.stack { display: grid; gap: 10px; max-width: 720px; }
label { display: grid; gap: 4px; font-size: 12px; font-weight: 600; color: var(--muted); }
label.check { display: flex; align-items: center; gap: 6px; font-weight: 500; color: var(--fg); font-size: 14px; }
input, select, textarea { font: inherit; font-size: 14px; font-weight: 400; color: var(--fg); padding: 6px 8px; border: 1px solid #d0d5dd; border-radius: 6px; background: #fff; width: 100%; }
input, select { height: 34px; }
input[type="checkbox"] { width: auto; height: auto; }
textarea { min-height: 60px; resize: vertical; }
textarea.code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
button, .button { display: inline-block; font: inherit; font-weight: 600; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary, .button.secondary { background: #fff; color: var(--fg); border-color: #d0d5dd; }
button.danger, .button.danger { background: var(--danger); border-color: var(--danger); }
button.link { background: none; border: 0; color: var(--accent); padding: 0; font-weight: 500; }
.actions { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.actions form { margin: 0; }
.pager { display: flex; justify-content: space-between; margin-top: 12px; }
.notice { padding: 10px 14px; border-radius: 8px; background: #dcfae6; color: var(--ok); border: 1px solid #abefc6; }
.error { padding: 10px 14px; border-radius: 8px; background: #fef3f2; color: var(--danger); border: 1px solid #fecdca; margin-bottom: 16px; }
.error p { margin: 0; }
.error p + p { margin-top: 4px; }
.secret { font-size: 15px; padding: 12px; background: #fffaeb; border: 1px dashed #f79009; border-radius: 8px; user-select: all; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.stat .value { font-size: 20px; font-weight: 700; font-variant-numeric: tabular-nums; }
.stat .label { color: var(--muted); font-size: 12px; }
.login { max-width: 440px; margin: 48px auto; }
.columns { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 16px; }
@media (max-width: 800px) { form.filters, .columns { grid-template-columns: 1fr; } form.filters .span3 { grid-column: auto; } .top { flex-wrap: wrap; } }
`

/** The stylesheet's URL; the content hash lets browsers cache it until it changes. */
export const stylesheetPath = `/ui/assets/dashboard.css?v=${createHash('sha256').update(stylesheet).digest('hex').slice(0, 12)}`
