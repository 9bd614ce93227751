"""What the browser tests measure on the page: overlapping text, horizontal scroll, keyboard reach, axe-core.

Each check runs in the page (JavaScript through Selenium) and returns plain data,
so a failure prints what overlapped, what could not be reached, or which WCAG rule failed.
"""
from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).resolve().parent / "fixtures" / "axe.min.js"

# Text boxes: every visible text node's own rectangles (a Range, so padding and wrapping do not count)
# and every visible SVG <text>; two boxes that share more than 2 x 2 px overlap.
OVERLAPS = """
const root = document.querySelector(arguments[0]);
const boxes = [];
function visible(el) {
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    const st = getComputedStyle(e);
    if (st.display === 'none' || st.visibility === 'hidden' || parseFloat(st.opacity) === 0) return false;
  }
  return true;
}
const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const t = walker.currentNode;
  if (!t.textContent.trim() || t.parentElement.closest('svg, .sr-only, option, select')) continue;
  if (!visible(t.parentElement)) continue;
  const r = document.createRange(); r.selectNodeContents(t);
  for (const b of r.getClientRects()) if (b.width > 1 && b.height > 1) boxes.push([b, t.textContent.trim().slice(0, 40)]);
}
for (const t of root.querySelectorAll('svg text')) {
  if (!t.textContent.trim() || !visible(t)) continue;
  const b = t.getBoundingClientRect();
  if (b.width > 1 && b.height > 1) boxes.push([b, t.textContent.trim().slice(0, 40)]);
}
const out = [];
for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
  const a = boxes[i][0], b = boxes[j][0];
  const w = Math.min(a.right, b.right) - Math.max(a.left, b.left), h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
  if (w > 2 && h > 2) out.push([boxes[i][1], boxes[j][1]]);
}
return {count: boxes.length, overlaps: out.slice(0, 20)};
"""

# Everything a keyboard user must reach: controls, links, buttons and focusable scroll regions, if visible.
INTERACTIVE = """
return Array.from(document.querySelectorAll('a[href], button, select, input, summary, [tabindex]'))
  .filter(e => e.tabIndex >= 0 && !e.disabled && e.offsetParent !== null && !e.closest('[hidden]')
    && !(e.closest('details:not([open])') && e.tagName !== 'SUMMARY'))  // a closed <details> opens from its summary
  .map(e => { if (!e.id) e.id = 'kbd-' + Math.random().toString(36).slice(2); return e.id; });
"""


def overlaps(driver, selector: str) -> dict:
    return driver.execute_script(OVERLAPS, selector)


def page_width(driver) -> tuple[int, int]:
    """(scroll width of the page, viewport width): equal when nothing scrolls sideways."""
    return tuple(driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"))


def keyboard_unreached(driver, limit: int = 600) -> list[str]:
    """The interactive elements that pressing Tab from the top of the page never focuses."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    wanted = set(driver.execute_script(INTERACTIVE))
    driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
    reached = set()
    first = None
    for _ in range(limit):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        current = driver.execute_script("return document.activeElement && document.activeElement.id")
        if current == first:
            break  # focus went round the page once
        first = first or current
        if current:
            reached.add(current)
        if wanted <= reached:
            break
    missing = sorted(wanted - reached)
    return driver.execute_script(
        "return arguments[0].map(id => { const e = document.getElementById(id);"
        " return e.tagName.toLowerCase() + ' ' + (e.textContent || e.name || '').trim().slice(0, 30); });", missing)


def axe_violations(driver, impacts=("serious", "critical")) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations of these impacts (axe is injected here, never shipped)."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))), e => done([{id: 'axe-error', impact: 'critical',"
        " help: String(e), nodes: []}]));")
    return [v for v in result if v["impact"] in impacts]
