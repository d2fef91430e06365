"""The charts as SVG, drawn on the server with pygal (no script: pygal's tooltips and its
config <script> are left out, so the image needs none). The SVG keeps pygal's own <style>,
so pages show it as an <img> from our routes, never inlined: the page's CSP stays
`style-src 'self'`. Colour is never the only signal: spending bars are hatched, every
series is named in the legend, categories are named on their axis, and each chart has a
data table and a one-sentence summary beside it (templates/insights/)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any
from xml.etree import ElementTree

import pygal
from pygal.style import Style

from wangyin.money import format_grouped

# pygal appends an import hook for its map plugins (pygal.maps.*, unused here) that has
# only the legacy find_module(): every later import then warns (ImportWarning), which our
# strict warnings turn into errors. Without the hook pygal's charts work the same.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]


# Wide: desktop; narrow: phones (the page picks with <picture> media queries).
LAYOUTS = {"wide": (760, 420), "narrow": (380, 520)}
INK = "#1f2328"
BLUE = "#1a5fb4"  # 6.2:1 on white
RUST = "#a3400f"  # 6.4:1 on white
HATCH_ID = "wy-hatch"
HATCH = (
    f'<pattern id="{HATCH_ID}" width="8" height="8" patternUnits="userSpaceOnUse" '
    f'patternTransform="rotate(45)"><rect width="8" height="8" fill="{RUST}"/>'
    '<line x1="0" y1="0" x2="0" y2="8" stroke="#fff" stroke-width="3"/></pattern>'
)
_SVG_NS = "{http://www.w3.org/2000/svg}"


def _style(*, care: bool, colors: Sequence[str]) -> Style:
    size = 22 if care else 15
    return Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground=INK,
        foreground_strong="#000000",
        foreground_subtle="#4a4f57",
        colors=tuple(colors),
        opacity="1",
        opacity_hover="1",
        font_family="sans-serif",
        label_font_size=size,
        major_label_font_size=size,
        legend_font_size=size,
        value_font_size=size - 2,
        title_font_size=size + 2,
        guide_stroke_color="#8c959f",
        major_guide_stroke_color="#8c959f",
    )


def _config(*, care: bool, layout: str, colors: Sequence[str], title: str) -> dict[str, Any]:
    width, height = LAYOUTS.get(layout, LAYOUTS["wide"])
    return {
        "style": _style(care=care, colors=colors),
        "width": width,
        "height": height,
        "title": title,
        "js": [],
        "tooltip_fancy_mode": False,
        "disable_xml_declaration": True,
        "legend_at_bottom": True,
        "legend_box_size": 22 if care else 16,
        "margin": 12,
        "defs": [HATCH],
        "truncate_label": -1,  # never cut a label short
        "truncate_legend": -1,
    }


def _svg(chart: Any) -> bytes:
    """pygal's SVG without any <script> (its config script comes even with js=[])."""
    tree = chart.render_tree()  # pygal builds with xml.etree unless lxml is turned on
    for parent in list(tree.iter()):
        for child in list(parent):
            if str(child.tag).rpartition("}")[2] == "script":
                parent.remove(child)
    data: bytes = ElementTree.tostring(tree, encoding="utf-8", xml_declaration=False)
    return data


def money_formatter(currency: str) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        return "" if value is None else format_grouped(int(value), currency)

    return fmt


def monthly_chart(
    *,
    labels: list[str],
    income: list[int],
    spending: list[int],
    names: tuple[str, str],
    title: str,
    care: bool,
    layout: str,
) -> bytes:
    kind = pygal.HorizontalBar if layout == "narrow" else pygal.Bar
    chart = kind(
        **_config(care=care, layout=layout, colors=(BLUE, f"url(#{HATCH_ID})"), title=title),
        value_formatter=money_formatter("CNY"),
        show_y_guides=layout != "narrow",
        show_x_guides=layout == "narrow",
        x_label_rotation=0,
    )
    chart.x_labels = labels
    chart.add(names[0], income)
    chart.add(names[1], spending)
    return _svg(chart)


def categories_chart(
    *, labels: list[str], values: list[int], title: str, no_data: str, care: bool, layout: str
) -> bytes:
    chart = pygal.HorizontalBar(
        **_config(care=care, layout=layout, colors=(f"url(#{HATCH_ID})",), title=title),
        value_formatter=money_formatter("CNY"),
        show_legend=False,
        print_values=True,
        print_values_position="top",
        show_x_guides=True,
        show_y_guides=False,
        no_data_text=no_data,
    )
    # HorizontalBar draws the first label at the bottom: reversed, the largest is on top.
    chart.x_labels = list(reversed(labels))
    chart.add(title, list(reversed(values)))
    return _svg(chart)


def balance_chart(
    *,
    labels: list[str],
    values: list[int],
    currency: str,
    name: str,
    title: str,
    care: bool,
    layout: str,
) -> bytes:
    chart = pygal.Line(
        **_config(care=care, layout=layout, colors=(BLUE,), title=title),
        value_formatter=money_formatter(currency),
        show_legend=False,
        dots_size=5 if care else 4,
        stroke_style={"width": 4 if care else 3},
        x_label_rotation=-45 if layout == "narrow" else 0,
        fill=False,
    )
    chart.x_labels = labels
    chart.add(name, values)
    return _svg(chart)
