"""The Compare page in Chromium on the demo clinic: the filters one compact bar above the charts
at a desk and two tidy columns on a phone, the page never scrolling sideways, and each chart
drawn in a task of its own. Screenshots of the whole page at 390 and 1280 px."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from server.services.demo import load_demo
from tests.browser.conftest import OUTPUT, resize, screenshot
from tests.browser.test_charts import sign_in
from tests.browser.test_pages import charts_drawn

WIDTHS = (390, 1280)
# counts charts.js's yields to the browser (scheduler.yield, which this Chromium has)
COUNT_YIELDS = """
window.__yields = 0;
const yieldOnce = scheduler.yield.bind(scheduler);
scheduler.yield = () => { window.__yields += 1; return yieldOnce(); };
"""
# each filter's control and the Apply button: where it sits on the page
CONTROLS = """(bar) => [...bar.querySelectorAll('select, input, button')].map((control) => {
  const box = control.getBoundingClientRect();
  return { left: Math.round(box.left), right: Math.round(box.right),
           bottom: Math.round(box.bottom) };
})"""

# each select whose widest option does not fit it (the text, its padding and the arrow)
CLIPPED_OPTIONS = """(bar) => {
  const context = document.createElement('canvas').getContext('2d');
  return [...bar.querySelectorAll('select')].flatMap((select) => {
    const style = getComputedStyle(select);
    context.font = `${style.fontSize} ${style.fontFamily}`;
    const room = select.clientWidth - parseFloat(style.paddingLeft)
                 - parseFloat(style.paddingRight) - 20;
    return [...select.options].map((option) => option.text)
      .filter((text) => context.measureText(text).width > room)
      .map((text) => `${select.id}: "${text}"`);
  });
}"""


def open_compare(page: Page, session: Session) -> None:
    load_demo(session, now=datetime.now(UTC))
    session.commit()
    sign_in(page)
    page.goto("/clinic/compare")
    expect(page.get_by_role("heading", level=1)).to_have_text("Compare modalities")
    charts_drawn(page, expected=6)  # with soreness by dose


def test_the_filters_are_one_bar_at_a_desk_and_two_columns_on_a_phone(
    desk_page: Page, session: Session
) -> None:
    page = desk_page
    open_compare(page, session)
    bar = page.locator(".compare-filters")

    controls = bar.evaluate(CONTROLS)
    assert len(controls) == 8  # measure, two dates, clinician, region, treatment, compare by
    assert len({control["bottom"] for control in controls}) == 1, controls
    bar_box, chart_box = bar.bounding_box(), page.locator("#chart-recovery").bounding_box()
    assert bar_box is not None
    assert chart_box is not None
    assert bar_box["y"] + bar_box["height"] < chart_box["y"]
    expect(bar.get_by_role("button")).to_have_text("Apply")
    assert bar.evaluate(CLIPPED_OPTIONS) == []

    resize(page, 390)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    controls = bar.evaluate(CONTROLS)
    assert len({control["left"] for control in controls[:-1]}) == 2, controls
    assert max(control["right"] for control in controls) <= 390
    assert bar.evaluate(CLIPPED_OPTIONS) == []
    screenshot(page, "compare", WIDTHS)
    dose = page.locator("section", has=page.locator("#dose-title"))
    for width in WIDTHS:  # the last section, soreness by dose, on its own to look at
        resize(page, width)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        dose.screenshot(path=str(OUTPUT / f"compare-dose-{width}.png"))


def test_each_chart_is_drawn_in_a_task_of_its_own(desk_page: Page, session: Session) -> None:
    page = desk_page
    page.add_init_script(COUNT_YIELDS)
    open_compare(page, session)

    assert page.evaluate("window.__yields") == 6  # with soreness by dose
