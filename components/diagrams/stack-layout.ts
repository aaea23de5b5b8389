// Where each layer of a stack sits in the drawing: shared layers full width from the bottom up,
// then one column per instance (a d3 band scale), each column stacked from there.

import { scaleBand } from "d3";

import type { StackLayer, StackModel } from "./stack-model";

/** The drawing's width in SVG units; the SVG scales to its box. */
export const STACK_WIDTH = 320;
const ROW = 46;
/** The guest OS is drawn taller: it is the weight each VM carries. */
const GUEST_OS_ROW = 70;
const GAP = 6;

export interface PlacedLayer {
  layer: StackLayer;
  x: number;
  y: number;
  width: number;
  height: number;
}

const rowHeight = (layer: StackLayer) => (layer.kind === "guest-os" ? GUEST_OS_ROW : ROW);

/** Positions for every layer: shared layers full width from the bottom, then a column per instance. */
export function placeLayers(model: StackModel): { placed: PlacedLayer[]; height: number } {
  const shared = model.layers.filter((layer) => layer.instance === null);
  const columns = scaleBand<number>()
    .domain(Array.from({ length: model.instances }, (_, i) => i))
    .range([0, STACK_WIDTH])
    .paddingInner(0.06);
  const perInstance = Array.from({ length: model.instances }, (_, i) => model.layers.filter((layer) => layer.instance === i));
  const stackHeight = (layers: StackLayer[]) => layers.reduce((sum, layer) => sum + rowHeight(layer) + GAP, 0);
  const height = stackHeight(shared) + Math.max(...perInstance.map(stackHeight));

  const placed: PlacedLayer[] = [];
  let y = height;
  for (const layer of shared) {
    y -= rowHeight(layer);
    placed.push({ layer, x: 0, y, width: STACK_WIDTH, height: rowHeight(layer) });
    y -= GAP;
  }
  const top = y;
  perInstance.forEach((layers, instance) => {
    let columnY = top;
    for (const layer of layers) {
      columnY -= rowHeight(layer);
      placed.push({ layer, x: columns(instance) ?? 0, y: columnY, width: columns.bandwidth(), height: rowHeight(layer) });
      columnY -= GAP;
    }
  });
  return { placed, height };
}
