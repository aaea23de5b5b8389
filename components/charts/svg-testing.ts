// Helpers for the chart tests: a fresh <svg> in the test's DOM, and the points of a path's
// "d" as numbers, so a test asserts where a line is rather than how d3 spelled it.

export function newSvg(): SVGSVGElement {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  document.body.appendChild(svg);
  return svg;
}

export function seriesPath(svg: SVGSVGElement, series: string): string {
  return svg.querySelector(`path[data-series="${series}"]`)?.getAttribute("d") ?? "";
}

/** The coordinates of an M/L/Z path (what d3's line and area with step curves produce). */
export function pathPoints(d: string): Array<[number, number]> {
  return [...d.matchAll(/[ML]\s*(-?[\d.e+-]+)[ ,](-?[\d.e+-]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

/** d3 writes paths with three decimals; a point is "there" within that rounding. */
export const PATH_PRECISION = 2;

export function hasPoint(points: ReadonlyArray<[number, number]>, [x, y]: [number, number]): boolean {
  return points.some(([px, py]) => Math.abs(px - x) < 0.001 && Math.abs(py - y) < 0.001);
}
